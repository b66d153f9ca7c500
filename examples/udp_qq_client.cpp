// udp_qq_client: the QQ chat client of the blog post "socket" (QQ聊天 -- client1/2/3端), one program for
// the three: --name One, Two or Three (any name).
// Python: examples/python/udp_qq_client.py   Peer: udp_qq_server   Run: udp_qq_client [--name Two]
// Prints: the prompt "NAME:", then each reply as received. Sends each line typed on stdin (empty
// lines are skipped) as "\033[32m来自NAME的消息: line\033[0m": the green colour travels in the
// message, as in Python (with the blog post's broken escapes \035[32m and [0,m fixed), so it is sent
// whatever NO_COLOR says; the client adds no colour of its own. End of stdin exits 0. With
// --timeout S (default 0: wait forever) and no reply within S seconds: one line on stderr, exit 1.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>

#include "support/cli.hpp"

// tag::chat[]
cosock::task<int> chat(examples::options opt) {
    auto ip_port = co_await cosock::udp_endpoint::resolve(opt.address);  // ip_port = ('127.0.0.1', 9999)
    auto so = cosock::udp_endpoint::open_for(ip_port);  // so = socket.socket(type=SOCK_DGRAM)
    auto wait = examples::seconds(opt.timeout);         // so.settimeout(args.timeout or None)
    for (;;) {                                          // while True:
        std::optional<std::string> info;
        do info = co_await cosock::input(opt.name + ":");  //     info = cli.read_line(args.name + ':')
        while (info && info->empty());                     //     (empty lines are not sent)
        if (!info) break;                                  //     if info is None: break
        *info = fmt::format("\033[32m来自{}的消息: {}\033[0m", opt.name, *info);  // info = ('\033[32m...
        co_await so.send_to(*info, ip_port);                                      // so.sendto(info, ip_port)
        try {
            auto [mag, addr] = co_await cosock::timeout(wait, so.recv_from(4096));  // so.recvfrom(4096)
            fmt::print("{}\n", mag);                                                // print(mag)
        } catch (const cosock::timeout_error&) {  // except TimeoutError: cli.fail(...)
            throw std::runtime_error(
                fmt::format("no answer from {} within {:g} s", opt.address, opt.timeout));
        }
    }
    co_return 0;  // so.close(): destructor
}
// end::chat[]

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line at once, as Python's flush=True
    return cosock::run(chat(examples::parse(
        argc, argv, {.about = "UDP QQ chat client", .port = 9999, .timeout = 0.0, .name = "One"})));
}
