// scopes: step 3 of docs/tutorial.md. Coroutines that run at the same time, owned by a scope:
// a server handles two clients at once, all three in one scope; then a scope whose child fails,
// which cancels the other child and rethrows the error.
// Run: scopes   Prints: the clients' replies, then how the failing scope ended; exits 0.
// SPDX-License-Identifier: MIT
#include <chrono>
#include <string>

#include <cosock/cosock.hpp>

using namespace std::chrono_literals;

// tag::server[]
// One per client, at the same time: what the server says to each.
cosock::task<void> greet(cosock::tcp_stream conn, cosock::address) {
    while (auto name = co_await conn.read_line()) {  // until the client closes
        auto answer = fmt::format("hello, {}\n", *name);
        co_await conn.send(answer);
    }
}

// A client: sends its name, returns the server's answer.
cosock::task<std::string> visit(cosock::address server, std::string name) {
    auto conn = co_await cosock::tcp_stream::connect(server);
    name += "\n";
    co_await conn.send(name);
    auto reply = co_await conn.read_line();
    co_return reply.value_or("(no reply)");
}
// end::server[]

// tag::together[]
cosock::task<void> together() {
    auto sk = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto at = sk.local_address();
    co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
        auto server = scope.spawn(sk.serve(greet));  // runs until cancelled
        auto ada = scope.spawn(visit(at, "Ada"));    // both clients run at once
        auto grace = scope.spawn(visit(at, "Grace"));
        std::string first = co_await ada.result();
        std::string second = co_await grace.result();
        fmt::print("{}\n{}\n", first, second);
        server.cancel();  // the scope returns once every child has ended
    });
}
// end::together[]

// tag::failing[]
cosock::task<void> sleeper() {
    try {
        co_await cosock::sleep(10s);
    } catch (...) {
        fmt::print("the sleeper was cancelled\n");
        throw;  // a cancelled coroutine unwinds
    }
}

cosock::task<void> failing(cosock::address nowhere) {
    try {
        co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
            scope.spawn(sleeper());
            scope.spawn(visit(nowhere, "nobody"));  // fails: nothing listens there
            co_return;  // the body is done; the scope still waits for its children
        });
    } catch (const cosock::error& e) {
        fmt::print("the scope ended with: {}\n", e.code().message());
    }
}
// end::failing[]

cosock::task<int> scopes() {
    co_await together();
    auto closed = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto nowhere = closed.local_address();
    closed.close();
    co_await failing(nowhere);
    co_return 0;
}

int main() {
    return cosock::run(scopes());
}
