// examples/support/cli.hpp — the command line every example shares: --host, --port, --help and
// the few extra flags some take; and the "listening on HOST:PORT" line servers print first.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include <cosock/address.hpp>

namespace examples {

/// What a program accepts and its defaults (the blog post's port; extra flags only when given).
struct defaults {
    const char* about = "";  // one line for --help
    int port = 0;
    std::optional<double> timeout = std::nullopt;    // accepts --timeout SECONDS when set
    std::optional<std::string> name = std::nullopt;  // accepts --name NAME when set
};

struct options {
    cosock::address address;  // --host and --port, checked
    double timeout = 0;       // seconds
    std::string name;
};

/// Parses argv. --help prints usage and exits 0; a bad or unknown flag prints one line on stderr
/// ("PROGRAM: unknown option --x (see --help)") and exits 2.
options parse(int argc, char** argv, const defaults& d);

/// What `parse` found wrong; `what()` is the line it prints before "(see --help)".
struct bad_command_line : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// `parse` without printing or exiting (for tests): std::nullopt for --help, `bad_command_line`
/// for a bad or unknown flag.
std::optional<options> try_parse(int argc, char** argv, const defaults& d);

/// A number of seconds from the command line (like --timeout 0.5) as a duration: rounded up, so
/// that a tiny timeout is not 0 (none), and at most 10^9 s (31 years), so that it fits the clock.
inline std::chrono::steady_clock::duration seconds(double s) {
    return std::chrono::ceil<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::min(s, 1e9)));
}

/// Prints "listening on HOST:PORT" and flushes, so tests (and people) know the real port.
void announce(const cosock::address& bound);

}  // namespace examples
