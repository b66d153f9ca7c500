// cosock/detail/datagram_operations.hpp — the inline bodies of basic_datagram's operations, shared
// by udp_endpoint and unix_datagram (templates on the completion handler, so they live in a
// header). Read udp.hpp first, and basic_stream.hpp for the shape every operation shares.
//
// Sending tries the system call first (sendto with MSG_DONTWAIT: the send buffer usually has room)
// and completes at once (complete_now), waiting for writability (socket.async_wait) only on
// EAGAIN. Receiving (recvmsg or recvmmsg with MSG_TRUNC, which makes the kernel return each
// datagram's real length: how truncation is reported instead of silently cutting the datagram)
// goes through edge_reads.hpp where it is built: a datagram waiting now completes at once, inline
// into the awaiting coroutine, so that a busy socket's datagrams do not each cost a trip through
// the event loop and its epoll_wait; a receive that finds none clears the reactor's "try at once"
// flag and waits for its next event, without an epoll_ctl. Elsewhere Asio's receive_from and
// async_wait do the same work. Cancellation and timeouts reach an operation while it waits.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>

#include <fmt/format.h>
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

/// recvmmsg with MSG_DONTWAIT | MSG_TRUNC into `count` prepared messages: sets `received` (each
/// message's msg_len is then its datagram's real length) or returns the errno (udp.cpp).
COSOCK_EXPORT error_code try_recv_batch(int fd, mmsghdr* messages, std::size_t count, std::size_t& received);

/// sendmmsg with MSG_DONTWAIT | MSG_NOSIGNAL of `count` prepared messages: sets `sent` (maybe
/// fewer than `count`) or returns the errno of the first message (udp.cpp).
COSOCK_EXPORT error_code try_send_batch(int fd, mmsghdr* messages, std::size_t count, std::size_t& sent);

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
    auto finish = intercept{std::move(h), std::move(done)};
    if constexpr (edge::available && resumes_awaiting_coroutine<Handler>::value) {
        // A datagram waiting now completes at once; none, and the receive waits for epoll's next
        // event. The reactor's flag decides whether to try, as for streams (edge_reads.hpp).
        auto where = edge::registration_of(c->socket, c->reactor);
        std::size_t name_size = c->sender.capacity(), got = 0;
        auto attempt = [&] {
            return edge::receive_datagram_now(where.fd, buffer, c->sender.data(), name_size, got);
        };
        auto ec = edge::try_receive(where, attempt);
        if (ec != boost::asio::error::would_block) {
            if (!ec) c->sender.resize(name_size);
            return complete_now(c->socket.get_executor(), std::move(finish), ec, got);
        }
        return edge::async_receive_from(c->socket, c->reactor, buffer, c->sender, std::move(finish));
    }
    c->socket.async_receive_from(buffer, c->sender, MSG_TRUNC, std::move(finish));
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

/// A message header of a batch: one buffer, one peer name of `name_size` bytes at `name`.
inline mmsghdr batch_message(iovec* buffer, void* name, std::size_t name_size) {
    mmsghdr m{};
    m.msg_hdr.msg_name = name;
    m.msg_hdr.msg_namelen = static_cast<socklen_t>(name_size);
    m.msg_hdr.msg_iov = buffer;
    m.msg_hdr.msg_iovlen = 1;
    return m;
}

/// Receives the datagrams waiting now into the first `slots` (at most `max_batch`, one recvmmsg:
/// an error after some datagrams stays with the socket for the next call). The headers live on
/// the stack for the call only, so that a batch allocates nothing. `would_block` when none.
template <class Core, class Peer>
error_code receive_batch_now(Core* c, std::span<basic_datagram_slot<Peer>> slots, std::size_t& got) {
    constexpr std::size_t limit = basic_datagram<typename Core::endpoint_type::protocol_type>::max_batch;
    std::size_t count = std::min(slots.size(), limit);
    std::array<mmsghdr, limit> messages;
    std::array<iovec, limit> buffers;
    std::array<typename Core::endpoint_type, limit> from;
    for (std::size_t i = 0; i < count; ++i) {
        buffers[i] = iovec{slots[i].buffer.data(), slots[i].buffer.size()};
        messages[i] = batch_message(&buffers[i], from[i].data(), from[i].capacity());
    }
    got = 0;
    auto attempt = [&] { return try_recv_batch(c->socket.native_handle(), messages.data(), count, got); };
    error_code ec;
    if constexpr (edge::available)
        ec = edge::try_receive(edge::registration_of(c->socket, c->reactor), attempt);
    else
        ec = attempt();
    for (std::size_t i = 0; i < got; ++i) {
        auto& info = slots[i].info;
        from[i].resize(messages[i].msg_hdr.msg_namelen);
        info.full_size = messages[i].msg_len;  // MSG_TRUNC: the real length, even when it did not fit
        info.size = std::min(info.full_size, slots[i].buffer.size());
        info.truncated =
            info.full_size > slots[i].buffer.size() || (messages[i].msg_hdr.msg_flags & MSG_TRUNC);
        info.sender = peer_of(from[i]);
    }
    return ec;
}

/// Receives a batch into `slots` and completes `h(error_code, datagrams received)`: recvmmsg at
/// once; when nothing waits, waits until the socket is readable (right after the recvmmsg, so
/// that no readiness edge can pass unseen) and tries again.
template <class Core, class Slots, class Handler>
void receive_batch(Core* c, Slots slots, Handler h, bool initiating) {
    std::size_t got = 0;
    auto ec = receive_batch_now(c, slots, got);
    if (ec == boost::asio::error::would_block) {
        auto retry = [c, slots](auto&& h, error_code ec, auto...) {
            if (ec) return std::move(h)(ec, std::size_t(0));
            receive_batch(c, slots, std::move(h), false);
        };
        auto wait = intercept{std::move(h), std::move(retry)};
        if constexpr (edge::available && resumes_awaiting_coroutine<Handler>::value)
            // Waits on the edge-triggered registration as it is: an async_wait would re-arm it
            // with an epoll_ctl per batch.
            edge::async_start(edge::kind::wait, c->socket, c->reactor, {}, std::move(wait));
        else
            c->socket.async_wait(boost::asio::socket_base::wait_read, std::move(wait));
        return;
    }
    if (!initiating) return std::move(h)(ec, got);
    complete_now(c->socket.get_executor(), std::move(h), ec, got);
}

/// Sends `datagrams` from number `sent` on, in sendmmsg calls of at most `max_batch`, until all
/// went or one fails (`would_block`: the send buffer is full); `sent` counts those that went.
template <class Core, class Peer>
error_code send_batch_now(Core* c, std::span<const basic_outgoing_datagram<Peer>> datagrams,
                          std::size_t& sent) {
    using protocol = typename Core::endpoint_type::protocol_type;
    constexpr std::size_t limit = basic_datagram<protocol>::max_batch;
    std::array<mmsghdr, limit> messages;
    std::array<iovec, limit> buffers;
    std::array<typename Core::endpoint_type, limit> to;
    while (sent < datagrams.size()) {
        std::size_t count = std::min(limit, datagrams.size() - sent);
        for (std::size_t i = 0; i < count; ++i) {
            auto& d = datagrams[sent + i];
            to[i] = endpoint_of<protocol>(d.to);
            buffers[i] = iovec{const_cast<void*>(d.data.data()), d.data.size()};
            messages[i] = batch_message(&buffers[i], to[i].data(), to[i].size());
        }
        std::size_t went = 0;
        if (auto ec = try_send_batch(c->socket.native_handle(), messages.data(), count, went)) return ec;
        sent += went;
    }
    return {};
}

/// Sends a batch and completes `h(error_code, datagrams sent)`: sendmmsg at once; while the
/// send buffer is full, waits until the socket is writable and goes on where it stopped.
template <class Core, class Datagrams, class Handler>
void send_batch(Core* c, Datagrams datagrams, std::size_t sent, Handler h, bool initiating) {
    auto ec = send_batch_now(c, datagrams, sent);
    if (ec == boost::asio::error::would_block) {
        auto retry = [c, datagrams, sent](auto&& h, error_code ec) {
            if (ec) return std::move(h)(ec, sent);
            send_batch(c, datagrams, sent, std::move(h), false);
        };
        c->socket.async_wait(boost::asio::socket_base::wait_write, intercept{std::move(h), std::move(retry)});
        return;
    }
    if (!initiating) return std::move(h)(ec, sent);
    complete_now(c->socket.get_executor(), std::move(h), ec, sent);
}

/// Throws the `std::errc::invalid_argument` of a batch that cannot be (udp.cpp).
[[noreturn]] COSOCK_EXPORT void bad_batch(const char* what, const std::string& where,
                                          const std::string& reason);

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
auto basic_datagram<Protocol>::recv_many_into(std::span<basic_datagram_slot<peer_type>> slots) {
    auto* c = &this->core_.core("recv_many_into");
    if (slots.empty()) bad_batch("recv_many_into on", describe(&local_where(*c)), "no slot to receive into");
    return make_operation<std::size_t>("recv_many_into on", &local_where(*c), c->timeout,
                                       [c, keep = core_ref(*c), slots](auto handler, auto timeout) {
                                           c->template launch<std::size_t>(
                                               role::read, timeout, std::move(handler),
                                               [&](auto h) { receive_batch(c, slots, std::move(h), true); });
                                       });
}

template <class Protocol>
auto basic_datagram<Protocol>::recv_many(std::size_t max_datagrams, std::size_t max_size) {
    using received = basic_received_datagram<peer_type>;
    using batch = std::vector<received>;
    auto* c = &this->core_.core("recv_many");
    if (max_datagrams == 0 || max_size == 0)
        bad_batch("recv_many on", describe(&local_where(*c)),
                  fmt::format("asks for {} datagrams of up to {} bytes: both must be at least 1",
                              max_datagrams, max_size));
    auto count = std::min(max_datagrams, max_batch);
    return make_operation<batch>(
        "recv_many on", &local_where(*c), c->timeout,
        [c, keep = core_ref(*c), count, max_size](auto handler, auto timeout) {
            c->template launch<batch>(role::read, timeout, std::move(handler), [&](auto h) {
                // One buffer for the batch, on the heap so that it stays put while the handler moves.
                struct scratch {
                    std::string bytes;
                    std::vector<basic_datagram_slot<peer_type>> slots;
                };
                auto s = std::make_unique<scratch>();
                s->bytes.resize(count * max_size);
                for (std::size_t i = 0; i < count; ++i)
                    s->slots.push_back({boost::asio::buffer(s->bytes.data() + i * max_size, max_size), {}});
                auto slots = std::span(s->slots);
                auto done = [s = std::move(s)](auto&& h, error_code ec, std::size_t n) {
                    batch out;
                    out.reserve(ec ? 0 : n);
                    for (std::size_t i = 0; !ec && i < n; ++i) {
                        auto& [buffer, info] = s->slots[i];
                        out.push_back(
                            received{std::string(static_cast<const char*>(buffer.data()), info.size),
                                     std::move(info.sender), info.truncated, info.full_size});
                    }
                    std::move(h)(ec, std::move(out));
                };
                receive_batch(c, slots, intercept{std::move(h), std::move(done)}, true);
            });
        });
}

template <class Protocol>
auto basic_datagram<Protocol>::send_many(std::span<const basic_outgoing_datagram<peer_type>> datagrams) {
    auto* c = &this->core_.core("send_many");
    bool named = false;  // a host name among the destinations: refused, as send_to refuses one
    for (auto& d : datagrams) {
        if constexpr (std::is_same_v<peer_type, address>)
            named = named || !d.to.is_numeric();
        else
            (void)unix_name(d.to, "send_many to");  // a path too long: refused at the call
    }
    return make_operation<std::size_t>(
        "send_many on", &local_where(*c), c->timeout,
        [c, keep = core_ref(*c), datagrams, named](auto handler, auto timeout) {
            c->template launch<std::size_t>(role::write, timeout, std::move(handler), [&](auto h) {
                if (named)
                    return complete_now(c->socket.get_executor(), std::move(h),
                                        error_code(make_error_code(errc::bad_address)), std::size_t(0));
                send_batch(c, datagrams, 0, std::move(h), true);
            });
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
