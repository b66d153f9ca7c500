// udp.cpp — the compiled half of udp.hpp: the two system calls of the hot path, binding, opening,
// name resolution and socket options.
// SPDX-License-Identifier: MIT
#include <cosock/udp.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <fmt/format.h>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/unicast.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include <cosock/descriptor.hpp>

#include "adopt.hpp"
#include "bind_address.hpp"

namespace cosock {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using detail::error_code;

namespace detail {

error_code try_send(int fd, asio::const_buffer data, const void* name, std::size_t name_size,
                    std::size_t& sent) {
    ssize_t n = 0;
    do {
        n = name ? ::sendto(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                            static_cast<const sockaddr*>(name), static_cast<socklen_t>(name_size))
                 : ::send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return error_code(errno, asio::error::get_system_category());
    sent = static_cast<std::size_t>(n);
    return {};
}

error_code try_recv_batch(int fd, mmsghdr* messages, std::size_t count, std::size_t& received) {
    int n = 0;
    do n = ::recvmmsg(fd, messages, static_cast<unsigned>(count), MSG_DONTWAIT | MSG_TRUNC, nullptr);
    while (n < 0 && errno == EINTR);
    if (n < 0) return error_code(errno, asio::error::get_system_category());
    received = static_cast<std::size_t>(n);
    return {};
}

error_code try_send_batch(int fd, mmsghdr* messages, std::size_t count, std::size_t& sent) {
    int n = 0;
    do n = ::sendmmsg(fd, messages, static_cast<unsigned>(count), MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) return error_code(errno, asio::error::get_system_category());
    sent = static_cast<std::size_t>(n);
    return {};
}

void bad_batch(const char* what, const std::string& where, const std::string& reason) {
    throw error(std::make_error_code(std::errc::invalid_argument), fmt::format("{} {}", what, where), reason);
}

const address& local_where(socket_core<udp::socket>& c) {
    if (c.where.port() == 0) {
        error_code ignored;
        auto ep = c.socket.local_endpoint(ignored);
        if (!ignored) c.where = ep;
    }
    return c.where;
}

}  // namespace detail

namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

/// Opens, configures and binds; on failure says which step failed through `step`.
udp::socket open_bound(asio::any_io_executor executor, const address& at, const udp_options& options,
                       error_code& ec, const char*& step) {
    udp::socket socket(executor);
    step = "bind to";
    auto ip = detail::bind_ip(at);
    if (!ip) {
        ec = make_error_code(errc::bad_address);
        return socket;
    }
    udp::endpoint endpoint(*ip, at.port());
    if (socket.open(endpoint.protocol(), ec)) return socket;
    if (options.reuse_address && socket.set_option(udp::socket::reuse_address(true), ec)) return socket;
    if (options.reuse_port && socket.set_option(reuse_port(true), ec)) return socket;
    if (endpoint.address().is_v6() && socket.set_option(asio::ip::v6_only(options.v6_only), ec))
        return socket;
    socket.bind(endpoint, ec);
    return socket;
}

/// An IPv6 interface index from a name ("lo") or a number ("1"); 0 when empty.
unsigned long interface_index(std::string_view interface, error_code& ec) {
    if (interface.empty()) return 0;
    unsigned long index = 0;
    auto [end, status] = std::from_chars(interface.data(), interface.data() + interface.size(), index);
    if (status == std::errc() && end == interface.data() + interface.size()) return index;
    index = ::if_nametoindex(std::string(interface).c_str());
    if (index == 0) ec = asio::error::no_such_device;
    return index;
}

/// Joins or leaves a multicast group (one body for both: the options differ only in their name).
template <class Option>
void membership(detail::socket_core<udp::socket>& c, std::string_view group, std::string_view interface,
                const char* what) {
    auto context = [&] {
        return interface.empty() ? fmt::format("{} {}", what, group)
                                 : fmt::format("{} {} via {}", what, group, interface);
    };
    error_code ec;
    auto g = asio::ip::make_address(std::string(group), ec);
    if (ec || !g.is_multicast())
        throw error(make_error_code(errc::bad_address), context(), "not a multicast group");
    auto family = c.socket.local_endpoint(ec).protocol();
    detail::check(ec, context(), detail::local_where(c));
    if ((family == udp::v6()) != g.is_v6())
        throw error(std::make_error_code(std::errc::address_family_not_supported),
                    fmt::format("{} on {}", context(), detail::local_where(c)),
                    "the group's IP version differs from the endpoint's");
    if (g.is_v4()) {
        auto local = interface.empty() ? asio::ip::address_v4::any()
                                       : asio::ip::make_address_v4(std::string(interface), ec);
        if (ec) throw error(make_error_code(errc::bad_address), context(), "not an IPv4 interface address");
        c.socket.set_option(Option(g.to_v4(), local), ec);
    } else {
        auto index = interface.empty() ? g.to_v6().scope_id() : interface_index(interface, ec);
        if (!ec) c.socket.set_option(Option(g.to_v6(), index), ec);
    }
    if (ec) throw error(ec, fmt::format("{} on {}", context(), detail::local_where(c)));
}

}  // namespace

// --- creating ---------------------------------------------------------------------------------

udp_endpoint::udp_endpoint(socket_type socket) : basic_datagram(new core_type(std::move(socket))) {
    auto& c = *core_.get();
    error_code ignored;
    c.where = c.socket.local_endpoint(ignored);
    auto peer = c.socket.remote_endpoint(ignored);
    if (!ignored) c.endpoint = peer;
}

udp_endpoint udp_endpoint::bind(const address& at, const udp_options& options) {
    return bind(detail::current_executor(), at, options);
}

udp_endpoint udp_endpoint::bind(asio::any_io_executor executor, const address& at,
                                const udp_options& options) {
    if (!detail::bind_ip(at))
        throw error(make_error_code(errc::bad_address), "bind to " + at.to_string(),
                    detail::bind_name_reason);
    const char* step = "bind to";
    error_code ec;
    auto socket = open_bound(std::move(executor), at, options, ec, step);
    detail::check(ec, step, at);
    return udp_endpoint(std::move(socket));
}

udp_endpoint udp_endpoint::bind(asio::any_io_executor executor, const address& at, const udp_options& options,
                                std::error_code& ec) {
    const char* step = "bind to";
    error_code bec;
    auto socket = open_bound(std::move(executor), at, options, bec, step);
    ec = bec;
    if (ec) return udp_endpoint();
    return udp_endpoint(std::move(socket));
}

udp_endpoint udp_endpoint::open(address_family family) {
    return open(detail::current_executor(), family);
}

udp_endpoint udp_endpoint::open(asio::any_io_executor executor, address_family family) {
    udp::socket socket(executor);
    error_code ec;
    socket.open(family == address_family::v6 ? udp::v6() : udp::v4(), ec);
    if (ec) throw error(ec, family == address_family::v6 ? "open IPv6 UDP socket" : "open IPv4 UDP socket");
    return udp_endpoint(std::move(socket));
}

udp_endpoint udp_endpoint::from_fd(int fd) {
    return from_fd(detail::current_executor(), fd);
}

udp_endpoint udp_endpoint::from_fd(asio::any_io_executor executor, int fd) {
    return udp_endpoint(detail::adopt<socket_type>(executor, fd, "a UDP endpoint", {AF_INET, AF_INET6},
                                                   SOCK_DGRAM, IPPROTO_UDP));
}

udp_endpoint udp_endpoint::open_for(const address& peer) {
    return open(peer.is_numeric() && peer.ip().is_v6() ? address_family::v6 : address_family::v4);
}

// --- connected use ----------------------------------------------------------------------------

namespace detail {

error_code connect_datagram(socket_core<udp::socket>& c, const address& to) {
    error_code ec;
    auto endpoint = to.udp_endpoint();
    c.socket.connect(endpoint, ec);
    if (ec) return ec;
    c.endpoint = endpoint;
    c.where = address();  // connecting binds an unbound endpoint: local_where() asks again
    return ec;
}

}  // namespace detail

// --- state and options ------------------------------------------------------------------------

void udp_endpoint::set_broadcast(bool on) {
    set(asio::socket_base::broadcast(on), "set SO_BROADCAST on");
}
bool udp_endpoint::broadcast() const {
    return get<asio::socket_base::broadcast>("get SO_BROADCAST on");
}
void udp_endpoint::set_ttl(int hops) {
    set(asio::ip::unicast::hops(hops), "set TTL on");
}
int udp_endpoint::ttl() const {
    return get<asio::ip::unicast::hops>("get TTL on");
}

void udp_endpoint::join_group(std::string_view group, std::string_view interface) {
    membership<asio::ip::multicast::join_group>(core_.core("join_group"), group, interface, "join_group");
}
void udp_endpoint::leave_group(std::string_view group, std::string_view interface) {
    membership<asio::ip::multicast::leave_group>(core_.core("leave_group"), group, interface, "leave_group");
}
void udp_endpoint::set_multicast_ttl(int hops) {
    set(asio::ip::multicast::hops(hops), "set multicast TTL on");
}
int udp_endpoint::multicast_ttl() const {
    return get<asio::ip::multicast::hops>("get multicast TTL on");
}
void udp_endpoint::set_multicast_loop(bool on) {
    set(asio::ip::multicast::enable_loopback(on), "set multicast loop on");
}

void udp_endpoint::set_multicast_interface(std::string_view interface) {
    auto& c = core_.core("set_multicast_interface");
    auto context = fmt::format("set multicast interface {} on", interface);
    error_code ec;
    auto family = c.socket.local_endpoint(ec).protocol();
    if (!ec && family == udp::v4()) {
        auto local = asio::ip::make_address_v4(std::string(interface), ec);
        if (ec)
            throw error(make_error_code(errc::bad_address),
                        context + " " + detail::local_where(c).to_string(), "not an IPv4 interface address");
        c.socket.set_option(asio::ip::multicast::outbound_interface(local), ec);
    } else if (!ec) {
        auto index = interface_index(interface, ec);
        if (!ec)
            c.socket.set_option(asio::ip::multicast::outbound_interface(static_cast<unsigned>(index)), ec);
    }
    detail::check(ec, context, detail::local_where(c));
}

address udp_endpoint::local_address() const {
    auto& c = core_.core("local_address");
    error_code ec;
    auto ep = c.socket.local_endpoint(ec);
    detail::check(ec, "getsockname on", c.where);
    return ep;
}

address udp_endpoint::peer_address() const {
    auto& c = core_.core("peer_address");
    error_code ec;
    auto ep = c.socket.remote_endpoint(ec);
    detail::check(ec, "getpeername on", detail::local_where(c));
    return ep;
}

}  // namespace cosock
