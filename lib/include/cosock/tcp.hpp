// cosock/tcp.hpp — TCP: tcp_listener accepts connections, tcp_stream talks on one.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/operation.hpp>
#include <cosock/detail/socket_core.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>

namespace cosock {

/// The longest line `read_line` and `read_until` accept unless told otherwise: 64 KiB.
inline constexpr std::size_t default_max_line = 64 * 1024;

/// A connected TCP socket (Python: the `conn` of `conn, addr = sk.accept()`, or a socket after
/// `connect`). Move-only; closing is the destructor's job, or `close()`.
///
/// Every `co_await`-able member returns an operation: awaited, it yields the value or throws a
/// `cosock::error` whose `what()` names the operation and the peer ("recv from 127.0.0.1:7777:
/// Connection reset by peer"); `cosock::nothrow(op)` gives `(error_code, value)` instead. At most
/// one read (recv, recv_into, read_*) and one send may be pending at a time: a second one fails
/// with `errc::concurrent_read` / `errc::concurrent_write`. Destroying the stream while an
/// operation is pending is safe: the operation fails with `operation_aborted`. An operation
/// refers to its stream from the call that creates it: await it in the same expression
/// (`co_await conn.recv(10)`), not after the stream is gone. After `close()`, operations fail
/// with "Bad file descriptor"; on a moved-from stream, the call itself throws `errc::not_open`.
///
/// Example:
///     auto conn = co_await cosock::tcp_stream::connect({"127.0.0.1", 8898});
///     co_await conn.send("hello!");
///     std::string reply = co_await conn.recv(1024);   // "" when the peer closed
class COSOCK_EXPORT tcp_stream {
public:
    using socket_type = boost::asio::ip::tcp::socket;

    /// A stream that is not connected; every operation on it fails with `errc::not_open`.
    tcp_stream() = default;
    /// Adopts a connected Asio socket.
    explicit tcp_stream(socket_type socket);
    /// Adopts a connected Asio socket whose peer is known (saves asking the kernel).
    tcp_stream(socket_type socket, const address& peer);

    /// Connects to `to`, resolving a host name first (asynchronously) and trying each address it
    /// resolves to. Operation yielding the `tcp_stream`.
    /// Errors: "connect to 127.0.0.1:7777: Connection refused", "connect to nosuch.invalid:80: Host
    /// not found (authoritative)". Python: `sk.connect(('127.0.0.1', 8898))`.
    static auto connect(address to);
    static auto connect(boost::asio::any_io_executor executor, address to);

    /// Receives at most `max` bytes; yields them, or an empty string when the peer has closed
    /// its side (end of stream is not an error). Python: `conn.recv(1024)`.
    auto recv(std::size_t max);

    /// Receives into `buffer`; yields the byte count, 0 at end of stream. Allocates nothing.
    /// Python: `conn.recv_into(buf)`.
    auto recv_into(boost::asio::mutable_buffer buffer);

    /// Sends every byte of `data` (looping over partial writes); yields the byte count. `data`
    /// must stay alive until the operation completes. Python: `conn.sendall(data)`.
    auto send(boost::asio::const_buffer data);
    auto send(std::string_view data);

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

    /// The timeout of each later operation on this stream; zero: none. Starts as
    /// `cosock::default_timeout()`. An operation that takes longer is cancelled and throws
    /// `timeout_error` ("recv from 127.0.0.1:7777: timed out after 5 s"); the stream stays usable.
    /// Python: `conn.settimeout(5)` / `conn.gettimeout()`.
    void set_timeout(std::chrono::steady_clock::duration timeout);
    std::chrono::steady_clock::duration timeout() const;

    /// Half-closes: no more sends, the peer's recv sees end of stream; receiving still works.
    /// Python: `conn.shutdown(socket.SHUT_WR)`.
    void shutdown();

    /// Closes now; pending operations fail with `operation_aborted`. Python: `conn.close()`.
    void close();
    bool is_open() const noexcept;

    /// Socket options (Python: `setsockopt`). Each throws `cosock::error` on failure.
    void set_no_delay(bool on);
    void set_keep_alive(bool on);
    void set_send_buffer_size(int bytes);
    void set_receive_buffer_size(int bytes);
    int send_buffer_size() const;
    int receive_buffer_size() const;

    /// Python: `getsockname()` / `getpeername()`.
    address local_address() const;
    address peer_address() const;

    /// The descriptor (Python: `fileno()`) and the Asio socket, for anything cosock lacks.
    int native_handle();
    socket_type& asio_socket();

private:
    friend class tcp_listener;
    using core_type = detail::socket_core<socket_type>;

    detail::core_owner<socket_type> core_;
};

/// How `tcp_listener::bind` sets up the listening socket.
struct listen_options {
    /// Python: `sk.listen(backlog)`; the default is the system's maximum (SOMAXCONN).
    int backlog = boost::asio::socket_base::max_listen_connections;
    /// SO_REUSEADDR: restart on the same port while old connections sit in TIME_WAIT.
    bool reuse_address = true;
    /// SO_REUSEPORT: several listeners (one per thread or process) share the port.
    bool reuse_port = false;
    /// For an IPv6 address such as "[::]": false (the default, set explicitly rather than left to
    /// the system's setting) also accepts IPv4 clients, as mapped addresses "[::ffff:a.b.c.d]";
    /// true accepts IPv6 only.
    bool v6_only = false;
};

/// How `tcp_listener::serve` runs connections and stops.
struct serve_options {
    /// After the serve loop is cancelled (Ctrl-C) or the listener closed: how long running
    /// connections may finish on their own before they are cancelled.
    std::chrono::steady_clock::duration grace = std::chrono::seconds(5);
    /// Called with the peer and the exception when a connection's handler throws; by default a
    /// line "PROGRAM: connection from PEER: what" goes to stderr. Never swallowed silently.
    std::function<void(const address& peer, std::exception_ptr error)> on_error;
    /// Called when accept fails for lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) and the
    /// loop backs off; by default a line on stderr, once per streak of failures.
    std::function<void(const std::error_code& error)> on_accept_error;
};

/// A listening TCP socket (Python: `sk = socket.socket(); sk.bind(addr); sk.listen()`).
/// Move-only; the port is freed when it is destroyed or closed.
///
/// Example:
///     auto sk = cosock::tcp_listener::bind({"127.0.0.1", 0});   // port 0: the system picks
///     auto [conn, addr] = co_await sk.accept();
class COSOCK_EXPORT tcp_listener {
public:
    using acceptor_type = boost::asio::ip::tcp::acceptor;
    using connection_handler = std::function<task<void>(tcp_stream conn, address peer)>;

    tcp_listener() = default;

    /// Binds and listens on `at` (a name such as "localhost" is resolved now, blocking, like
    /// Python's bind). Uses the event loop of `cosock::run`. Errors: "bind to 127.0.0.1:8898:
    /// Address already in use".
    static tcp_listener bind(const address& at, const listen_options& options = {});
    static tcp_listener bind(boost::asio::any_io_executor executor, const address& at,
                             const listen_options& options = {});
    /// The non-throwing form: sets `ec` and returns a closed listener on failure.
    static tcp_listener bind(boost::asio::any_io_executor executor, const address& at,
                             const listen_options& options, std::error_code& ec);

    /// Waits for a client; yields `std::pair<tcp_stream, address>`, the connection and the
    /// client's address. One accept at a time (a second one, or one while `serve` runs, fails with
    /// `errc::concurrent_read`). Python: `conn, addr = sk.accept()`.
    auto accept();

    /// Accepts clients until cancelled or closed, running `handler(conn, peer)` for each in a
    /// task_scope that owns them (none outlives serve). A handler's exception goes to
    /// `options.on_error` and ends only that connection. When accept fails for lack of descriptors
    /// or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the loop backs off (10 ms doubling to 500 ms)
    /// instead of spinning and accepts again once resources return; failures that concern one
    /// client only (ECONNABORTED, EPROTO, EPERM) and the listener's own timeout are skipped. Any
    /// other accept error stops accepting, gives running connections `grace`, then is thrown. On cancellation
    /// or `close()`: stops accepting, gives running connections `options.grace` to finish, cancels the rest,
    /// waits for them, then ends (rethrowing the cancellation if it was cancelled).
    task<void> serve(connection_handler handler, serve_options options = {});

    /// The timeout of each later `accept`; zero: none (the default: `cosock::default_timeout()`).
    /// Python: `sk.settimeout(10)`.
    void set_timeout(std::chrono::steady_clock::duration timeout);
    std::chrono::steady_clock::duration timeout() const;

    /// The bound address, with the real port after binding port 0. Python: `sk.getsockname()`.
    address local_address() const;

    /// Stops listening; a pending accept fails with `operation_aborted`.
    void close();
    bool is_open() const noexcept;

    int native_handle();
    acceptor_type& asio_acceptor();

private:
    using core_type = detail::socket_core<acceptor_type>;
    explicit tcp_listener(core_type* core) : core_(core) {}

    detail::core_owner<acceptor_type> core_;
};

}  // namespace cosock

#include <cosock/detail/tcp_operations.hpp>
