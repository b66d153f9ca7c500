// hello: step 1 of docs/tutorial.md. A server and its client in one coroutine, one operation after
// the other, as a Python program with blocking sockets can do: the kernel completes the connection
// before anyone accepts it, and keeps sent bytes until they are received.
// Run: hello   Prints: what each side received; exits 0.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

// tag::hello[]
cosock::task<int> hello() {
    auto sk = cosock::tcp_listener::bind({"127.0.0.1", 0});  // sk.bind(('127.0.0.1', 0)); sk.listen()
    auto at = sk.local_address();                            // at = sk.getsockname()
    auto client = co_await cosock::tcp_stream::connect(at);  // client.connect(at)
    auto [conn, addr] = co_await sk.accept();                // conn, addr = sk.accept()

    co_await client.send("hello!");           // client.sendall(b'hello!')
    auto request = co_await conn.recv(1024);  // request = conn.recv(1024)
    fmt::print("the server received {} from {}\n", request, addr.host());

    co_await conn.send("hi");                 // conn.sendall(b'hi')
    auto reply = co_await client.recv(1024);  // reply = client.recv(1024)
    fmt::print("the client received {}\n", reply);
    co_return 0;  // conn, client and sk close here, in that order
}

int main() {
    return cosock::run(hello());
}
// end::hello[]
