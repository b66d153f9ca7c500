// examples/support/cli.cpp — see cli.hpp.
// SPDX-License-Identifier: MIT
#include "cli.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>
#include <cosock/error.hpp>
#include <cosock/task.hpp>

namespace examples {
namespace {

[[noreturn]] void fail(std::string_view message) {
    fmt::print(stderr, "{}: {} (see --help)\n", cosock::detail::program_name(), message);
    std::exit(2);
}

void usage(const defaults& d) {
    fmt::print("usage: {} [--host HOST] [--port PORT]{}{}\n{}\n\n", cosock::detail::program_name(),
               d.timeout ? " [--timeout SECONDS]" : "", d.name ? " [--name NAME]" : "", d.about);
    fmt::print("  --host HOST        address to use (default 127.0.0.1; IPv6 as ::1 or [::1])\n");
    fmt::print("  --port PORT        port (default {}; 0 lets the system choose)\n", d.port);
    if (d.timeout) fmt::print("  --timeout SECONDS  timeout (default {:g}; 0 waits forever)\n", *d.timeout);
    if (d.name) fmt::print("  --name NAME        your name in messages (default {})\n", *d.name);
    fmt::print("  --help             show this help\n");
}

[[noreturn]] void bad(std::string message) {
    throw bad_command_line(message);
}

long parse_number(std::string_view flag, const char* text, long low, long high) {
    char* end = nullptr;
    long value = std::strtol(text, &end, 10);
    if (!std::isdigit(static_cast<unsigned char>(*text)) || *end != '\0' || value < low || value > high)
        bad(fmt::format("{} needs a whole number from {} to {}, not \"{}\"", flag, low, high, text));
    return value;
}

}  // namespace

options parse(int argc, char** argv, const defaults& d) {
    try {
        if (auto opt = try_parse(argc, argv, d)) return *opt;
    } catch (const bad_command_line& e) {
        fail(e.what());
    }
    usage(d);
    std::exit(0);
}

std::optional<options> try_parse(int argc, char** argv, const defaults& d) {
    std::string host = "127.0.0.1";
    long port = d.port;
    options opt;
    opt.timeout = d.timeout.value_or(0);
    opt.name = d.name.value_or("");
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") return std::nullopt;
        bool known = flag == "--host" || flag == "--port" || (flag == "--timeout" && d.timeout) ||
                     (flag == "--name" && d.name);
        if (!known) bad(fmt::format("unknown option {}", flag));
        if (i + 1 >= argc) bad(fmt::format("{} needs a value", flag));
        const char* value = argv[++i];
        if (flag == "--host") {
            host = value;
        } else if (flag == "--port") {
            port = parse_number(flag, value, 0, 65535);
        } else if (flag == "--timeout") {
            char* end = nullptr;
            opt.timeout = std::strtod(value, &end);
            if (*value == '\0' || *end != '\0' || !std::isfinite(opt.timeout) || opt.timeout < 0)
                bad(fmt::format("--timeout needs a number of seconds >= 0, not \"{}\"", value));
        } else {
            opt.name = value;
        }
    }
    try {
        opt.address = cosock::address(host, static_cast<int>(port));
    } catch (const cosock::error& e) {
        bad(e.what());
    }
    return opt;
}

void announce(const cosock::address& bound) {
    fmt::print("listening on {}\n", bound);
    std::fflush(stdout);
}

}  // namespace examples
