// cosock/detail/basic_stream.hpp — what the stream types of every transport share: basic_stream
// holds every read and write operation of tcp_stream, unix_stream and tls_stream, and their Asio
// face; basic_listener the accept of tcp_listener and unix_listener. Written once; the operations'
// bodies are in stream_operations.hpp. Read tcp.hpp for what each operation does.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/socket_base.hpp>

#include <cosock/detail/basic_socket.hpp>
#include <cosock/export.hpp>

namespace cosock {

/// The longest line `read_line` and `read_until` accept unless told otherwise: 64 KiB.
inline constexpr std::size_t default_max_line = 64 * 1024;

/// How a listener's `serve` runs connections and stops (`serve_options` for TCP,
/// `unix_serve_options` for Unix-domain listeners).
template <class Peer>
struct basic_serve_options {
    /// After the serve loop is cancelled (Ctrl-C) or the listener closed: how long running
    /// connections may finish on their own before they are cancelled.
    std::chrono::steady_clock::duration grace = std::chrono::seconds(5);
    /// Called with the peer and the exception when a connection's handler throws; by default a
    /// line "PROGRAM: connection from PEER: what" goes to stderr. Never swallowed silently.
    std::function<void(const Peer& peer, std::exception_ptr error)> on_error;
    /// Called when accept fails for lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) and the
    /// loop backs off; by default a line on stderr, once per streak of failures.
    std::function<void(const std::error_code& error)> on_accept_error;
};

}  // namespace cosock

namespace cosock::detail {

/// A connected stream over `Transport`: any Asio AsyncReadStream/AsyncWriteStream whose lowest
/// layer is a socket (tcp::socket, local::stream_protocol::socket, ssl::stream<tcp::socket>).
/// Kernel sockets keep their fast path: send(2) first.
template <class Transport>
class COSOCK_EXPORT basic_stream : public basic_socket<Transport> {
public:
    using socket_type = Transport;
    /// How the peer is named: `cosock::address` for TCP and TLS, a path for Unix-domain streams.
    using peer_type = typename where_of<protocol_of<Transport>>::type;

    /// Receives at most `max` bytes; yields them, or an empty string when the peer has closed
    /// its side (end of stream is not an error). Python: `conn.recv(1024)`.
    auto recv(std::size_t max);
    /// Receives into `buffer`; yields the byte count, 0 at end of stream. Allocates nothing.
    /// Python: `conn.recv_into(buf)`.
    auto recv_into(boost::asio::mutable_buffer buffer);
    /// Sends every byte of `data` (looping over partial writes); yields the byte count. `data`
    /// must stay alive until the operation completes. Python: `conn.sendall(data)`.
    auto send(boost::asio::const_buffer data);
    auto send(std::string_view data) { return send(boost::asio::buffer(data)); }
    /// Receives exactly `n` bytes. At end of stream first: `cosock::end_of_stream_error`, whose
    /// `received()` holds what did arrive. Cancelled or timed out: the bytes that arrived stay
    /// buffered for the next read (and a `timeout_error` shows them in `received()`).
    auto read_exact(std::size_t n);
    /// Receives up to and including `delimiter`; bytes after it stay buffered for the next read.
    /// Fails with `errc::line_too_long` when `max` bytes arrive without it (they stay buffered),
    /// and with `end_of_stream_error` when the stream ends first.
    auto read_until(std::string delimiter, std::size_t max = default_max_line);
    /// Receives one line and yields it without its "\n" (or "\r\n"); yields `std::nullopt` at end
    /// of stream, and a last line without newline as a line. Fails with `errc::line_too_long`
    /// beyond `max` bytes. A cancelled read loses nothing: a partial line stays buffered.
    /// Python: `f = conn.makefile(); f.readline()`.
    auto read_line(std::size_t max = default_max_line);

    /// Half-closes: no more sends, the peer's recv sees end of stream; receiving still works.
    /// Python: `conn.shutdown(socket.SHUT_WR)`.
    void shutdown() {
        auto& c = this->core_.core("shutdown");
        error_code ec;
        lowest_layer(c.socket).shutdown(boost::asio::socket_base::shutdown_send, ec);
        check(ec, "shutdown", c.where);
    }

    /// The Asio object underneath (the socket, or the ssl::stream), for anything cosock lacks.
    /// Reading from it directly skips the bytes that read_line & co. have buffered: read through
    /// the Asio face below instead.
    socket_type& asio_socket() { return this->core_.core("asio_socket").socket; }

    // --- the Asio face: an AsyncReadStream and AsyncWriteStream, so that Beast, asio::async_read
    // and any composed operation take a cosock stream. Bytes that read_line & co. read ahead come
    // first. These are Asio's plain operations: no timeout, no one-reader guard, Asio's errors
    // (a `boost::system::system_error` when awaited), end of stream as `asio::error::eof`.
    using executor_type = boost::asio::any_io_executor;
    executor_type get_executor() { return this->core_.core("get_executor").socket.get_executor(); }

    template <class MutableBuffers, boost::asio::completion_token_for<void(error_code, std::size_t)> Token =
                                        boost::asio::default_completion_token_t<executor_type>>
    auto async_read_some(const MutableBuffers& buffers,
                         Token&& token = boost::asio::default_completion_token_t<executor_type>());
    template <class ConstBuffers, boost::asio::completion_token_for<void(error_code, std::size_t)> Token =
                                      boost::asio::default_completion_token_t<executor_type>>
    auto async_write_some(const ConstBuffers& buffers,
                          Token&& token = boost::asio::default_completion_token_t<executor_type>());

protected:
    using base = basic_socket<socket_type>;
    using typename base::core_type;

    basic_stream() = default;
    basic_stream(socket_type socket, peer_type where) : base(new core_type(std::move(socket))) {
        this->core_.get()->where = std::move(where);
    }
};

/// A listening socket of `Protocol` whose accepted connections are `Stream`s.
template <class Protocol, class Stream>
class COSOCK_EXPORT basic_listener : public basic_socket<typename Protocol::acceptor> {
public:
    using acceptor_type = typename Protocol::acceptor;
    using peer_type = typename where_of<Protocol>::type;

    /// Waits for a client; yields `std::pair<Stream, peer_type>`, the connection and who it is. One
    /// accept at a time (a second one, or one while `serve` runs, fails with
    /// `errc::concurrent_read`). Python: `conn, addr = sk.accept()`.
    auto accept();

    acceptor_type& asio_acceptor() { return this->core_.core("asio_acceptor").socket; }

protected:
    using base = basic_socket<acceptor_type>;
    using typename base::core_type;

    basic_listener() = default;
    explicit basic_listener(core_type* core) : base(core) {}
};

}  // namespace cosock::detail
