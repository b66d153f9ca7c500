// address.cpp — parsing and formatting of cosock::address.
// SPDX-License-Identifier: MIT
#include <cosock/address.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <ostream>

#include <cosock/error.hpp>

namespace cosock {
namespace {

namespace ip = boost::asio::ip;

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/// Why a string or a host/port pair is not an address; nullptr when it is one.
using failure = const char*;

/// Fills ip/name/p from a host and a port number; the one place both constructors check.
failure make(std::string_view host, long long port, ip::address& ip, std::string& name, std::uint16_t& p) {
    if (port < 0 || port > 65535) return "port out of range (0-65535)";
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) return "empty host";  // after the brackets: "[]" is empty too
    p = static_cast<std::uint16_t>(port);
    boost::system::error_code ec;
    ip = ip::make_address(host, ec);
    if (!ec) {
        name.clear();
        return nullptr;
    }
    if (host.find(':') != std::string_view::npos || host.find('%') != std::string_view::npos)
        return "not a valid IPv6 address";
    if (!std::all_of(host.begin(), host.end(), is_name_char) || host.size() > 253)
        return "not a valid host name or IP address";
    ip = ip::address();
    name = host;
    return nullptr;
}

/// Splits "host:port" / "[v6]:port" and checks both halves.
failure parse_into(std::string_view text, ip::address& ip, std::string& name, std::uint16_t& port) {
    std::string_view host;
    std::string_view digits;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos) return "missing ']' after IPv6 address";
        host = text.substr(0, close + 1);
        auto rest = text.substr(close + 1);
        if (!rest.starts_with(':')) return "missing port (expected [IPv6]:PORT)";
        digits = rest.substr(1);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return "missing port (expected HOST:PORT)";
        host = text.substr(0, colon);
        digits = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return "an IPv6 address needs brackets: [::1]:PORT";
    }
    if (digits.empty()) return "missing port (expected HOST:PORT)";
    long long value = 0;
    auto [end, status] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (status == std::errc::result_out_of_range) return "port out of range (0-65535)";
    if (status != std::errc() || end != digits.data() + digits.size()) return "port is not a number";
    return make(host, value, ip, name, port);
}

/// `text` with control characters as \xNN, so that a message never hides or cuts them.
std::string printable(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out += static_cast<char>(c);
    }
    return out;
}

[[noreturn]] void throw_bad(std::string_view text, failure why) {
    throw error(make_error_code(errc::bad_address), fmt::format("bad address \"{}\"", printable(text)), why);
}

/// The shared form of a host name; null for none.
std::shared_ptr<const std::string> shared_name(std::string name) {
    if (name.empty()) return nullptr;
    return std::make_shared<const std::string>(std::move(name));
}

}  // namespace

address::address(std::string_view host, int port) {
    std::string name;
    if (auto why = make(host, port, ip_, name, port_)) throw_bad(fmt::format("{}:{}", host, port), why);
    name_ = shared_name(std::move(name));
}

address address::parse(std::string_view text) {
    address a;
    std::string name;
    if (auto why = parse_into(text, a.ip_, name, a.port_)) throw_bad(text, why);
    a.name_ = shared_name(std::move(name));
    return a;
}

address address::parse(std::string_view text, std::error_code& ec) noexcept {
    address a;
    try {
        std::string name;
        bool bad = parse_into(text, a.ip_, name, a.port_) != nullptr;
        ec = bad ? make_error_code(errc::bad_address) : std::error_code();
        a.name_ = shared_name(std::move(name));
        return bad ? address() : a;
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return address();
    }
}

std::string address::host() const {
    return name_ ? *name_ : ip_.to_string();
}

boost::asio::ip::tcp::endpoint address::tcp_endpoint() const {
    if (name_)
        throw error(make_error_code(errc::bad_address), fmt::format("bad address \"{}\"", to_string()),
                    "a host name, not a numeric address (resolve it first)");
    return {ip_, port_};
}

boost::asio::ip::udp::endpoint address::udp_endpoint() const {
    if (name_)
        throw error(make_error_code(errc::bad_address), fmt::format("bad address \"{}\"", to_string()),
                    "a host name, not a numeric address (resolve it first)");
    return {ip_, port_};
}

std::string address::to_string() const {
    if (name_) return fmt::format("{}:{}", *name_, port_);
    if (ip_.is_v6()) return fmt::format("[{}]:{}", ip_.to_string(), port_);
    return fmt::format("{}:{}", ip_.to_string(), port_);
}

std::ostream& operator<<(std::ostream& out, const address& a) {
    return out << a.to_string();
}

}  // namespace cosock
