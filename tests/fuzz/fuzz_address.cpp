// tests/fuzz/fuzz_address.cpp — libFuzzer target for cosock::address::parse (both forms) and the
// address(host, port) constructor: any text either parses or fails with errc::bad_address, and a
// parsed address prints back to text that parses to the same address.
// SPDX-License-Identifier: MIT
#include <cosock/address.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <cosock/error.hpp>

namespace {

/// Prints what broke and the input, then aborts: libFuzzer saves the input as a crash.
void require(bool ok, const std::string& what, std::string_view input) {
    if (ok) return;
    fmt::print(stderr, "fuzz_address: {} (input {:?})\n", what, input);
    std::abort();
}

/// The host half of "host:port" / "[host]:port" as parse() splits it (brackets dropped).
std::string_view host_part(std::string_view text) {
    if (text.starts_with('[')) return text.substr(1, text.find(']') - 1);
    return text.substr(0, text.rfind(':'));
}

bool has_control_characters(std::string_view text) {
    for (unsigned char c : text)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

/// The throwing form must fail exactly when the error_code form does, with a one-line message.
cosock::address parse_both_ways(std::string_view text, bool& ok) {
    std::error_code ec;
    auto quiet = cosock::address::parse(text, ec);
    try {
        auto loud = cosock::address::parse(text);
        require(!ec, "parse() accepted what parse(text, ec) rejected", text);
        require(loud == quiet, "the two forms of parse() disagree", text);
    } catch (const cosock::error& e) {
        require(ec == cosock::errc::bad_address, "parse(text, ec) accepted what parse() rejected", text);
        require(e.code() == cosock::errc::bad_address, "parse() threw another error than bad_address", text);
        std::string_view what = e.what();
        require(what.starts_with("bad address \""), "the message does not start with 'bad address \"'", text);
        require(!has_control_characters(what), "the message shows control characters raw", text);
        require(quiet == cosock::address(),
                "a failed parse(text, ec) returned another address than 0.0.0.0:0", text);
    }
    ok = !ec;
    return quiet;
}

void check_round_trip(const cosock::address& a, std::string_view input) {
    auto text = a.to_string();
    require(fmt::format("{}", a) == text, "fmt and to_string() disagree", input);
    bool ok = false;
    auto again = parse_both_ways(text, ok);
    require(ok, "the printed form of a parsed address does not parse: " + text, input);
    require(again.to_string() == text, "printing is not stable: " + text + " -> " + again.to_string(), input);
    require(again == a, "the printed form parses to another address: " + text, input);
    require(cosock::address(a.host(), a.port()) == a, "address(host(), port()) differs", input);
    if (a.is_numeric()) {
        require(cosock::address(a.tcp_endpoint()) == a, "the tcp endpoint differs", input);
        require(cosock::address(a.udp_endpoint()) == a, "the udp endpoint differs", input);
    } else {
        require(!a.host().empty(), "a host name that is empty", input);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    bool ok = false;
    auto a = parse_both_ways(text, ok);
    if (ok) {
        require(!host_part(text).empty(), "an empty host parsed as " + a.to_string(), text);
        check_round_trip(a, text);
    }
    return 0;
}
