// tcp.cpp — the compiled half of tcp.hpp: binding, options, name resolution and the serve loop
// with its accept back-off.
// SPDX-License-Identifier: MIT
#include <cosock/tcp.hpp>

#include <algorithm>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cosock {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using detail::error_code;

namespace detail {

void print_error(std::exception_ptr error);  // run.cpp

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

namespace {

/// Throws "<what> <where>: <reason>" when `ec` is set.
void check(const error_code& ec, const char* what, const address& where) {
    if (ec) throw error(ec, fmt::format("{} {}", what, where));
}

template <class Core>
Core& open_core(Core* core, const char* what) {
    if (!core) throw_error(make_error_code(errc::not_open), what);
    return *core;
}

}  // namespace
}  // namespace detail

// --- tcp_stream -------------------------------------------------------------------------------

tcp_stream::tcp_stream(socket_type socket) : core_(new core_type(std::move(socket))) {
    error_code ignored;
    core_.get()->where = address(core_.get()->socket.remote_endpoint(ignored));
}

tcp_stream::tcp_stream(socket_type socket, const address& peer) : core_(new core_type(std::move(socket))) {
    core_.get()->where = peer;
}

void tcp_stream::set_timeout(std::chrono::steady_clock::duration timeout) {
    core_.core("set_timeout").timeout = std::max(timeout, std::chrono::steady_clock::duration::zero());
}

std::chrono::steady_clock::duration tcp_stream::timeout() const {
    return core_.core("timeout").timeout;
}

void tcp_stream::shutdown() {
    auto& c = core_.core("shutdown");
    error_code ec;
    c.socket.shutdown(tcp::socket::shutdown_send, ec);
    detail::check(ec, "shutdown", c.where);
}

void tcp_stream::close() {
    if (auto* c = core_.get()) {
        error_code ignored;
        c->socket.close(ignored);
    }
}

bool tcp_stream::is_open() const noexcept {
    return core_.get() && core_.get()->socket.is_open();
}

namespace {

template <class Option, class Core>
void set(Core& c, Option option, const char* what) {
    error_code ec;
    c.socket.set_option(option, ec);
    detail::check(ec, what, c.where);
}

template <class Option, class Core>
int get(Core& c, const char* what) {
    Option option;
    error_code ec;
    c.socket.get_option(option, ec);
    detail::check(ec, what, c.where);
    return option.value();
}

}  // namespace

void tcp_stream::set_no_delay(bool on) {
    set(core_.core("set_no_delay"), tcp::no_delay(on), "set TCP_NODELAY on");
}
void tcp_stream::set_keep_alive(bool on) {
    set(core_.core("set_keep_alive"), asio::socket_base::keep_alive(on), "set SO_KEEPALIVE on");
}
void tcp_stream::set_send_buffer_size(int bytes) {
    set(core_.core("set_send_buffer_size"), asio::socket_base::send_buffer_size(bytes), "set SO_SNDBUF on");
}
void tcp_stream::set_receive_buffer_size(int bytes) {
    set(core_.core("set_receive_buffer_size"), asio::socket_base::receive_buffer_size(bytes),
        "set SO_RCVBUF on");
}
int tcp_stream::send_buffer_size() const {
    return get<asio::socket_base::send_buffer_size>(core_.core("send_buffer_size"), "get SO_SNDBUF on");
}
int tcp_stream::receive_buffer_size() const {
    return get<asio::socket_base::receive_buffer_size>(core_.core("receive_buffer_size"), "get SO_RCVBUF on");
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

int tcp_stream::native_handle() {
    return core_.core("native_handle").socket.native_handle();
}
tcp_stream::socket_type& tcp_stream::asio_socket() {
    return core_.core("asio_socket").socket;
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

void tcp_listener::set_timeout(std::chrono::steady_clock::duration timeout) {
    core_.core("set_timeout").timeout = std::max(timeout, std::chrono::steady_clock::duration::zero());
}

std::chrono::steady_clock::duration tcp_listener::timeout() const {
    return core_.core("timeout").timeout;
}

address tcp_listener::local_address() const {
    return core_.core("local_address").where;
}

void tcp_listener::close() {
    if (auto* c = core_.get()) {
        error_code ignored;
        c->socket.close(ignored);
    }
}

bool tcp_listener::is_open() const noexcept {
    return core_.get() && core_.get()->socket.is_open();
}

int tcp_listener::native_handle() {
    return core_.core("native_handle").socket.native_handle();
}
tcp_listener::acceptor_type& tcp_listener::asio_acceptor() {
    return core_.core("asio_acceptor").socket;
}

namespace {

/// Accept failures that say "not now" (the system is out of something), not "never": the serve
/// loop backs off and retries instead of spinning (Tokio #3529) or giving up.
bool is_resource_shortage(const error_code& ec) {
    return ec == asio::error::no_descriptors                  // EMFILE
           || ec == std::errc::too_many_files_open_in_system  // ENFILE
           || ec == asio::error::no_buffer_space              // ENOBUFS
           || ec == asio::error::no_memory;                   // ENOMEM
}

/// Accept failures that concern one connection only: skip it and accept the next.
bool is_per_connection(const error_code& ec) {
    return ec == asio::error::connection_aborted || ec == std::errc::protocol_error ||
           ec == std::errc::operation_not_permitted  // EPERM: a firewall rule refused this one
           || ec == std::errc::timed_out;            // the listener's timeout: a server keeps waiting
}

/// One connection's coroutine inside serve's scope: its exception goes to on_error, not up.
task<void> run_connection(tcp_listener::connection_handler& handler, tcp_stream conn, address peer,
                          const serve_options& options) {
    try {
        co_await handler(std::move(conn), peer);
    } catch (...) {
        auto error = std::current_exception();
        if (is_cancellation(error)) throw;  // stopped by serve: not an error
        options.on_error(peer, error);
    }
}

}  // namespace

task<void> tcp_listener::serve(connection_handler handler, serve_options options) {
    if (!options.on_error)
        options.on_error = [](const address& peer, std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& error) {
                fmt::print(stderr, "{}: connection from {}: {}\n", detail::program_name(), peer,
                           error.what());
            } catch (...) {
                fmt::print(stderr, "{}: connection from {}: unknown exception\n", detail::program_name(),
                           peer);
            }
        };
    if (!options.on_accept_error)
        options.on_accept_error = [where = local_address()](const std::error_code& ec) {
            fmt::print(stderr, "{}: accept on {}: {}; backing off\n", detail::program_name(), where,
                       ec.message());
        };

    using namespace std::chrono_literals;
    auto executor = co_await asio::this_coro::executor;
    task_scope connections(executor, [](std::exception_ptr) {});  // run_connection reports
    asio::steady_timer backoff_timer(executor);
    auto backoff = std::chrono::milliseconds(0);
    bool cancelled = false;

    for (;;) {
        auto [ec, accepted] = co_await nothrow(accept());
        if (!ec) {
            backoff = 0ms;
            auto& [conn, peer] = accepted;
            connections.spawn(run_connection(handler, std::move(conn), peer, options));
            continue;
        }
        if (is_per_connection(ec)) continue;
        if (!is_resource_shortage(ec)) {
            cancelled =
                ec == asio::error::operation_aborted &&
                (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
            if (cancelled || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
                break;  // cancelled, or the listener was closed: stop gracefully
            co_await connections.join(options.grace);
            detail::check(ec, "accept on", local_address());
        }
        if (backoff == 0ms) options.on_accept_error(ec);
        backoff = std::clamp(backoff * 2, 10ms, 500ms);
        backoff_timer.expires_after(backoff);
        auto [wait_ec] = co_await backoff_timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (wait_ec) {
            cancelled = true;
            break;
        }
    }

    // Graceful stop: no new connections; the running ones get `grace` to finish.
    close();
    if (cancelled) co_await asio::this_coro::reset_cancellation_state();
    co_await connections.join(options.grace);
    if (cancelled) throw boost::system::system_error(asio::error::operation_aborted, "serve");
}

}  // namespace cosock
