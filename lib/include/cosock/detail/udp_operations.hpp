// cosock/detail/udp_operations.hpp — the inline bodies of udp_endpoint's operations (templates on
// the completion handler, so they live in a header). Read udp.hpp first, and tcp_operations.hpp
// for the shape every operation shares.
//
// UDP differs from TCP in one way that matters for speed: a datagram is usually already there (or
// the send buffer has room), so each operation tries the system call first (recvmsg / sendto with
// MSG_DONTWAIT) and waits for readiness (socket.async_wait) only on EAGAIN, then tries again.
// recvmsg with MSG_TRUNC also returns the datagram's real length, which Asio's receive_from
// loses: that is how truncation is reported instead of silently cutting the datagram. A result
// found at once is delivered through post(): a handler must not run inside the call that started
// its operation. The async_wait is the only cancellable part, so timeouts and cancellation reach
// an operation exactly while it waits.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>

#include <cosock/detail/operation.hpp>
#include <cosock/detail/socket_core.hpp>
#include <cosock/export.hpp>

namespace cosock::detail {

using udp_core = socket_core<boost::asio::ip::udp::socket>;

/// One non-blocking recvmsg(MSG_DONTWAIT | MSG_TRUNC) into `buffer` (udp.cpp): fills `info` and
/// returns no error, or returns the errno (`would_block` when no datagram waits).
COSOCK_EXPORT error_code try_receive(int fd, boost::asio::mutable_buffer buffer, datagram_info& info);

/// One non-blocking sendto (or send, when `to` is null) with MSG_DONTWAIT | MSG_NOSIGNAL
/// (udp.cpp): sets `sent` and returns no error, or returns the errno.
COSOCK_EXPORT error_code try_send(int fd, boost::asio::const_buffer data,
                                  const boost::asio::ip::udp::endpoint* to, std::size_t& sent);

/// The local address for error messages: refreshed while the port is 0, since an unbound
/// endpoint gets its port at its first send (udp.cpp).
COSOCK_EXPORT const address& local_where(udp_core& c);

/// Where a receive puts its bytes: the caller's buffer, or a string the operation owns.
inline boost::asio::mutable_buffer buffer_of(boost::asio::mutable_buffer b) {
    return b;
}
inline boost::asio::mutable_buffer buffer_of(std::string& s) {
    return boost::asio::buffer(s);
}

/// Receives one datagram into `storage` and completes `h(error_code, datagram_info, Storage)`:
/// recvmsg first; on EAGAIN waits until the socket is readable and tries again. `initiating`:
/// called from the operation's start, so a result found at once is posted, not delivered inline.
template <class Storage, class Handler>
void receive_datagram(udp_core* c, Storage storage, Handler h, bool initiating) {
    datagram_info info;
    auto ec = try_receive(c->socket.native_handle(), buffer_of(storage), info);
    if (ec == boost::asio::error::would_block) {
        auto retry = [c, storage = std::move(storage)](auto&& h, error_code ec) mutable {
            if (ec) return std::move(h)(ec, datagram_info(), std::move(storage));
            receive_datagram(c, std::move(storage), std::move(h), false);
        };
        c->socket.async_wait(boost::asio::socket_base::wait_read, intercept{std::move(h), std::move(retry)});
        return;
    }
    if (!initiating) return std::move(h)(ec, std::move(info), std::move(storage));
    post_completion(c->socket.get_executor(), std::move(h), ec, std::move(info), std::move(storage));
}

/// Sends one datagram (to `to`, or to the connected peer when `to` is null) and completes
/// `h(error_code, bytes sent)`: sendto first; on EAGAIN waits until the socket is writable.
template <class Handler>
void send_datagram(udp_core* c, boost::asio::const_buffer data, const boost::asio::ip::udp::endpoint* to,
                   Handler h, bool initiating) {
    std::size_t sent = 0;
    auto ec = try_send(c->socket.native_handle(), data, to, sent);
    if (ec == boost::asio::error::would_block) {
        auto retry = [c, data, target = to ? *to : boost::asio::ip::udp::endpoint(),
                      has_target = to != nullptr](auto&& h, error_code ec) {
            if (ec) return std::move(h)(ec, std::size_t(0));
            send_datagram(c, data, has_target ? &target : nullptr, std::move(h), false);
        };
        c->socket.async_wait(boost::asio::socket_base::wait_write, intercept{std::move(h), std::move(retry)});
        return;
    }
    if (!initiating) return std::move(h)(ec, sent);
    post_completion(c->socket.get_executor(), std::move(h), ec, sent);
}

/// The `done` of recv_from / recv: the string cut to the datagram, or datagram_truncated.
inline auto truncation_is_an_error() {
    return [](auto&& h, error_code ec, auto&& info, auto&& data) {
        if (!ec && info.truncated) ec = make_error_code(errc::datagram_truncated);
        data.resize(ec ? 0 : info.size);
        std::move(h)(ec, std::move(data), std::move(info.sender));
    };
}

/// The operation of `recv_from(max)` and `recv(max)`: yields what `Finish(data, sender)` makes.
template <class T, class Where, class Finish>
auto receive_string(udp_core* c, const char* what, Where where, std::size_t max, Finish finish) {
    return make_operation<T>(what, where, c->timeout, [c, max, finish](auto handler, auto timeout) {
        c->template launch<T>(role::read, timeout, std::move(handler), [c, max, finish](auto h) {
            auto done = [finish](auto&& h, error_code ec, auto&& data, auto&& sender) {
                std::move(h)(ec, finish(std::move(data), std::move(sender)));
            };
            receive_datagram(c, std::string(max, '\0'),
                             intercept{intercept{std::move(h), std::move(done)}, truncation_is_an_error()},
                             true);
        });
    });
}

/// Whom a send goes to: an address, the connected peer, or nobody (a host name, refused).
enum class send_target { address, peer, name };

/// The operation of `send_to` and `send`.
template <class Where>
auto send_operation(udp_core* c, const char* what, Where where,
                           boost::asio::const_buffer data, send_target kind,
                           boost::asio::ip::udp::endpoint to = {}) {
    return make_operation<std::size_t>(
        what, where, c->timeout, [c, data, kind, to](auto handler, auto timeout) {
            c->template launch<std::size_t>(role::write, timeout, std::move(handler), [&](auto h) {
                if (kind == send_target::name)
                    return post_completion(c->socket.get_executor(), std::move(h), error_code(make_error_code(errc::bad_address)),
                                           std::size_t(0));
                send_datagram(c, data, kind == send_target::address ? &to : nullptr, std::move(h), true);
            });
        });
}

}  // namespace cosock::detail

namespace cosock {

inline auto udp_endpoint::send_to(boost::asio::const_buffer data, const address& to) {
    auto* c = &core_.core("send_to");
    if (!to.is_numeric()) return detail::send_operation(c, "send_to", to, data, detail::send_target::name);
    return detail::send_operation(c, "send_to", to, data, detail::send_target::address, to.udp_endpoint());
}

inline auto udp_endpoint::send_to(std::string_view data, const address& to) {
    return send_to(boost::asio::buffer(data), to);
}

inline auto udp_endpoint::recv_from(std::size_t max) {
    auto* c = &core_.core("recv_from");
    return detail::receive_string<std::pair<std::string, address>>(
        c, "recv_from on", &detail::local_where(*c), max,
        [](std::string data, address sender) { return std::pair(std::move(data), std::move(sender)); });
}

inline auto udp_endpoint::recv_from_into(boost::asio::mutable_buffer buffer) {
    auto* c = &core_.core("recv_from_into");
    return detail::make_operation<datagram_info>(
        "recv_from_into on", &detail::local_where(*c), c->timeout, [c, buffer](auto handler, auto timeout) {
            c->template launch<datagram_info>(detail::role::read, timeout, std::move(handler), [&](auto h) {
                auto done = [](auto&& h, detail::error_code ec, auto&& info, auto&&) { std::move(h)(ec, std::move(info)); };
                detail::receive_datagram(c, buffer, detail::intercept{std::move(h), std::move(done)}, true);
            });
        });
}

inline auto udp_endpoint::send(boost::asio::const_buffer data) {
    auto* c = &core_.core("send");
    bool connected = c->endpoint.port() != 0;
    return detail::send_operation(c, connected ? "send to" : "send on",
                                  connected ? address(c->endpoint) : detail::local_where(*c), data,
                                  detail::send_target::peer);
}

inline auto udp_endpoint::send(std::string_view data) {
    return send(boost::asio::buffer(data));
}

inline auto udp_endpoint::recv(std::size_t max) {
    auto* c = &core_.core("recv");
    bool connected = c->endpoint.port() != 0;
    return detail::receive_string<std::string>(c, connected ? "recv from" : "recv on",
                                               connected ? address(c->endpoint) : detail::local_where(*c),
                                               max, [](std::string data, address) { return data; });
}

}  // namespace cosock
