// tests/fuzz/fuzz_cli.cpp — libFuzzer target for the examples' command line
// (examples/support/cli.hpp): any argv either parses into checked options, asks for --help, or
// fails with a bad_command_line whose message names the problem; nothing else escapes.
// SPDX-License-Identifier: MIT
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "support/cli.hpp"

namespace {

void require(bool ok, std::string_view what, const std::vector<std::string>& args) {
    if (ok) return;
    fmt::print(stderr, "fuzz_cli: {} (argv {})\n", what, fmt::join(args, " | "));
    std::abort();
}

/// The message shapes cli.cpp produces, each naming the flag or value at fault.
bool is_clear(std::string_view message) {
    for (std::string_view start : {"unknown option ", "--host needs a value", "--port needs a",
                                   "--timeout needs a", "--name needs a value", "bad address \""})
        if (message.starts_with(start)) return true;
    return false;
}

/// The flags a program takes, chosen by the first byte: with or without --timeout and --name.
examples::defaults choose_defaults(unsigned byte) {
    examples::defaults d{.about = "fuzz", .port = 8898};
    if (byte & 1) d.timeout = 2.5;
    if (byte & 2) d.name = "someone";
    return d;
}

}  // namespace

// Input: one byte choosing the program's flags, then the arguments separated by NUL bytes.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    auto d = choose_defaults(data[0]);
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::vector<std::string> args{"fuzz_cli"};
    while (!rest.empty()) {
        auto end = rest.find('\0');
        args.emplace_back(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    try {
        auto opt = examples::try_parse(static_cast<int>(args.size()), argv.data(), d);
        if (!opt) return 0;  // --help
        // What parsed is usable as it is: a valid address that prints and parses back, a timeout
        // that is a number of seconds, and the defaults for the flags not given.
        auto again = cosock::address::parse(opt->address.to_string());
        require(again == opt->address, "the address does not print back to itself", args);
        require(std::isfinite(opt->timeout) && opt->timeout >= 0, "a timeout that is not >= 0", args);
        require(d.timeout || opt->timeout == 0, "a timeout without --timeout", args);
        require(examples::seconds(opt->timeout).count() >= 0,
                "a timeout that converts to a negative duration", args);
        require(d.name || opt->name.empty(), "a name without --name", args);
    } catch (const examples::bad_command_line& e) {
        require(is_clear(e.what()), fmt::format("an unclear message: {:?}", e.what()), args);
    }
    return 0;
}
