// udp_hello_client: the UDP hello client of the blog post "socket" (使用套接字 -- UDP, client端).
// Python: examples/python/udp_hello_client.py   Peer: udp_hello_server
// Run: udp_hello_client [--port P] [--timeout S]   Prints: the answer and its sender ("hi from
// 127.0.0.1:9000") and exits 0. UDP is unreliable: with no answer within --timeout (default 5 s;
// 0 waits forever, as the blog post did) it prints one line on stderr and exits 1:
//   udp_hello_client: no answer from 127.0.0.1:9000 within 5 s
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include <stdexcept>

#include "support/cli.hpp"

// tag::talk[]
cosock::task<int> talk(examples::options opt) {
    auto ip_port = co_await cosock::udp_endpoint::resolve(opt.address);  // ip_port = ('127.0.0.1', 9000)
    auto udp_sk = cosock::udp_endpoint::open_for(ip_port);  // udp_sk = socket.socket(type=SOCK_DGRAM)
    auto wait = examples::seconds(opt.timeout);             // udp_sk.settimeout(args.timeout or None)
    co_await udp_sk.send_to("hello", ip_port);              // udp_sk.sendto(b'hello', ip_port)
    try {
        auto [back_msg, addr] = co_await cosock::timeout(wait, udp_sk.recv_from(1024));
        fmt::print("{} from {}\n", back_msg, addr);  // print(f'{back_msg} from {addr}')
    } catch (const cosock::timeout_error&) {         // except TimeoutError: (UDP may lose it)
        throw std::runtime_error(fmt::format("no answer from {} within {:g} s", opt.address, opt.timeout));
    }
    co_return 0;  // udp_sk.close(): destructor
}
// end::talk[]

int main(int argc, char** argv) {
    return cosock::run(
        talk(examples::parse(argc, argv, {.about = "UDP hello client", .port = 9000, .timeout = 5.0})));
}
