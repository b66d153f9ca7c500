// tcp_hello_server: the TCP hello server of the blog post "socket" (使用套接字 -- TCP, server端).
// Python: examples/python/tcp_hello_server.py   Peer: tcp_hello_client
// Run: tcp_hello_server [--port 0]   Prints: "listening on 127.0.0.1:8898", then what the client
// sent ("hello!"); answers "hi" and exits 0.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include "support/cli.hpp"

// tag::serve[]
cosock::task<int> serve(examples::options opt) {
    auto sk = cosock::tcp_listener::bind(opt.address);  // sk.bind(('127.0.0.1', 8898)); sk.listen()
    examples::announce(sk.local_address());
    auto [conn, addr] = co_await sk.accept();  // conn, addr = sk.accept()
    auto ret = co_await conn.recv(1024);       // ret = conn.recv(1024)
    fmt::print("{}\n", ret);                   // print(ret)
    co_await conn.send("hi");                  // conn.send(b'hi')
    co_return 0;                               // conn.close(); sk.close(): destructors
}
// end::serve[]

int main(int argc, char** argv) {
    return cosock::run(serve(examples::parse(argc, argv, {.about = "TCP hello server", .port = 8898})));
}
