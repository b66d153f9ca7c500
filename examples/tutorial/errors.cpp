// errors: step 2 of docs/tutorial.md. What a failed operation looks like: an exception, or with
// nothrow a value; a timeout per operation, per socket and for a whole task; and an error nobody
// catches, which run() reports.
// Run: errors   Prints: one line per case; the last error on stderr, and exits 1.
// SPDX-License-Identifier: MIT
#include <chrono>

#include <cosock/cosock.hpp>

using namespace std::chrono_literals;

// tag::refused[]
cosock::task<void> refused(cosock::address nowhere) {
    try {
        auto conn = co_await cosock::tcp_stream::connect(nowhere);
    } catch (const cosock::error& e) {                                // except OSError as e:
        bool is_refused = e.code() == std::errc::connection_refused;  // e.errno == ECONNREFUSED
        fmt::print("1. exception: {} (refused: {})\n", e.what(), is_refused);
    }
    auto [ec, conn] = co_await cosock::nothrow(cosock::tcp_stream::connect(nowhere));
    fmt::print("2. nothrow: {}\n", ec.message());
}
// end::refused[]

// tag::timeouts[]
cosock::task<void> silent_peer() {
    auto sk = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto client = co_await cosock::tcp_stream::connect(sk.local_address());
    auto [conn, addr] = co_await sk.accept();  // conn never sends anything

    try {
        auto reply = co_await cosock::timeout(100ms, client.recv(1024));  // this recv only
    } catch (const cosock::timeout_error& e) {
        fmt::print("3. timeout(100ms, op): {}\n", e.what());
    }
    client.set_timeout(100ms);  // client.settimeout(0.1): every later operation of client
    auto [ec, reply] = co_await cosock::nothrow(client.recv(1024));
    fmt::print("4. set_timeout(100ms): {}\n", ec.message());
    client.set_timeout(0s);  // no timeout again
}

cosock::task<void> slow_task() {
    co_await cosock::sleep(10s);
}
// end::timeouts[]

// tag::main[]
cosock::task<int> errors() {
    auto closed = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto nowhere = closed.local_address();  // a port nobody listens on any more
    closed.close();

    co_await refused(nowhere);
    co_await silent_peer();
    try {
        co_await cosock::fail_after(200ms, slow_task());  // a deadline for everything it does
    } catch (const cosock::timeout_error& e) {
        fmt::print("5. fail_after(200ms, task): {}\n", e.what());
    }
    fmt::print("6. and one error nobody catches:\n");
    auto conn = co_await cosock::tcp_stream::connect(nowhere);
    co_return 0;  // not reached
}

int main() {
    return cosock::run(errors());  // prints "errors: connect to ...", returns 1
}
// end::main[]
