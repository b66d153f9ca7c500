// cosock/address.hpp — cosock::address: a host and a port, parsed from and formatted as "host:port".
// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include <cosock/export.hpp>

namespace cosock {

/// An IP version: of an unbound UDP endpoint, or the addresses `cosock::resolve` may yield
/// (Python: `socket.AF_INET`, `socket.AF_INET6`).
enum class address_family { v4, v6 };

/// Where a socket is or connects to: an IPv4 or IPv6 address, or a host name still to be resolved,
/// and a port. Python: the `('127.0.0.1', 8898)` tuple. Copyable, cheap for numeric addresses.
///
/// Example:
///     cosock::address a{"127.0.0.1", 8898};             // like ('127.0.0.1', 8898)
///     auto b = cosock::address::parse("[::1]:8080");   // IPv6 needs the brackets
///     fmt::print("{} {}\n", a, b);                      // 127.0.0.1:8898 [::1]:8080
class COSOCK_EXPORT address {
public:
    /// 0.0.0.0:0.
    address() = default;

    /// A host (numeric IPv4, IPv6 without brackets, or a name such as "localhost") and a port.
    /// Throws `cosock::error` (`errc::bad_address`):
    /// `bad address "host:70000": port out of range (0-65535)`.
    address(std::string_view host, int port);

    /// Parses "127.0.0.1:8898", "[::1]:8080", "[fe80::1%eth0]:80" or "localhost:80".
    /// Throws `cosock::error` (`errc::bad_address`) naming the string and what is wrong with it.
    static address parse(std::string_view text);

    /// The non-throwing form of `parse`: sets `ec` and returns 0.0.0.0:0 on a bad string.
    static address parse(std::string_view text, std::error_code& ec) noexcept;

    /// From an Asio endpoint (always numeric).
    address(const boost::asio::ip::tcp::endpoint& ep) : ip_(ep.address()), port_(ep.port()) {}
    address(const boost::asio::ip::udp::endpoint& ep) : ip_(ep.address()), port_(ep.port()) {}

    /// The host as given: the numeric address in its usual text form, or the name.
    std::string host() const;
    std::uint16_t port() const noexcept { return port_; }

    /// True when the host is a numeric IP address (no resolution needed).
    bool is_numeric() const noexcept { return !name_; }
    /// The numeric address; meaningful only when `is_numeric()`.
    const boost::asio::ip::address& ip() const noexcept { return ip_; }

    /// The Asio endpoints of a numeric address; throws `errc::bad_address` for a name.
    boost::asio::ip::tcp::endpoint tcp_endpoint() const;
    boost::asio::ip::udp::endpoint udp_endpoint() const;

    /// "127.0.0.1:8898", "[::1]:8080", "localhost:80".
    std::string to_string() const;

    friend bool operator==(const address& a, const address& b) noexcept {
        return a.ip_ == b.ip_ && a.port_ == b.port_ &&
               (a.name_ == b.name_ || (a.name_ && b.name_ && *a.name_ == *b.name_));
    }
    /// Writes `to_string()`.
    friend COSOCK_EXPORT std::ostream& operator<<(std::ostream& out, const address& a);

private:
    // A received datagram's sender is an address: copying and moving one must cost no more than
    // its bytes. The rare host name is shared, not copied.
    boost::asio::ip::address ip_;              // the numeric address, when there is no name
    std::shared_ptr<const std::string> name_;  // a host name to resolve, or null
    std::uint16_t port_ = 0;
};

}  // namespace cosock

/// `fmt::print("{}", addr)` prints `addr.to_string()`.
template <>
struct fmt::formatter<cosock::address> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(const cosock::address& a, FormatContext& ctx) const {
        return fmt::formatter<std::string_view>::format(a.to_string(), ctx);
    }
};
