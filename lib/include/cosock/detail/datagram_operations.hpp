// cosock/detail/datagram_operations.hpp — the inline bodies of basic_datagram's operations, shared
// by udp_endpoint and unix_datagram (templates on the completion handler, so they live in a
// header). Read udp.hpp first, and basic_stream.hpp for the shape every operation shares.
//
// Sending tries the system call first (sendto with MSG_DONTWAIT: the send buffer usually has room)
// and completes at once (complete_now), waiting for writability (socket.async_wait) only on
// EAGAIN. Receiving is Asio's receive_from with MSG_TRUNC: Asio tries recvfrom at once and, on
// EAGAIN, waits on the edge-triggered registration without an epoll_ctl (an async_wait would
// make one per datagram); MSG_TRUNC makes recvfrom return the datagram's real length, which is
// how truncation is reported instead of silently cutting the datagram. Cancellation and timeouts
// reach an operation while it waits.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>

#include <cosock/detail/basic_datagram.hpp>
#include <cosock/detail/operation.hpp>
#include <cosock/detail/socket_core.hpp>
#include <cosock/export.hpp>

namespace cosock::detail {

/// One non-blocking sendto (or send, when `name` is null) with MSG_DONTWAIT | MSG_NOSIGNAL
/// (udp.cpp): sets `sent` and returns no error, or returns the errno.
COSOCK_EXPORT error_code try_send(int fd, boost::asio::const_buffer data, const void* name,
                                  std::size_t name_size, std::size_t& sent);

/// The local address for error messages: refreshed while the port is 0, since an unbound UDP
/// endpoint gets its port at its first send (udp.cpp). A Unix-domain socket's is fixed.
COSOCK_EXPORT const address& local_where(socket_core<boost::asio::ip::udp::socket>& c);
inline const std::string& local_where(socket_core<boost::asio::local::datagram_protocol::socket>& c) {
    return c.where;
}

/// True when the socket has a fixed peer (`connect`).
inline bool has_peer(const socket_core<boost::asio::ip::udp::socket>& c) {
    return c.endpoint.port() != 0;
}
inline bool has_peer(const socket_core<boost::asio::local::datagram_protocol::socket>& c) {
    return c.endpoint.size() > sizeof(sa_family_t);
}

/// Receives one datagram into `buffer` and completes `h(error_code, datagram_info)`. The sender's
/// address lands in the core's `sender` (the one pending receive owns it).
template <class Core, class Handler>
void receive_datagram(Core* c, boost::asio::mutable_buffer buffer, Handler h) {
    auto done = [c, capacity = buffer.size()](auto&& h, error_code ec, std::size_t full_size) {
        basic_datagram_info<typename Core::where_type> info;
        if (!ec) {
            info.full_size = full_size;  // MSG_TRUNC: the real length, even when it did not fit
            info.size = std::min(full_size, capacity);
            info.truncated = full_size > capacity;
            info.sender = peer_of(c->sender);
        }
        std::move(h)(ec, std::move(info));
    };
    c->socket.async_receive_from(buffer, c->sender, MSG_TRUNC, intercept{std::move(h), std::move(done)});
}

/// Sends one datagram (to `to`, or to the connected peer when `to` is null) and completes
/// `h(error_code, bytes sent)`: sendto first; on EAGAIN waits until the socket is writable.
template <class Core, class Handler>
void send_datagram(Core* c, boost::asio::const_buffer data, const typename Core::endpoint_type* to, Handler h,
                   bool initiating) {
    std::size_t sent = 0;
    auto ec = to ? try_send(c->socket.native_handle(), data, to->data(), to->size(), sent)
                 : try_send(c->socket.native_handle(), data, nullptr, 0, sent);
    if (ec == boost::asio::error::would_block) {
        auto retry = [c, data, target = to ? *to : typename Core::endpoint_type(),
                      has_target = to != nullptr](auto&& h, error_code ec) {
            if (ec) return std::move(h)(ec, std::size_t(0));
            send_datagram(c, data, has_target ? &target : nullptr, std::move(h), false);
        };
        c->socket.async_wait(boost::asio::socket_base::wait_write, intercept{std::move(h), std::move(retry)});
        return;
    }
    if (!initiating) return std::move(h)(ec, sent);
    complete_now(c->socket.get_executor(), std::move(h), ec, sent);
}

/// The operation of `recv_from(max)` and `recv(max)`: yields what `Finish(data, sender)` makes;
/// a datagram longer than `max` fails with datagram_truncated.
template <class T, class Core, class Where, class Finish>
auto receive_string(Core* c, const char* what, Where where, std::size_t max, Finish finish) {
    return make_operation<T>(
        what, where, c->timeout, [c, keep = core_ref(*c), max, finish](auto handler, auto timeout) {
            c->template launch<T>(role::read, timeout, std::move(handler), [c, max, finish](auto h) {
                // On the heap so that its bytes stay put while the handler moves around.
                auto data = std::make_unique<std::string>(max, '\0');
                auto buffer = boost::asio::buffer(*data);
                auto done = [finish, data = std::move(data)](auto&& h, error_code ec, auto&& info) {
                    if (!ec && info.truncated) ec = make_error_code(errc::datagram_truncated);
                    data->resize(ec ? 0 : info.size);
                    std::move(h)(ec, finish(std::move(*data), std::move(info.sender)));
                };
                receive_datagram(c, buffer, intercept{std::move(h), std::move(done)});
            });
        });
}

/// Whom a send goes to: an address, the connected peer, or nobody (a host name, refused).
enum class send_target { address, peer, name };

/// The operation of `send_to` and `send`.
template <class Core, class Where>
auto send_operation(Core* c, const char* what, Where where, boost::asio::const_buffer data, send_target kind,
                    typename Core::endpoint_type to = {}) {
    return make_operation<std::size_t>(
        what, where, c->timeout, [c, keep = core_ref(*c), data, kind, to](auto handler, auto timeout) {
            c->template launch<std::size_t>(role::write, timeout, std::move(handler), [&](auto h) {
                if (kind == send_target::name)
                    return complete_now(c->socket.get_executor(), std::move(h),
                                        error_code(make_error_code(errc::bad_address)), std::size_t(0));
                send_datagram(c, data, kind == send_target::address ? &to : nullptr, std::move(h), true);
            });
        });
}

}  // namespace cosock::detail

namespace cosock::detail {

template <class Protocol>
auto basic_datagram<Protocol>::send_to(boost::asio::const_buffer data, const peer_type& to) {
    auto* c = &this->core_.core("send_to");
    if constexpr (std::is_same_v<peer_type, address>) {
        if (!to.is_numeric()) return send_operation(c, "send_to", to, data, send_target::name);
    }
    return send_operation(c, "send_to", to, data, send_target::address, endpoint_of<Protocol>(to));
}

template <class Protocol>
auto basic_datagram<Protocol>::recv_from(std::size_t max) {
    auto* c = &this->core_.core("recv_from");
    return receive_string<std::pair<std::string, peer_type>>(
        c, "recv_from on", &local_where(*c), max,
        [](std::string data, peer_type sender) { return std::pair(std::move(data), std::move(sender)); });
}

template <class Protocol>
auto basic_datagram<Protocol>::recv_from_into(boost::asio::mutable_buffer buffer) {
    auto* c = &this->core_.core("recv_from_into");
    return make_operation<info_type>("recv_from_into on", &local_where(*c), c->timeout,
                                     [c, keep = core_ref(*c), buffer](auto handler, auto timeout) {
                                         c->template launch<info_type>(
                                             role::read, timeout, std::move(handler),
                                             [&](auto h) { receive_datagram(c, buffer, std::move(h)); });
                                     });
}

template <class Protocol>
auto basic_datagram<Protocol>::send(boost::asio::const_buffer data) {
    auto* c = &this->core_.core("send");
    bool connected = has_peer(*c);
    return send_operation(c, connected ? "send to" : "send on",
                          connected ? peer_type(peer_of(c->endpoint)) : local_where(*c), data,
                          send_target::peer);
}

template <class Protocol>
auto basic_datagram<Protocol>::recv(std::size_t max) {
    auto* c = &this->core_.core("recv");
    bool connected = has_peer(*c);
    return receive_string<std::string>(c, connected ? "recv from" : "recv on",
                                       connected ? peer_type(peer_of(c->endpoint)) : local_where(*c), max,
                                       [](std::string data, peer_type) { return data; });
}

}  // namespace cosock::detail
