// tcp_hello_client: the TCP hello client of the blog post "socket" (使用套接字 -- TCP, cilent端).
// Python: examples/python/tcp_hello_client.py   Peer: tcp_hello_server
// Run: tcp_hello_client [--port P]   Prints: the server's answer ("hi") and exits 0.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include "support/cli.hpp"

// tag::talk[]
cosock::task<int> talk(examples::options opt) {
    auto sk = co_await cosock::tcp_stream::connect(opt.address);  // sk.connect(('127.0.0.1', 8898))
    co_await sk.send("hello!");                                   // sk.send(b'hello!')
    auto ret = co_await sk.recv(1024);                            // ret = sk.recv(1024)
    fmt::print("{}\n", ret);                                      // print(ret)
    co_return 0;                                                  // sk.close(): destructor
}
// end::talk[]

int main(int argc, char** argv) {
    return cosock::run(talk(examples::parse(argc, argv, {.about = "TCP hello client", .port = 8898})));
}
