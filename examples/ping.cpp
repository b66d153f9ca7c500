// ping: ICMP echo over IPv4, like ping(8) (not a program of the blog post "socket": its socket() table's
// SOCK_RAW row). Python: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).
// Run: ping [--host H] [--count N] [--timeout S]   (needs CAP_NET_RAW: root, or setcap)
// Sends N echo requests (default 3) to H (a numeric IPv4 address, default 127.0.0.1), back to
// back, each waiting up to S seconds (default 1) for its reply. Prints one line per reply:
//   64 bytes from 127.0.0.1: icmp_seq=1 time=0.05 ms
// and exits 0 when every request had its reply; else prints "no reply from 127.0.0.1:
// icmp_seq=2" for each lost one, then "ping: 1 of 3 requests had no reply within 1 s" on stderr,
// and exits 1. Without CAP_NET_RAW: "ping: open raw ICMP socket: Operation not permitted (needs
// CAP_NET_RAW: ...)" on stderr, exit 1.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "support/cli.hpp"

/// Takes "--count N" out of argv (the shared command line does not know it) and returns N.
int take_count(int& argc, char** argv, int fallback) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string_view(argv[i]) != "--count") continue;
        char* end = nullptr;
        long n = std::strtol(argv[i + 1], &end, 10);
        if (*argv[i + 1] == '\0' || *end != '\0' || n < 1 || n > 65535) {
            fmt::print(stderr,
                       "ping: --count needs a whole number from 1 to 65535, not \"{}\" (see --help)\n",
                       argv[i + 1]);
            std::exit(2);
        }
        for (int j = i; j + 2 <= argc; ++j) argv[j] = argv[j + 2];  // argv[argc] (null) moves too
        argc -= 2;
        return static_cast<int>(n);
    }
    return fallback;
}

// tag::ping[]
cosock::task<int> ping(examples::options opt, int count) {
    auto sk = cosock::icmp_socket::open();           // socket.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
    sk.set_timeout(examples::seconds(opt.timeout));  // sk.settimeout(args.timeout or None)
    auto host = opt.address.host();
    int lost = 0;
    for (int seq = 1; seq <= count; ++seq) {
        try {
            auto rtt = co_await sk.ping(opt.address, static_cast<std::uint16_t>(seq));
            fmt::print("{} bytes from {}: icmp_seq={} time={:.2f} ms\n", 8 + sk.default_payload.size(), host,
                       seq, std::chrono::duration<double, std::milli>(rtt).count());
        } catch (const cosock::timeout_error&) {  // except TimeoutError: (lost on the way)
            fmt::print("no reply from {}: icmp_seq={}\n", host, seq);
            ++lost;
        }
    }
    if (lost > 0)
        throw std::runtime_error(
            fmt::format("{} of {} requests had no reply within {:g} s", lost, count, opt.timeout));
    co_return 0;
}
// end::ping[]

int main(int argc, char** argv) {
    int count = take_count(argc, argv, 3);  // --count N: ping's own flag
    return cosock::run(
        ping(examples::parse(
                 argc, argv,
                 {.about = "ICMP echo (ping), IPv4: [--count N] requests (default 3)", .timeout = 1.0}),
             count));
}
