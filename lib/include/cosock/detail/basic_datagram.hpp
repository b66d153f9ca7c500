// cosock/detail/basic_datagram.hpp — what the datagram types of every family share: basic_datagram
// holds the operations of udp_endpoint and unix_datagram, written once (their bodies are in
// datagram_operations.hpp). Read udp.hpp for what each operation does.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/buffer.hpp>

#include <cosock/detail/basic_socket.hpp>
#include <cosock/export.hpp>

namespace cosock {

/// What `recv_from_into` received: one datagram, never silently cut (`datagram_info` for UDP,
/// whose sender is an `address`; `unix_datagram_info` for Unix-domain sockets, a path).
template <class Peer>
struct basic_datagram_info {
    /// Bytes written into the caller's buffer: `full_size`, or the buffer's size when truncated.
    std::size_t size = 0;
    /// Who sent it (the peer, on a connected endpoint).
    Peer sender;
    /// The datagram was longer than the buffer: only its first `size` bytes are there, the rest
    /// is gone (the kernel drops it, as for Python's `recvfrom_into`, which does not say so).
    bool truncated = false;
    /// The datagram's real length, also when it was truncated (recvmsg's MSG_TRUNC).
    std::size_t full_size = 0;
};

/// One datagram of `recv_many`: its bytes (at most the `max_size` asked for), its sender, and
/// whether it was longer (then `data` holds its first bytes and `full_size` its length).
template <class Peer>
struct basic_received_datagram {
    std::string data;
    Peer sender;
    bool truncated = false;
    std::size_t full_size = 0;
};

/// A buffer of `recv_many_into` and what it received there: `info` as `recv_from_into` fills it.
template <class Peer>
struct basic_datagram_slot {
    boost::asio::mutable_buffer buffer;
    basic_datagram_info<Peer> info;
};

/// One datagram of `send_many`: its bytes, which must stay alive until the operation
/// completes, and where it goes (a numeric address, or a path).
template <class Peer>
struct basic_outgoing_datagram {
    boost::asio::const_buffer data;
    Peer to;
};

}  // namespace cosock

namespace cosock::detail {

/// A datagram socket of `Protocol` (Asio's ip::udp or local::datagram_protocol).
template <class Protocol>
class COSOCK_EXPORT basic_datagram : public basic_socket<typename Protocol::socket> {
public:
    using socket_type = typename Protocol::socket;
    /// How peers are named: `cosock::address` for UDP, a path for Unix-domain sockets.
    using peer_type = typename where_of<Protocol>::type;
    using info_type = basic_datagram_info<peer_type>;

    /// Sends `data` as one datagram to `to` (numeric); yields the byte count (all of it). An
    /// empty `data` sends an empty datagram. `data` must stay alive until the operation
    /// completes. Errors: "send_to 127.0.0.1:9000: Message too long" (over 65507 bytes on IPv4),
    /// "send_to localhost:9000: bad address" (a name: see `resolve`). Python: `sk.sendto(data,
    /// addr)`.
    auto send_to(boost::asio::const_buffer data, const peer_type& to);
    auto send_to(std::string_view data, const peer_type& to) {
        return send_to(boost::asio::buffer(data), to);
    }

    /// Receives one datagram of at most `max` bytes; yields `std::pair<std::string, address>`,
    /// the datagram and its sender. An empty datagram yields an empty string (UDP has no end of
    /// stream). A longer datagram is an error, not silently cut as in Python: `errc::
    /// datagram_truncated`, "recv_from on 127.0.0.1:9000: datagram truncated: longer than the
    /// receive buffer" (the datagram is gone; `recv_from_into` says how long it was).
    /// Python: `msg, addr = sk.recvfrom(1024)`.
    auto recv_from(std::size_t max);

    /// Receives one datagram into `buffer`; yields a `datagram_info` (size, sender, and whether it
    /// was truncated with its full size: truncation is reported there, not as an error).
    /// Allocates nothing. Python: `nbytes, addr = sk.recvfrom_into(buf)`.
    auto recv_from_into(boost::asio::mutable_buffer buffer);

    /// Sends `data` as one datagram to the connected peer; yields the byte count. Without
    /// `connect`: "send on 0.0.0.0:5000: Destination address required". Python: `sk.send(data)`.
    auto send(boost::asio::const_buffer data);
    auto send(std::string_view data) { return send(boost::asio::buffer(data)); }

    /// Receives one datagram of at most `max` bytes from the connected peer (from anyone when not
    /// connected); yields it ("" for an empty datagram). Longer ones fail with
    /// `errc::datagram_truncated` as in `recv_from`. Python: `sk.recv(1024)`.
    auto recv(std::size_t max);

    // --- batches: one system call (recvmmsg, sendmmsg) for many datagrams. ---

    /// The most datagrams one `recv_many` or `recv_many_into` yields: one recvmmsg's worth.
    static constexpr std::size_t max_batch = 64;

    /// Waits for datagrams and receives those waiting, up to `max_datagrams` (and `max_batch`),
    /// each of at most `max_size` bytes, in one recvmmsg. Yields a non-empty
    /// `std::vector<received_datagram>` (unix: `unix_received_datagram`). A longer datagram is not
    /// an error here, unlike in `recv_from`: it comes cut, with `truncated` and `full_size`
    /// saying so, and the others of the batch are not lost. Allocates a buffer of
    /// max_datagrams x max_size and a string per datagram; `recv_many_into` allocates nothing.
    /// An operation like `recv_from` (one receive at a time, timeouts, cancellation, `nothrow`).
    /// Throws `cosock::error` (`std::errc::invalid_argument`) at the call when `max_datagrams`
    /// or `max_size` is 0: "recv_many on 127.0.0.1:9000: asks for 0 datagrams of up to 1500
    /// bytes: both must be at least 1". Python: none (a loop of `recvfrom`).
    ///
    /// Example:
    ///     auto batch = co_await sk.recv_many(32, 1500);
    ///     for (auto& d : batch)
    ///         fmt::print("{} bytes from {}{}\n", d.data.size(), d.sender, d.truncated ? " (cut)" : "");
    auto recv_many(std::size_t max_datagrams, std::size_t max_size);

    /// `recv_many` into the caller's buffers: waits, then fills `slots[i].info` (size, sender,
    /// truncated, full_size) for the datagrams received into `slots[i].buffer`, and yields
    /// their number n (1 to `min(slots.size(), max_batch)`): slots[0..n) hold them. Allocates
    /// nothing. The buffers must stay alive until the operation completes. Throws
    /// `std::errc::invalid_argument` at the call for an empty `slots`.
    auto recv_many_into(std::span<basic_datagram_slot<peer_type>> slots);

    /// Sends every datagram of `datagrams` in order, each to its `to` (numeric), in as few
    /// sendmmsg calls as the socket allows (waiting for room when it is full); yields how many
    /// were sent: all of them. At the first datagram that fails it stops with that datagram's
    /// error ("send_many on 127.0.0.1:5000: Message too long"), `nothrow` giving `(ec, n)`:
    /// datagrams[n] failed, those before it went. A timeout's `transferred()` counts datagrams.
    /// An empty `datagrams` yields 0. A host name in `to` fails with `errc::bad_address` before
    /// anything is sent. Python: none (a loop of `sendto`).
    auto send_many(std::span<const basic_outgoing_datagram<peer_type>> datagrams);

    /// The Asio socket, for anything cosock lacks.
    socket_type& asio_socket() { return this->core_.core("asio_socket").socket; }

protected:
    using base = basic_socket<socket_type>;
    using typename base::core_type;

    basic_datagram() = default;
    explicit basic_datagram(core_type* core) : base(core) {}
};

}  // namespace cosock::detail
