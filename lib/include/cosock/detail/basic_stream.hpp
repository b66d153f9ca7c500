// cosock/detail/basic_stream.hpp — what the stream types of every transport share: basic_stream
// holds every read and write operation of tcp_stream, unix_stream, tls_stream and memory_stream,
// and their Asio face; basic_listener the accept of tcp_listener and unix_listener. Written once:
// first the contract (the classes), then the bodies. Read tcp.hpp for what each operation does.
//
// Every operation has the same shape: make_operation(what, where, timeout, start) (operation.hpp)
// where start(handler, timeout) asks the socket core to launch it (socket_core.hpp: guard,
// pending count, deadline) and then starts the transport's Asio operation with a `done`
// continuation that turns Asio's result into cosock's (end of stream as "", buffered bytes
// first, ...).
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/write.hpp>

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

/// True when the transport's readiness is readiness of its bytes: a kernel socket (TCP,
/// Unix-domain), or a transport that says so (the test kit's memory transport). Not TLS: its
/// socket can be readable with no decrypted byte to give (part of a record, a handshake
/// message), and OpenSSL can hold decrypted bytes while the socket is not readable; so
/// `tls_stream` has no wait_readable, try_recv_into or try_send (a compile error, not a lie).
template <class Transport>
concept data_readiness = is_kernel_socket<Transport> || requires {
    requires Transport::has_data_readiness;
};

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

    // --- readiness: a connection that waits holds no buffer. `wait_readable` waits without one;
    // `try_recv_into` then reads into a buffer the caller shares between connections, and
    // `try_send` sends from it before anything else can use it. Not on `tls_stream`: see
    // `data_readiness` above.

    /// Waits until a read would not block: bytes are waiting (in the socket, or buffered by
    /// read_line & co.), or the stream has ended or failed (the next read says which). Yields
    /// `std::monostate`. An operation like the reads: one read at a time (`errc::concurrent_read`),
    /// the timeouts ("wait_readable from 127.0.0.1:7777: timed out after 5 s"), cancellation,
    /// `nothrow`. Tokio: `stream.readable().await`; Python: `select.select([conn], [], [])`.
    ///
    /// Example:
    ///     co_await conn.wait_readable();
    ///     auto n = conn.try_recv_into(boost::asio::buffer(shared));   // nullopt: woken for nothing
    auto wait_readable() requires data_readiness<Transport>;
    /// Receives what is there now into `buffer`, without waiting: yields the byte count, 0 at end
    /// of stream, or `std::nullopt` when a read would block. Bytes buffered by read_line & co.
    /// come first. Throws `cosock::error` as `recv_into` does ("recv from 127.0.0.1:7777:
    /// Connection reset by peer"; `errc::concurrent_read` while a read is pending); the second
    /// form sets `ec` instead. Tokio: `try_read`; Python: `recv_into` on a non-blocking socket.
    //
    // Why std::optional and not an error: "would block" is the normal answer of a non-blocking
    // read (after a wake-up that another reader answered, or a spurious one), not a failure; as
    // an exception it would cost a throw on a hot path, and as an error code it would make the
    // throwing form unusable. 0 stays end of stream, as everywhere else.
    std::optional<std::size_t> try_recv_into(boost::asio::mutable_buffer buffer) requires
        data_readiness<Transport>;
    std::optional<std::size_t> try_recv_into(boost::asio::mutable_buffer buffer,
                                             std::error_code& ec) requires data_readiness<Transport>;
    /// Sends what the socket takes now from `data`, without waiting: yields the byte count, from 0
    /// (the send buffer is full) to all of `data`; `send` the rest. Throws `cosock::error` as
    /// `send` does ("send to 127.0.0.1:7777: Broken pipe"; `errc::concurrent_write` while a send
    /// is pending); the second form sets `ec` instead. Tokio: `try_write`; Python: `send` on a
    /// non-blocking socket.
    std::size_t try_send(boost::asio::const_buffer data) requires data_readiness<Transport>;
    std::size_t try_send(boost::asio::const_buffer data,
                         std::error_code& ec) requires data_readiness<Transport>;

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

// --- the bodies ---------------------------------------------------------------------------------

namespace cosock::detail {

/// complete_now (socket_core.hpp) with the (error_code, value) of a stream operation.
template <class Handler, class T>
void complete_result(const boost::asio::any_io_executor& executor, Handler handler, T value,
                     error_code ec = {}) {
    complete_now(executor, std::move(handler), ec, std::move(value));
}

/// send(2) with MSG_DONTWAIT | MSG_NOSIGNAL until all of `data` is sent or the call fails
/// (`would_block`: the send buffer is full); `sent` counts what went (tcp.cpp).
COSOCK_EXPORT error_code try_send_all(int fd, boost::asio::const_buffer data, std::size_t& sent);

/// One read of what the stream has into `buffer`, completing `h(error_code, bytes)`. On a kernel
/// socket, for a handler that resumes a coroutine, through edge_reads.hpp (a read after one that
/// took everything waits for epoll without trying); otherwise Asio's async_read_some.
template <class Core, class Handler>
void read_some(Core* c, boost::asio::mutable_buffer buffer, Handler h) {
    if constexpr (edge::available && is_kernel_socket<decltype(c->socket)> &&
                  resumes_awaiting_coroutine<Handler>::value) {
        if (buffer.size() > 0)
            return edge::async_start(edge::kind::read, c->socket, c->reactor, buffer, std::move(h));
    }
    c->socket.async_read_some(buffer, std::move(h));
}

/// recv(2) with MSG_DONTWAIT into `buffer`: sets `received` (0 at end of stream) and returns no
/// error, or returns the errno (`would_block`: nothing there) (tcp.cpp).
COSOCK_EXPORT error_code try_recv(int fd, boost::asio::mutable_buffer buffer, std::size_t& received);

/// Moves the first `n` bytes of `input` out.
inline std::string take_front(std::string& input, std::size_t n) {
    std::string out(input, 0, n);
    input.erase(0, n);
    return out;
}

/// After a read fails with "Connection reset by peer", the stream has nothing more to give (the
/// kernel says end of stream from then on), but Asio, like after end of stream, would wait for an
/// epoll edge that never comes: remember it as end of stream, so that later reads answer at once.
template <class Core>
void note_reset(Core* c, const error_code& ec) {
    if (ec == boost::asio::error::connection_reset) c->at_eof = true;
}

/// read_until's body: completes with (error_code, line including the delimiter); bytes after
/// the delimiter stay in `pending_input`. At end of stream: errc::end_of_stream with the bytes.
template <class Core, class Handler>
void start_read_until(Core* c, std::string delimiter, std::size_t max, Handler h) {
    auto& in = c->pending_input;
    if (c->at_eof) {  // no more bytes will come: answer from the buffer alone
        auto found = in.find(delimiter);
        if (found == std::string::npos)
            return complete_result(c->socket.get_executor(), std::move(h), std::exchange(in, {}),
                                   make_error_code(errc::end_of_stream));
        return complete_result(c->socket.get_executor(), std::move(h),
                               take_front(in, found + delimiter.size()));
    }
    auto done = [c](auto&& h, error_code ec, std::size_t n) {
        auto& in = c->pending_input;
        if (!ec) return std::move(h)(ec, take_front(in, n));
        if (ec == boost::asio::error::not_found) ec = make_error_code(errc::line_too_long);
        note_reset(c, ec);
        if (ec == boost::asio::error::eof) {
            c->at_eof = true;
            return std::move(h)(make_error_code(errc::end_of_stream), std::exchange(in, {}));
        }
        std::move(h)(ec, std::string());  // bytes read so far stay buffered
    };
    auto buffer = boost::asio::dynamic_buffer(in, std::max(max, in.size()));
    boost::asio::async_read_until(c->socket, buffer, std::move(delimiter),
                                  intercept{std::move(h), std::move(done)});
}

/// The `done` of reads that return end of stream as an empty result (Python's b'').
template <class Core>
auto eof_is_empty(Core* c) {
    return [c](auto&& h, error_code ec, auto&& value) {
        note_reset(c, ec);
        if (ec == boost::asio::error::eof) {
            c->at_eof = true;
            ec = {};
        }
        std::move(h)(ec, std::move(value));
    };
}

/// How an accepted connection names itself in error messages: the peer's address for TCP; for a
/// Unix-domain connection the listener's path when the client is unnamed ("recv from /run/app.sock").
inline address stream_where(const boost::asio::ip::tcp::endpoint& peer, const boost::asio::ip::tcp::socket&) {
    return peer;
}
COSOCK_EXPORT std::string stream_where(const boost::asio::local::stream_protocol::endpoint& peer,
                                       const boost::asio::local::stream_protocol::socket& socket);

}  // namespace cosock::detail

namespace cosock::detail {

template <class Transport>
auto basic_stream<Transport>::recv_into(boost::asio::mutable_buffer buffer) {
    auto* c = &this->core_.core("recv");
    return make_operation<std::size_t>(
        "recv from", &c->where, c->timeout, [c, keep = core_ref(*c), buffer](auto handler, auto timeout) {
            c->template launch<std::size_t>(role::read, timeout, std::move(handler), [c, buffer](auto h) {
                auto& in = c->pending_input;
                if (!in.empty()) {  // bytes read ahead by read_line & co. come first
                    std::size_t n = std::min(in.size(), buffer.size());
                    std::memcpy(buffer.data(), in.data(), n);
                    in.erase(0, n);
                    return complete_result(c->socket.get_executor(), std::move(h), n);
                }
                if (c->at_eof) return complete_result(c->socket.get_executor(), std::move(h), std::size_t(0));
                read_some(c, buffer, intercept{std::move(h), eof_is_empty(c)});
            });
        });
}

template <class Transport>
auto basic_stream<Transport>::wait_readable() requires data_readiness<Transport> {
    auto* c = &this->core_.core("wait_readable");
    return make_operation<std::monostate>(
        "wait_readable from", &c->where, c->timeout, [c, keep = core_ref(*c)](auto handler, auto timeout) {
            c->template launch<std::monostate>(role::read, timeout, std::move(handler), [c](auto h) {
                bool ready = !c->pending_input.empty() || c->at_eof;
                if constexpr (edge::available && is_kernel_socket<Transport> &&
                              resumes_awaiting_coroutine<decltype(h)>::value) {
                    // Waits without a system call when the reactor knows the socket is empty since
                    // its last event (a short read took all); else looks first (edge_reads.hpp).
                    if (!ready) {
                        auto done = [](auto&& h, error_code ec, std::size_t) {
                            std::move(h)(ec, std::monostate{});
                        };
                        return edge::async_start(edge::kind::wait, c->socket, c->reactor, {},
                                                 intercept{std::move(h), std::move(done)});
                    }
                }
                // Asio's async_wait re-arms the socket's epoll registration (EPOLL_CTL_MOD), and
                // the kernel then reports bytes that are already there: waiting alone is correct.
                // Looking first (poll) saves the trip through the loop when they are there; it is
                // skipped when try_recv_into has just found the socket empty, as in a server's
                // request-response loop, where the wait then costs what a read finding nothing did.
                if constexpr (is_kernel_socket<Transport>)
                    ready = ready ||
                            (!c->drained && c->socket.is_open() && readable_now(c->socket.native_handle()));
                if (ready)
                    return complete_now(c->socket.get_executor(), std::move(h), error_code(),
                                        std::monostate{});
                auto done = [](auto&& h, error_code ec) { std::move(h)(ec, std::monostate{}); };
                c->socket.async_wait(boost::asio::socket_base::wait_read,
                                     intercept{std::move(h), std::move(done)});
            });
        });
}

template <class Transport>
std::optional<std::size_t> basic_stream<Transport>::try_recv_into(
    boost::asio::mutable_buffer buffer, std::error_code& ec) requires data_readiness<Transport> {
    ec = {};
    auto* c = this->core_.get();
    if (!c) return ec = make_error_code(errc::not_open), std::nullopt;
    if (c->reading) return ec = make_error_code(errc::concurrent_read), std::nullopt;
    auto& in = c->pending_input;
    if (!in.empty()) {  // bytes read ahead by read_line & co. come first
        std::size_t n = std::min(in.size(), buffer.size());
        std::memcpy(buffer.data(), in.data(), n);
        in.erase(0, n);
        return n;
    }
    if (c->at_eof) return 0;
    std::size_t n = 0;
    error_code e;
    if constexpr (edge::available && is_kernel_socket<Transport>)
        e = buffer.size() > 0 ? edge::try_read(edge::registration_of(c->socket, c->reactor), buffer, n)
                              : error_code();
    else if constexpr (is_kernel_socket<Transport>)
        e = try_recv(c->socket.native_handle(), buffer, n);
    else
        n = c->socket.try_read_some(buffer, e);
    c->drained = e == boost::asio::error::would_block || n < buffer.size();  // a short read takes all
    if (e == boost::asio::error::would_block) return std::nullopt;
    if (e == boost::asio::error::eof || (!e && n == 0 && buffer.size() > 0)) {
        c->at_eof = true;
        return 0;
    }
    if (e) {
        note_reset(c, e);
        return ec = e, std::nullopt;
    }
    return n;
}

template <class Transport>
std::optional<std::size_t> basic_stream<Transport>::try_recv_into(boost::asio::mutable_buffer buffer) requires
    data_readiness<Transport> {
    auto& c = this->core_.core("try_recv_into");
    std::error_code ec;
    auto n = try_recv_into(buffer, ec);
    if (ec) fail(ec, "recv from", describe(&c.where));
    return n;
}

template <class Transport>
std::size_t basic_stream<Transport>::try_send(boost::asio::const_buffer data,
                                              std::error_code& ec) requires data_readiness<Transport> {
    ec = {};
    auto* c = this->core_.get();
    if (!c) return ec = make_error_code(errc::not_open), 0;
    if (c->writing) return ec = make_error_code(errc::concurrent_write), 0;
    std::size_t sent = 0;
    error_code e;
    if constexpr (is_kernel_socket<Transport>)
        e = try_send_all(c->socket.native_handle(), data, sent);
    else
        sent = c->socket.try_write_some(data, e);
    if (e && e != boost::asio::error::would_block) ec = e;
    return sent;
}

template <class Transport>
std::size_t basic_stream<Transport>::try_send(boost::asio::const_buffer data) requires
    data_readiness<Transport> {
    auto& c = this->core_.core("try_send");
    std::error_code ec;
    auto sent = try_send(data, ec);
    if (ec) fail(ec, "send to", describe(&c.where));
    return sent;
}

template <class Transport>
auto basic_stream<Transport>::recv(std::size_t max) {
    auto* c = &this->core_.core("recv");
    return make_operation<std::string>(
        "recv from", &c->where, c->timeout, [c, keep = core_ref(*c), max](auto handler, auto timeout) {
            c->template launch<std::string>(role::read, timeout, std::move(handler), [c, max](auto h) {
                auto& in = c->pending_input;
                if (!in.empty())
                    return complete_result(c->socket.get_executor(), std::move(h), take_front(in, max));
                if (c->at_eof) return complete_result(c->socket.get_executor(), std::move(h), std::string());
                // On the heap so that its bytes stay put while the handler moves around.
                auto data = std::make_unique<std::string>(max, '\0');
                auto buffer = boost::asio::buffer(*data);
                auto done = [data = std::move(data)](auto&& h, error_code ec, std::size_t n) {
                    data->resize(ec ? 0 : n);
                    // Sized to what arrived: a stored recv(65536) of a few bytes must not keep 64 KiB.
                    if (data->capacity() > 2 * data->size() + 64) data->shrink_to_fit();
                    std::move(h)(ec, std::move(*data));
                };
                read_some(c, buffer, intercept{intercept{std::move(h), eof_is_empty(c)}, std::move(done)});
            });
        });
}

template <class Transport>
auto basic_stream<Transport>::send(boost::asio::const_buffer data) {
    auto* c = &this->core_.core("send");
    return make_operation<std::size_t>(
        "send to", &c->where, c->timeout, [c, keep = core_ref(*c), data](auto handler, auto timeout) {
            c->template launch<std::size_t>(role::write, timeout, std::move(handler), [c, data](auto h) {
                // On a kernel socket the send buffer usually has room: send(2) first, and wait
                // (Asio's async_write) only for what did not fit. A layered transport (TLS) has
                // records to make: Asio's async_write alone.
                std::size_t sent = 0;
                if constexpr (is_kernel_socket<Transport>) {
                    auto ec = try_send_all(c->socket.native_handle(), data, sent);
                    if (ec != boost::asio::error::would_block)
                        return complete_now(c->socket.get_executor(), std::move(h), ec, sent);
                }
                auto done = [sent](auto&& h, error_code ec, std::size_t n) { std::move(h)(ec, sent + n); };
                boost::asio::async_write(c->socket, data + sent, intercept{std::move(h), std::move(done)});
            });
        });
}

template <class Transport>
auto basic_stream<Transport>::read_exact(std::size_t n) {
    auto* c = &this->core_.core("read_exact");
    return make_operation<std::string>(
        "read_exact from", &c->where, c->timeout, [c, keep = core_ref(*c), n](auto handler, auto timeout) {
            c->template launch<std::string>(role::read, timeout, std::move(handler), [c, n](auto h) {
                auto& in = c->pending_input;
                auto executor = c->socket.get_executor();
                if (in.size() >= n) return complete_result(executor, std::move(h), take_front(in, n));
                if (c->at_eof)
                    return complete_result(executor, std::move(h), std::exchange(in, {}),
                                           make_error_code(errc::end_of_stream));
                auto done = [c, n](auto&& h, error_code ec, std::size_t) {
                    auto& in = c->pending_input;
                    if (!ec) return std::move(h)(ec, take_front(in, n));
                    note_reset(c, ec);
                    if (ec == boost::asio::error::eof) {  // the bytes that did arrive go with the error
                        c->at_eof = true;
                        return std::move(h)(make_error_code(errc::end_of_stream), std::exchange(in, {}));
                    }
                    // Cancelled or timed out: the bytes stay buffered for the next read, and a copy
                    // goes with the error (timeout_error::received()).
                    std::move(h)(ec, ec == boost::asio::error::operation_aborted ? in : std::string());
                };
                boost::asio::async_read(c->socket, boost::asio::dynamic_buffer(in),
                                        boost::asio::transfer_exactly(n - in.size()),
                                        intercept{std::move(h), std::move(done)});
            });
        });
}

template <class Transport>
auto basic_stream<Transport>::read_until(std::string delimiter, std::size_t max) {
    auto* c = &this->core_.core("read_until");
    return make_operation<std::string>(
        "read_until from", &c->where, c->timeout,
        [c, keep = core_ref(*c), delimiter = std::move(delimiter), max](auto handler, auto timeout) mutable {
            c->template launch<std::string>(role::read, timeout, std::move(handler), [&](auto h) {
                start_read_until(c, std::move(delimiter), max, std::move(h));
            });
        });
}

template <class Transport>
auto basic_stream<Transport>::read_line(std::size_t max) {
    using line = std::optional<std::string>;
    auto* c = &this->core_.core("read_line");
    return make_operation<line>(
        "read_line from", &c->where, c->timeout, [c, keep = core_ref(*c), max](auto handler, auto timeout) {
            c->template launch<line>(role::read, timeout, std::move(handler), [c, max](auto h) {
                auto done = [](auto&& h, error_code ec, std::string s) {
                    if (ec == make_error_code(errc::end_of_stream)) {
                        if (s.empty()) return std::move(h)(error_code(), line());  // clean end
                        return std::move(h)(error_code(), line(std::move(s)));     // last line
                    }
                    if (ec) return std::move(h)(ec, line());
                    s.pop_back();
                    if (!s.empty() && s.back() == '\r') s.pop_back();
                    std::move(h)(ec, line(std::move(s)));
                };
                start_read_until(c, "\n", max, intercept{std::move(h), std::move(done)});
            });
        });
}

/// The accept of a listener's core: `basic_listener::accept`, and the serve loop, which holds the
/// core rather than the listener object. Asio's accept, which tries accept(2) at once: trying
/// accept4 first and completing inline was measured and cost more CPU per connection (churn
/// 1.08 against 1.02 ÷ asio-coro in the same run), the failing calls outweighing the saved trip
/// through the scheduler.
template <class Stream, class Acceptor>
auto accept_on(socket_core<Acceptor>* c) {
    using protocol = typename Acceptor::protocol_type;
    using accepted = std::pair<Stream, typename where_of<protocol>::type>;
    return make_operation<accepted>(
        "accept on", &c->where, c->timeout, [c, keep = core_ref(*c)](auto&& handler, auto timeout) {
            c->template launch<accepted>(role::read, timeout, std::move(handler), [c](auto h) {
                auto done = [c](auto&& h, error_code ec, typename protocol::socket s) {
                    if (ec) return std::move(h)(ec, accepted());
                    auto where = stream_where(c->endpoint, s);
                    std::move(h)(ec, accepted(Stream(std::move(s), std::move(where)), peer_of(c->endpoint)));
                };
                c->socket.async_accept(c->endpoint, intercept{std::move(h), std::move(done)});
            });
        });
}

template <class Transport>
template <class MutableBuffers, boost::asio::completion_token_for<void(error_code, std::size_t)> Token>
auto basic_stream<Transport>::async_read_some(const MutableBuffers& buffers, Token&& token) {
    auto* c = &this->core_.core("async_read_some");
    return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
        [c](auto handler, const MutableBuffers& buffers) {
            auto& in = c->pending_input;
            if (!in.empty() || c->at_eof) {  // bytes read ahead come first; then end of stream
                std::size_t n = boost::asio::buffer_copy(buffers, boost::asio::buffer(in));
                in.erase(0, n);
                error_code ec = n == 0 && c->at_eof ? error_code(boost::asio::error::eof) : error_code();
                return post_completion(c->socket.get_executor(), std::move(handler), ec, n);
            }
            ++c->pending;  // the core outlives the operation, as in socket_core::launch
            c->socket.async_read_some(
                buffers, intercept{std::move(handler), [c](auto&& h, error_code ec, std::size_t n) {
                                       note_reset(c, ec);
                                       if (ec == boost::asio::error::eof) c->at_eof = true;
                                       c->release();
                                       std::move(h)(ec, n);
                                   }});
        },
        token, buffers);
}

template <class Transport>
template <class ConstBuffers, boost::asio::completion_token_for<void(error_code, std::size_t)> Token>
auto basic_stream<Transport>::async_write_some(const ConstBuffers& buffers, Token&& token) {
    auto* c = &this->core_.core("async_write_some");
    return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
        [c](auto handler, const ConstBuffers& buffers) {
            ++c->pending;
            c->socket.async_write_some(
                buffers, intercept{std::move(handler), [c](auto&& h, error_code ec, std::size_t n) {
                                       c->release();
                                       std::move(h)(ec, n);
                                   }});
        },
        token, buffers);
}

template <class Protocol, class Stream>
auto basic_listener<Protocol, Stream>::accept() {
    return accept_on<Stream>(&this->core_.core("accept"));
}

}  // namespace cosock::detail
