// udp_hello_server: the UDP hello server of the blog post "socket" (使用套接字 -- UDP, server端).
// Python: examples/python/udp_hello_server.py   Peer: udp_hello_client
// Run: udp_hello_server [--port 0]   Prints: "listening on 127.0.0.1:9000", then the message and
// its sender ("hello from 127.0.0.1:54321"); answers "hi" to the sender and exits 0.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include "support/cli.hpp"

// tag::serve[]
cosock::task<int> serve(examples::options opt) {
    auto udp_sk = cosock::udp_endpoint::bind(opt.address);  // udp_sk = socket.socket(type=SOCK_DGRAM)
                                                            // udp_sk.bind(('127.0.0.1', 9000))
    examples::announce(udp_sk.local_address());             // cli.announce(udp_sk)
    auto [msg, addr] = co_await udp_sk.recv_from(1024);     // msg, addr = udp_sk.recvfrom(1024)
    fmt::print("{} from {}\n", msg, addr);                  // print(f'{msg} from {addr}')
    co_await udp_sk.send_to("hi", addr);                    // udp_sk.sendto(b'hi', addr)
    co_return 0;                                            // udp_sk.close(): destructor
}
// end::serve[]

int main(int argc, char** argv) {
    return cosock::run(serve(examples::parse(argc, argv, {.about = "UDP hello server", .port = 9000})));
}
