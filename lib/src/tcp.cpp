// tcp.cpp — the compiled half of tcp.hpp: binding, options, name resolution and the serve loop
// with its accept back-off.
// SPDX-License-Identifier: MIT
#include <cosock/tcp.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cosock/descriptor.hpp>

#include "adopt.hpp"
#include "serve.hpp"

namespace cosock {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using detail::error_code;

namespace detail {

error_code try_send_all(int fd, asio::const_buffer data, std::size_t& sent) {
    sent = 0;
    while (sent < data.size()) {
        ssize_t n = ::send(fd, static_cast<const char*>(data.data()) + sent, data.size() - sent,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return error_code(errno, asio::error::get_system_category());
        }
        sent += static_cast<std::size_t>(n);
    }
    return {};
}

task<std::tuple<error_code, tcp_stream>> resolve_and_connect(asio::any_io_executor executor, address to) {
    tcp::resolver resolver(executor);
    tcp::socket socket(executor);
    auto [ec, endpoints] = co_await resolver.async_resolve(to.host(), std::to_string(to.port()),
                                                           asio::as_tuple(asio::use_awaitable));
    if (ec) co_return std::tuple{ec, tcp_stream()};
    auto [connect_ec, endpoint] =
        co_await asio::async_connect(socket, endpoints, asio::as_tuple(asio::use_awaitable));
    if (connect_ec) co_return std::tuple{connect_ec, tcp_stream()};
    co_return std::tuple{connect_ec, tcp_stream(std::move(socket))};
}

}  // namespace detail

// --- tcp_stream -------------------------------------------------------------------------------

tcp_stream::tcp_stream(socket_type socket) : basic_stream(std::move(socket), address()) {
    error_code ignored;
    core_.get()->where = address(core_.get()->socket.remote_endpoint(ignored));
}

tcp_stream::tcp_stream(socket_type socket, const address& peer) : basic_stream(std::move(socket), peer) {}

tcp_stream tcp_stream::from_fd(int fd) {
    return from_fd(detail::current_executor(), fd);
}

tcp_stream tcp_stream::from_fd(asio::any_io_executor executor, int fd) {
    return tcp_stream(detail::adopt<socket_type>(executor, fd, "a TCP stream", {AF_INET, AF_INET6},
                                                 SOCK_STREAM, IPPROTO_TCP));
}

void tcp_stream::set_no_delay(bool on) {
    set(tcp::no_delay(on), "set TCP_NODELAY on");
}
void tcp_stream::set_keep_alive(bool on) {
    set(asio::socket_base::keep_alive(on), "set SO_KEEPALIVE on");
}
address tcp_stream::local_address() const {
    auto& c = core_.core("local_address");
    error_code ec;
    auto ep = c.socket.local_endpoint(ec);
    detail::check(ec, "getsockname of connection to", c.where);
    return ep;
}

address tcp_stream::peer_address() const {
    auto& c = core_.core("peer_address");
    error_code ec;
    auto ep = c.socket.remote_endpoint(ec);
    detail::check(ec, "getpeername of connection to", c.where);
    return ep;
}

// --- tcp_listener -----------------------------------------------------------------------------

namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

/// Opens, configures, binds and listens; on failure says which step failed through `step`.
tcp::acceptor open_acceptor(asio::any_io_executor executor, const address& at, const listen_options& options,
                            error_code& ec, const char*& step) {
    tcp::acceptor acceptor(executor);
    tcp::endpoint endpoint;
    step = "resolve";
    if (at.is_numeric()) {
        endpoint = at.tcp_endpoint();
    } else {
        tcp::resolver resolver(executor);
        auto results = resolver.resolve(at.host(), std::to_string(at.port()), ec);
        if (ec) return acceptor;
        endpoint = results.begin()->endpoint();
    }
    step = "bind to";
    if (acceptor.open(endpoint.protocol(), ec)) return acceptor;
    if (options.reuse_address && acceptor.set_option(tcp::acceptor::reuse_address(true), ec)) return acceptor;
    if (options.reuse_port && acceptor.set_option(reuse_port(true), ec)) return acceptor;
    if (endpoint.address().is_v6() && acceptor.set_option(asio::ip::v6_only(options.v6_only), ec))
        return acceptor;
    if (acceptor.bind(endpoint, ec)) return acceptor;
    // Report ECONNABORTED (a client gone before accept) instead of letting Asio wait for the next
    // readiness event, which leaves a client queued behind it waiting for another to arrive.
    if (acceptor.set_option(tcp::acceptor::enable_connection_aborted(true), ec)) return acceptor;
    step = "listen on";
    acceptor.listen(options.backlog, ec);
    return acceptor;
}

}  // namespace

tcp_listener tcp_listener::bind(const address& at, const listen_options& options) {
    return bind(detail::current_executor(), at, options);
}

tcp_listener tcp_listener::bind(asio::any_io_executor executor, const address& at,
                                const listen_options& options) {
    const char* step = "bind to";
    error_code ec;
    auto acceptor = open_acceptor(std::move(executor), at, options, ec, step);
    detail::check(ec, step, at);
    auto* core = new core_type(std::move(acceptor));
    core->where = core->socket.local_endpoint(ec);
    return tcp_listener(core);
}

tcp_listener tcp_listener::bind(asio::any_io_executor executor, const address& at,
                                const listen_options& options, std::error_code& ec) {
    const char* step = "bind to";
    error_code bec;
    auto acceptor = open_acceptor(std::move(executor), at, options, bec, step);
    ec = bec;
    if (ec) return tcp_listener();
    auto* core = new core_type(std::move(acceptor));
    core->where = core->socket.local_endpoint(bec);
    return tcp_listener(core);
}

tcp_listener tcp_listener::from_fd(int fd, const listen_options& options) {
    return from_fd(detail::current_executor(), fd, options);
}

tcp_listener tcp_listener::from_fd(asio::any_io_executor executor, int fd, const listen_options& options) {
    socket_kind kind;
    auto acceptor = detail::adopt<acceptor_type>(executor, fd, "a TCP listener", {AF_INET, AF_INET6},
                                                 SOCK_STREAM, IPPROTO_TCP, &kind);
    error_code ec;
    acceptor.set_option(acceptor_type::enable_connection_aborted(true), ec);
    if (!ec && !kind.listening) acceptor.listen(options.backlog, ec);
    detail::check(ec, "adopt descriptor", std::to_string(fd));
    auto* core = new core_type(std::move(acceptor));
    core->where = core->socket.local_endpoint(ec);
    return tcp_listener(core);
}

address tcp_listener::local_address() const {
    return core_.core("local_address").where;
}

task<void> tcp_listener::serve(connection_handler handler, serve_options options) {
    auto& core = core_.core("serve");
    auto close = [](core_type& c) {
        error_code ignored;
        c.socket.close(ignored);
    };
    return detail::serve_loop<tcp_stream>(detail::core_ref(core), std::move(handler), std::move(options),
                                          core.where.to_string(), close);
}

}  // namespace cosock
