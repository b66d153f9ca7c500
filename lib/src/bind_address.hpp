// bind_address.hpp (private) — the address a synchronous bind takes for a host: tcp.cpp and udp.cpp.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

#include <boost/asio/ip/address.hpp>

#include <cosock/address.hpp>

namespace cosock::detail {

/// Why `bind` refuses a host name: it is synchronous, and a lookup may take seconds.
inline constexpr const char* bind_name_reason =
    "a host name: resolve it first (co_await cosock::resolve), bind takes only \"localhost\" as a name";

/// The IP address `bind` uses for `at` without a lookup: a numeric address as it is, and
/// "localhost" (or a name under ".localhost") as 127.0.0.1. RFC 6761 reserves those names for
/// loopback, so no lookup is needed; IPv4, as Python's bind on a default (AF_INET) socket.
/// Nothing for any other name.
inline std::optional<boost::asio::ip::address> bind_ip(const address& at) {
    if (at.is_numeric()) return at.ip();
    auto host = at.host();
    std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
    if (host.ends_with('.')) host.pop_back();
    if (host == "localhost" || host.ends_with(".localhost")) return boost::asio::ip::address_v4::loopback();
    return std::nullopt;
}

}  // namespace cosock::detail
