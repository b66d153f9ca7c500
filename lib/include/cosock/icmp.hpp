// cosock/icmp.hpp — raw sockets: icmp_socket sends ICMP echo requests ("ping") over IPv4.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/icmp.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/operation.hpp>
#include <cosock/detail/socket_core.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>

namespace cosock {

/// A raw ICMP socket for IPv4, for one job: echo requests, the "ping" of ping(8). Python:
/// `socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)`. Move-only; closing is
/// the destructor's job, or `close()`.
///
/// Raw sockets need privilege: the process must have CAP_NET_RAW (root has it), else `open`
/// throws, saying so. The kernel gives every raw ICMP socket of the host a copy of each ICMP
/// packet that arrives, so each socket has an `identifier` of its own: a `ping` recognises its
/// reply by that identifier, its sequence number, the address pinged and a valid checksum, and
/// ignores everything else (other programs' replies, the request itself seen on loopback). The
/// socket asks the kernel (ICMP_FILTER) to pass it echo replies only, which spares it most of
/// that traffic.
///
/// `ping` returns an operation: awaited, it yields the round-trip time or throws a
/// `cosock::error` ("ping 127.0.0.1: Network is unreachable"); `cosock::nothrow(op)` gives
/// `(error_code, duration)` instead, and `cosock::timeout(d, op)` a timeout for that one ping
/// (a lost request or reply is only noticed by a timeout: set one). One ping at a time: a
/// second one while the first is pending fails with `errc::concurrent_read`. Destroying or
/// closing the socket while a ping is pending is safe: the ping fails with `operation_aborted`.
///
/// Example:
///     auto sk = cosock::icmp_socket::open();   // needs CAP_NET_RAW
///     sk.set_timeout(1s);
///     auto rtt = co_await sk.ping({"127.0.0.1", 0}, 1);
class COSOCK_EXPORT icmp_socket {
public:
    using socket_type = boost::asio::ip::icmp::socket;  ///< the Asio socket underneath

    /// The payload of an echo request unless `ping` is given one: 56 bytes, as ping(8) sends,
    /// which makes 64-byte ICMP messages.
    static constexpr std::string_view default_payload =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123";

    /// A socket that is not open; `ping` on it throws `errc::not_open`.
    icmp_socket() = default;

    /// Opens a raw ICMP socket on the event loop of `cosock::run`. Without CAP_NET_RAW it throws
    /// `cosock::error` (code EPERM): "open raw ICMP socket: Operation not permitted (needs
    /// CAP_NET_RAW: run as root, or setcap cap_net_raw+ep on the program)". Python:
    /// `socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)`.
    static icmp_socket open();
    static icmp_socket open(boost::asio::any_io_executor executor);  ///< the same, on `executor`

    /// Sends one echo request (ICMP type 8: this socket's identifier, `sequence`, `payload`,
    /// the checksum) to `to`, a numeric IPv4 address (its port is not used), and waits for the
    /// matching echo reply; yields the round-trip time, `std::chrono::steady_clock::duration`.
    /// `payload` is copied: it need not outlive the call. Errors: "ping [::1]: ICMP echo here is
    /// IPv4 only" (`code() == std::errc::address_family_not_supported`), "ping localhost: ping
    /// takes a numeric IPv4 address, not a host name" (`std::errc::invalid_argument`), "ping
    /// 127.0.0.1: Message too long" (a payload over 65507 bytes), "ping 127.0.0.1: timed out
    /// after 1 s" (`timeout_error`). Python: `sk.sendto(packet, (host, 0))`, then `sk.recv()`
    /// until the reply comes.
    auto ping(const address& to, std::uint16_t sequence, std::string_view payload = default_payload);

    /// The identifier in this socket's echo requests (ICMP's "identifier" field): chosen at
    /// `open`, different for each socket of the process, random between processes.
    std::uint16_t identifier() const noexcept { return identifier_; }

    /// The timeout of each later ping; zero: none. Starts as `cosock::default_timeout()`. A ping
    /// that takes longer is cancelled and throws `timeout_error` ("ping 127.0.0.1: timed out
    /// after 1 s"); the socket stays usable. Python: `sk.settimeout(1)` / `sk.gettimeout()`.
    void set_timeout(std::chrono::steady_clock::duration timeout);
    std::chrono::steady_clock::duration timeout() const;  ///< the current one; zero: none

    /// Closes now; a pending ping fails with `operation_aborted`. Python: `sk.close()`.
    void close();
    bool is_open() const noexcept;  ///< false after `close()`, when moved from, or never opened

    /// The descriptor, for socket options cosock lacks (IP_TTL, IP_OPTIONS, ICMP_FILTER).
    /// Python: `sk.fileno()`.
    int native_handle();

private:
    using core_type = detail::socket_core<socket_type>;

    icmp_socket(socket_type socket, std::uint16_t identifier);

    detail::core_owner<socket_type> core_;
    std::uint16_t identifier_ = 0;
};

}  // namespace cosock

// --- the ping operation (plumbing: skip on a first read) ------------------------------------------
// A ping is one sendto of the request, then recv until the reply is there: each recv takes one
// packet with its IPv4 header (a raw socket gets the whole datagram), which `try_receive_echo_reply`
// (icmp.cpp) checks and drops when it is not the reply. When no packet waits, the operation
// waits until the socket is readable (socket.async_wait): that wait is the only cancellable part,
// so timeouts, close and cancellation reach a ping exactly while it waits, as for udp_endpoint.
namespace cosock::detail {

using icmp_core = socket_core<boost::asio::ip::icmp::socket>;

/// One ping in flight, moved along with its handler.
struct echo_exchange {
    boost::asio::ip::icmp::endpoint to;  // the address pinged; its replies come from there
    std::string request;                 // the whole echo request: ICMP header and payload
    std::string reply;                   // room for one received packet: IPv4 header, then ICMP
    std::uint16_t identifier = 0;
    std::uint16_t sequence = 0;
    std::chrono::steady_clock::time_point sent;      // when the request left
    std::chrono::steady_clock::time_point received;  // when its reply was read
};

/// An echo request (type 8, code 0): header with `identifier`, `sequence` and the checksum, then
/// `payload`.
COSOCK_EXPORT std::string make_echo_request(std::uint16_t identifier, std::uint16_t sequence,
                                            std::string_view payload);

/// The error of pinging `to`, or none: IPv6 and host names are refused with a message of their
/// own (a "cosock.icmp" error category whose codes compare equal to std::errc values).
COSOCK_EXPORT error_code ping_target_error(const address& to);

/// How a ping names its target in messages: "127.0.0.1", "[::1]", "localhost".
COSOCK_EXPORT std::string ping_where(const address& to);

/// One non-blocking sendto of the request; sets `x.sent`. Returns the errno, if any.
COSOCK_EXPORT error_code try_send_echo_request(int fd, echo_exchange& x);

/// Non-blocking recvs until the reply to `x` is read (no error, `x.received` set), no packet
/// waits or 64 others were dropped (`would_block`: wait for readability), or recv fails.
COSOCK_EXPORT error_code try_receive_echo_reply(int fd, echo_exchange& x);

/// Reads packets until the reply; on `would_block` waits until the socket is readable.
/// `initiating`: called from the operation's start, so a result found at once goes through
/// complete_now (inline only into an awaiting coroutine), never straight into `h`.
template <class Handler>
void await_echo_reply(icmp_core* c, echo_exchange x, Handler h, bool initiating) {
    auto ec = try_receive_echo_reply(c->socket.native_handle(), x);
    if (ec == boost::asio::error::would_block) {
        auto retry = [c, x = std::move(x)](auto&& h, error_code ec) mutable {
            if (ec) return std::move(h)(ec, std::chrono::steady_clock::duration());
            await_echo_reply(c, std::move(x), std::move(h), false);
        };
        c->socket.async_wait(boost::asio::socket_base::wait_read, intercept{std::move(h), std::move(retry)});
        return;
    }
    auto rtt = ec ? std::chrono::steady_clock::duration() : x.received - x.sent;
    if (!initiating) return std::move(h)(ec, rtt);
    complete_now(c->socket.get_executor(), std::move(h), ec, rtt);
}

/// Sends the request (waiting until the socket is writable on EAGAIN), then awaits the reply.
template <class Handler>
void send_echo_request(icmp_core* c, echo_exchange x, Handler h, bool initiating) {
    auto ec = try_send_echo_request(c->socket.native_handle(), x);
    if (ec == boost::asio::error::would_block) {
        auto retry = [c, x = std::move(x)](auto&& h, error_code ec) mutable {
            if (ec) return std::move(h)(ec, std::chrono::steady_clock::duration());
            send_echo_request(c, std::move(x), std::move(h), false);
        };
        c->socket.async_wait(boost::asio::socket_base::wait_write, intercept{std::move(h), std::move(retry)});
        return;
    }
    if (ec && !initiating) return std::move(h)(ec, std::chrono::steady_clock::duration());
    if (ec)
        return complete_now(c->socket.get_executor(), std::move(h), ec,
                            std::chrono::steady_clock::duration());
    await_echo_reply(c, std::move(x), std::move(h), initiating);
}

}  // namespace cosock::detail

namespace cosock {

inline auto icmp_socket::ping(const address& to, std::uint16_t sequence, std::string_view payload) {
    using duration = std::chrono::steady_clock::duration;
    auto* c = &core_.core("ping");
    auto refused = detail::ping_target_error(to);
    detail::echo_exchange x;
    if (!refused) {
        x.to = boost::asio::ip::icmp::endpoint(to.ip(), 0);
        x.request = detail::make_echo_request(identifier_, sequence, payload);
        x.reply.resize(60 + x.request.size());  // the longest IPv4 header, then our own message
        x.identifier = identifier_;
        x.sequence = sequence;
    }
    return detail::make_operation<duration>(
        "ping", detail::ping_where(to), c->timeout,
        [c, keep = detail::core_ref(*c), refused, x = std::move(x)](auto handler, auto timeout) mutable {
            c->template launch<duration>(detail::role::read, timeout, std::move(handler), [&](auto h) {
                if (refused)
                    return detail::complete_now(c->socket.get_executor(), std::move(h), refused, duration());
                detail::send_echo_request(c, std::move(x), std::move(h), true);
            });
        });
}

}  // namespace cosock
