// tcp.cpp — the compiled half of tcp.hpp: binding, options, name resolution and the serve loop
// with its accept back-off.
// SPDX-License-Identifier: MIT
#include <cosock/tcp.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cosock/descriptor.hpp>
#include <cosock/resolve.hpp>

#include "adopt.hpp"
#include "bind_address.hpp"
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

/// Turns on TCP_INQ: each read reports how many bytes it left, and a peer's end of stream as one
/// more, which lets a read that took all tell Asio's reactor the socket is empty (edge_reads.hpp).
/// Accepted connections inherit it from their listener.
/// An old kernel refuses it; reads then try at once, as before.
void count_bytes_left(int fd) {
    int on = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on);
}

bool readable_now(int fd) {
    pollfd p{fd, POLLIN, 0};
    int n = 0;
    do n = ::poll(&p, 1, 0);
    while (n < 0 && errno == EINTR);
    return n > 0;  // POLLIN, or POLLERR / POLLHUP / POLLNVAL: a read would not block either
}

error_code try_recv(int fd, asio::mutable_buffer buffer, std::size_t& received) {
    received = 0;
    ssize_t n = 0;
    do n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) return error_code(errno, asio::error::get_system_category());
    received = static_cast<std::size_t>(n);
    return {};
}

namespace {

/// What happened to one of a connect's own operations: a lookup answered (`index`: 0 for IPv6, 1
/// for IPv4), or an attempt ended (`index`: its number).
struct race_event {
    bool is_lookup = false;
    std::size_t index = 0;
    error_code ec;
    std::vector<address> found;
};

/// The events of one connect by name, filled by the completion handlers of its lookups and
/// attempts, and the timer its coroutine sleeps on between events and deadlines.
struct race_inbox {
    explicit race_inbox(const asio::any_io_executor& executor) : wake(executor) {}
    std::deque<race_event> events;
    detail::timer wake;
    void push(race_event e) {
        events.push_back(std::move(e));
        wake.cancel();  // wakes the coroutine if it sleeps; else it reads `events` before sleeping
    }
};

struct race_attempt {
    address to;
    std::unique_ptr<tcp::socket> socket;
    error_code ec;
};

/// "[::1]:80: Connection refused; 127.0.0.1:80": every attempt but the last with its error.
std::string describe_attempts(const std::vector<race_attempt>& attempts) {
    std::string text;
    for (std::size_t i = 0; i < attempts.size(); ++i) {
        if (i > 0) text += "; ";
        text += attempts[i].to.to_string();
        if (i + 1 < attempts.size()) text += ": " + attempts[i].ec.message();
    }
    return text;
}

/// The error of a name whose lookups gave nothing to try: the IPv4 lookup's unless it merely
/// found no address (a name with IPv6 addresses only), then the IPv6 one's.
error_code lookup_failure(const error_code (&ec)[2]) {
    const error_code none = make_error_code(errc::no_addresses);
    if (ec[1] && ec[1] != none) return ec[1];
    if (ec[0] && ec[0] != none) return ec[0];
    return none;
}

}  // namespace

// One coroutine drives the race: the lookups' and attempts' handlers only queue an event and wake
// it, so every decision is taken here, in order. Before it returns, every attempt but the winner
// is closed and every lookup cancelled, and it waits until all their handlers have run: nothing of
// the race outlives the connect.
task<std::tuple<error_code, tcp_stream>> connect_by_name(asio::any_io_executor executor, address to,
                                                         connect_options options,
                                                         std::shared_ptr<std::string> tried) {
    using clock = detail::clock;
    co_await asio::this_coro::throw_if_cancelled(false);  // a cancellation still cleans up below
    const auto attempt_delay =
        std::max<clock::duration>(options.attempt_delay, std::chrono::milliseconds(10));
    auto inbox = std::make_shared<race_inbox>(executor);
    int pending = 0;  // lookups and attempts whose handler has not queued its event yet

    constexpr std::size_t v6 = 0, v4 = 1;
    asio::cancellation_signal stop_lookup[2];
    for (std::size_t family : {v6, v4}) {
        ++pending;
        auto answered = [inbox, family](error_code ec, std::vector<address> found) {
            inbox->push({true, family, ec, std::move(found)});
        };
        detail::start_resolve(
            executor, to, family == v6 ? address_family::v6 : address_family::v4,
            asio::bind_cancellation_slot(stop_lookup[family].slot(),
                                         asio::bind_executor(executor, std::move(answered))));
    }

    std::deque<address> untried[2];
    bool answered[2] = {false, false};
    error_code lookup_ec[2];
    auto resolution_deadline = clock::time_point::max();  // set when IPv4 answers first
    auto next_attempt = clock::time_point::min();
    std::size_t last_family = v4;  // so that the first attempt is over IPv6
    std::vector<race_attempt> attempts;
    int running = 0;
    std::optional<std::size_t> winner;
    bool cancelled = false;

    for (;;) {
        while (!inbox->events.empty()) {
            auto e = std::move(inbox->events.front());
            inbox->events.pop_front();
            --pending;
            if (e.is_lookup) {
                answered[e.index] = true;
                lookup_ec[e.index] = e.ec;
                untried[e.index].insert(untried[e.index].end(), e.found.begin(), e.found.end());
                if (e.index == v4 && !answered[v6] && !e.found.empty())
                    resolution_deadline = clock::now() + options.resolution_delay;
            } else {
                --running;
                attempts[e.index].ec = e.ec;
                if (!e.ec && !winner) winner = e.index;
                if (e.ec) next_attempt = clock::now();  // a failure starts the next attempt at once
            }
        }
        if (winner) break;
        auto now = clock::now();
        bool may_connect = answered[v6] || (answered[v4] && now >= resolution_deadline);
        bool has_untried = !untried[v6].empty() || !untried[v4].empty();
        if (may_connect && has_untried && now >= next_attempt) {
            std::size_t family = untried[1 - last_family].empty() ? last_family : 1 - last_family;
            last_family = family;
            auto i = attempts.size();
            attempts.push_back({untried[family].front(), std::make_unique<tcp::socket>(executor), {}});
            untried[family].pop_front();
            ++pending;
            ++running;
            attempts[i].socket->async_connect(attempts[i].to.tcp_endpoint(), [inbox, i](error_code ec) {
                inbox->push({false, i, ec, {}});
            });
            next_attempt = now + attempt_delay;
            continue;
        }
        if (answered[v6] && answered[v4] && !has_untried && running == 0) break;  // all failed
        auto wake_at = clock::time_point::max();
        if (!answered[v6] && answered[v4]) wake_at = resolution_deadline;
        if (may_connect && has_untried) wake_at = next_attempt;
        detail::expire_at(inbox->wake, wake_at);
        co_await inbox->wake.async_wait(asio::as_tuple(asio::use_awaitable));
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
            cancelled = true;
            break;
        }
    }

    // Nothing outlives the race: close the losers, cancel the lookups, wait for their handlers.
    for (std::size_t i = 0; i < attempts.size(); ++i) {
        error_code ignored;
        if (!winner || i != *winner) attempts[i].socket->close(ignored);
    }
    for (std::size_t family : {v6, v4})
        if (!answered[family]) stop_lookup[family].emit(asio::cancellation_type::terminal);
    while (pending > 0) {
        while (!inbox->events.empty()) {
            inbox->events.pop_front();
            --pending;
        }
        if (pending == 0) break;
        detail::expire_at(inbox->wake, clock::time_point::max());
        co_await inbox->wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    if (winner) {
        auto& w = attempts[*winner];
        count_bytes_left(w.socket->native_handle());
        co_return std::tuple{error_code(), tcp_stream(std::move(*w.socket), w.to)};
    }
    if (cancelled) co_return std::tuple{error_code(asio::error::operation_aborted), tcp_stream()};
    if (attempts.empty()) co_return std::tuple{lookup_failure(lookup_ec), tcp_stream()};
    *tried = describe_attempts(attempts);
    co_return std::tuple{attempts.back().ec, tcp_stream()};
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
    auto socket = detail::adopt<socket_type>(executor, fd, "a TCP stream", {AF_INET, AF_INET6}, SOCK_STREAM,
                                             IPPROTO_TCP);
    detail::count_bytes_left(socket.native_handle());
    return tcp_stream(std::move(socket));
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
    step = "bind to";
    auto ip = detail::bind_ip(at);
    if (!ip) {
        ec = make_error_code(errc::bad_address);
        return acceptor;
    }
    tcp::endpoint endpoint(*ip, at.port());
    if (acceptor.open(endpoint.protocol(), ec)) return acceptor;
    detail::count_bytes_left(acceptor.native_handle());
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
    if (!detail::bind_ip(at))
        throw error(make_error_code(errc::bad_address), "bind to " + at.to_string(),
                    detail::bind_name_reason);
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
    detail::count_bytes_left(acceptor.native_handle());
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
