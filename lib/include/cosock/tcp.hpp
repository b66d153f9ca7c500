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
#include <cosock/detail/basic_stream.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>

namespace cosock {

/// How `tcp_stream::connect` races the addresses of a host name (Happy Eyeballs, RFC 8305). The
/// defaults are the RFC's.
struct connect_options {
    /// How long an attempt may stay unanswered before the next address is tried beside it (an
    /// attempt that fails starts the next one at once). At least 10 ms (RFC 8305 section 5).
    std::chrono::steady_clock::duration attempt_delay = std::chrono::milliseconds(250);
    /// How long to wait for the IPv6 answer once the IPv4 one has come, before connecting over
    /// IPv4 alone (IPv6 addresses that come later still join the race).
    std::chrono::steady_clock::duration resolution_delay = std::chrono::milliseconds(50);
};

/// A connected TCP socket (Python: the `conn` of `conn, addr = sk.accept()`, or a socket after
/// `connect`). Move-only; closing is the destructor's job, or `close()`.
///
/// Every `co_await`-able member returns an operation: awaited, it yields the value or throws a
/// `cosock::error` whose `what()` names the operation and the peer ("recv from 127.0.0.1:7777:
/// Connection reset by peer"); `cosock::nothrow(op)` gives `(error_code, value)` instead. At most
/// one read (recv, recv_into, read_*) and one send may be pending at a time: a second one fails
/// with `errc::concurrent_read` / `errc::concurrent_write`. Destroying the stream while an
/// operation is pending is safe: the operation fails with `operation_aborted`; one created
/// before and awaited after the stream is gone fails with `errc::not_open`. After `close()`,
/// operations fail with "Bad file descriptor"; on a moved-from stream, the call itself throws
/// `errc::not_open`.
///
/// The operations, shared by every stream and documented in detail/basic_stream.hpp:
///     recv(max) -> std::string, "" at end of stream      Python: conn.recv(1024)
///     recv_into(buffer) -> std::size_t, 0 at end           Python: conn.recv_into(buf)
///     send(data) -> std::size_t, every byte                Python: conn.sendall(data)
///     read_exact(n), read_until(delimiter), read_line()    Python: conn.makefile().readline()
///     wait_readable(), then try_recv_into(buffer) -> std::optional<std::size_t> (nullopt: would
///     block) and try_send(data): no buffer per idle connection   Tokio: readable(), try_read
///     shutdown(), close(), set_timeout(d), asio_socket()
///     get_executor(), async_read_some(), async_write_some(): an Asio stream, for Beast & co.
///
/// Example:
///     auto conn = co_await cosock::tcp_stream::connect({"127.0.0.1", 8898});
///     co_await conn.send("hello!");
///     std::string reply = co_await conn.recv(1024);   // "" when the peer closed
class COSOCK_EXPORT tcp_stream : public detail::basic_stream<boost::asio::ip::tcp::socket> {
public:
    /// A stream that is not connected; every operation on it fails with `errc::not_open`.
    tcp_stream() = default;
    /// Adopts a connected Asio socket.
    explicit tcp_stream(socket_type socket);
    /// Adopts a connected Asio socket whose peer is known (saves asking the kernel).
    tcp_stream(socket_type socket, const address& peer);

    /// Adopts a connected TCP socket's descriptor (Python: `socket.socket(fileno=fd)`); the stream
    /// owns it from then on (`release()` gives it back). Asks the kernel what the descriptor is
    /// (SO_DOMAIN, SO_TYPE, SO_PROTOCOL) and throws `cosock::error` when it is not a TCP socket:
    /// "adopt descriptor 7: not a socket", "adopt descriptor 7 as a TCP stream: it is a UDP socket
    /// (AF_INET, SOCK_DGRAM)". The caller's descriptor is not closed on failure.
    static tcp_stream from_fd(int fd);
    static tcp_stream from_fd(boost::asio::any_io_executor executor, int fd);

    /// Connects to `to`. Operation yielding the `tcp_stream`. A numeric address is connected to
    /// directly. A host name is connected to as RFC 8305 (Happy Eyeballs v2) says: its IPv6 and
    /// IPv4 addresses are looked up at once, off the event loop's thread (`cosock::resolve`);
    /// attempts start with the first answer (an IPv4 answer waits `resolution_delay` for the IPv6
    /// one), alternate between the families (IPv6 first), and a new one starts every
    /// `attempt_delay` while the earlier ones are pending, or at once when one fails. The first
    /// connection wins; the other attempts are closed before connect completes. The timeout
    /// (`cosock::timeout(d, op)`, else the process default) and cancellation cover all of it.
    /// Errors: "connect to 127.0.0.1:7777: Connection refused", "connect to nosuch.invalid:80: Host
    /// not found (authoritative)", and for a name every address tried with its reason, in the
    /// order tried: "connect to example.test:80: [::1]:80: Connection refused; 127.0.0.1:80:
    /// Connection refused" (`code()` is the last one's). Python: `sk.connect(('127.0.0.1', 8898))`;
    /// for names `socket.create_connection(addr)`, and asyncio's `happy_eyeballs_delay`.
    static auto connect(address to, connect_options options = {});
    static auto connect(boost::asio::any_io_executor executor, address to, connect_options options = {});

    /// Socket options (Python: `setsockopt`). Each throws `cosock::error` on failure.
    void set_no_delay(bool on);
    void set_keep_alive(bool on);

    /// Python: `getsockname()` / `getpeername()`.
    address local_address() const;
    address peer_address() const;
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

/// How `tcp_listener::serve` runs connections and stops: `grace`, `on_error`, `on_accept_error`.
using serve_options = basic_serve_options<address>;

/// A listening TCP socket (Python: `sk = socket.socket(); sk.bind(addr); sk.listen()`).
/// Move-only; the port is freed when it is destroyed or closed.
///
/// Example:
///     auto sk = cosock::tcp_listener::bind({"127.0.0.1", 0});   // port 0: the system picks
///     auto [conn, addr] = co_await sk.accept();
class COSOCK_EXPORT tcp_listener : public detail::basic_listener<boost::asio::ip::tcp, tcp_stream> {
public:
    using connection_handler = std::function<task<void>(tcp_stream conn, address peer)>;

    tcp_listener() = default;

    /// Binds and listens on `at`: a numeric address, or "localhost" (127.0.0.1: RFC 6761 reserves
    /// the name for loopback, so no lookup is needed). Any other host name is refused rather than
    /// looked up: bind is not an operation, and a lookup could block the event loop for seconds;
    /// resolve it first with `co_await cosock::resolve(...)`. Uses the event loop of `cosock::run`.
    /// Errors: "bind to 127.0.0.1:8898: Address already in use", "bind to example.test:8898: a
    /// host name: resolve it first (co_await cosock::resolve), ..." (`errc::bad_address`).
    static tcp_listener bind(const address& at, const listen_options& options = {});
    static tcp_listener bind(boost::asio::any_io_executor executor, const address& at,
                             const listen_options& options = {});
    /// The non-throwing form: sets `ec` and returns a closed listener on failure.
    static tcp_listener bind(boost::asio::any_io_executor executor, const address& at,
                             const listen_options& options, std::error_code& ec);

    /// Adopts a bound TCP socket's descriptor, listening already or not (then it starts
    /// listening), e.g. one handed over by systemd or a parent process. Errors as for
    /// `tcp_stream::from_fd`.
    static tcp_listener from_fd(int fd, const listen_options& options = {});
    static tcp_listener from_fd(boost::asio::any_io_executor executor, int fd,
                                const listen_options& options = {});

    /// Accepts clients until cancelled or closed, running `handler(conn, peer)` for each in a
    /// `with_scope(options.grace, ...)` that owns them: whatever ends serve, no connection
    /// outlives it. A handler's exception goes to `options.on_error` and ends only that
    /// connection (if `on_error` itself throws, that error ends serve). When accept fails for
    /// lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the loop backs off (10 ms
    /// doubling to 500 ms) instead of spinning and accepts again once resources return; failures
    /// that concern one client only (ECONNABORTED, EPROTO, EPERM) and the listener's own timeout
    /// are skipped. Any other accept error stops accepting, gives running connections `grace`,
    /// then is thrown. On cancellation or `close()`: stops accepting, gives running connections
    /// `options.grace` to finish, cancels the rest, waits for them, then ends (rethrowing the
    /// cancellation if it was cancelled).
    task<void> serve(connection_handler handler, serve_options options = {});

    /// The bound address, with the real port after binding port 0. Python: `sk.getsockname()`.
    address local_address() const;

private:
    explicit tcp_listener(core_type* core) : basic_listener(core) {}
};

}  // namespace cosock

#include <cosock/detail/tcp_operations.hpp>
