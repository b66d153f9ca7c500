// bench/server_args.hpp — the command line of the baseline echo servers (no cosock): --host,
// --port (0: the system chooses), --timeout S, --threads N, --mmsg, and the "listening on
// HOST:PORT" first line.
// SPDX-License-Identifier: MIT
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace bench {

struct server_args {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    double timeout = 0;  // seconds; 0: none (only asio_naive_timeout_echo uses it)
    int threads = 1;     // event loops, one per thread (only asio_coro_echo uses it)
    bool mmsg = false;   // --mmsg: UDP in batches, recvmmsg + sendmmsg (only epoll_echo uses it)
};

[[noreturn]] inline void usage_error(const char* program, std::string_view message) {
    std::fprintf(stderr, "%s: %.*s\nusage: %s [--host H] [--port P] [--timeout S] [--threads N] [--mmsg]\n",
                 program, static_cast<int>(message.size()), message.data(), program);
    std::exit(2);
}

inline server_args parse_server_args(int argc, char** argv) {
    server_args a;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--mmsg") {
            a.mmsg = true;
            continue;
        }
        if (i + 1 >= argc) usage_error(argv[0], "missing value");
        const char* value = argv[++i];
        if (flag == "--host") {
            a.host = value;
        } else if (flag == "--port") {
            a.port = static_cast<unsigned short>(std::atoi(value));
        } else if (flag == "--timeout") {
            a.timeout = std::atof(value);
        } else if (flag == "--threads") {
            a.threads = std::atoi(value);
            if (a.threads < 1 || a.threads > 256) usage_error(argv[0], "--threads needs 1 to 256");
        } else {
            usage_error(argv[0], "unknown option");
        }
    }
    return a;
}

/// "listening on 127.0.0.1:41537" (IPv6: "[::1]:41537"), flushed: the runner waits for it.
inline void announce(const std::string& host, unsigned short port) {
    bool v6 = host.find(':') != std::string::npos;
    std::printf(v6 ? "listening on [%s]:%u\n" : "listening on %s:%u\n", host.c_str(), port);
    std::fflush(stdout);
}

}  // namespace bench
