// tests/consumer/main.cpp — a user's program: one TCP exchange over loopback through cosock, and an
// exception thrown inside the library caught by its type. Built by tests/consumer/CMakeLists.txt
// against an installed cosock, or with cosock as a subproject. Exit 0 when all went as expected.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>
#include <cosock/version.hpp>

#include <string>

#include <fmt/format.h>

static_assert(COSOCK_VERSION ==
              COSOCK_VERSION_MAJOR * 10000 + COSOCK_VERSION_MINOR * 100 + COSOCK_VERSION_PATCH);

cosock::task<int> exchange() {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});  // port 0: the system picks
    auto client = co_await cosock::tcp_stream::connect(listener.local_address());
    auto [server, peer] = co_await listener.accept();
    co_await client.send("hello!");
    auto request = co_await server.recv(1024);
    co_await server.send("hi");
    auto reply = co_await client.recv(1024);

    // Thrown in the library, caught here: with a shared library this needs cosock::error's type
    // information exported from it (COSOCK_EXPORT), or the catch would not match.
    std::string caught;
    try {
        cosock::address::parse("no port here");
    } catch (const cosock::error& e) {
        caught = e.what();
    }

    fmt::print("cosock {}: {} {}, caught \"{}\"\n", COSOCK_VERSION_STRING, request, reply, caught);
    co_return request == "hello!" && reply == "hi" && !caught.empty() ? 0 : 1;
}

int main() {
    return cosock::run(exchange());
}
