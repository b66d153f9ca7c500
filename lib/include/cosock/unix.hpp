// cosock/unix.hpp — Unix-domain sockets (AF_UNIX), the family the blog post describes first:
// unix_listener and unix_stream (SOCK_STREAM), unix_datagram (SOCK_DGRAM). Same operations as
// their TCP and UDP siblings (one implementation: detail/basic_stream.hpp, basic_datagram.hpp);
// peers are named by paths instead of addresses.
//
// Paths: a filesystem path ("/run/app.sock", "app.sock"), or "@name" for a Linux abstract name
// (no file; gone with the last socket). At most 107 bytes (sockaddr_un's sun_path); longer is an
// error, never silently cut.
// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <cosock/detail/basic_datagram.hpp>
#include <cosock/detail/basic_stream.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>

namespace cosock {

/// Who is at the other end of a Unix-domain stream, as the kernel saw it at connect time
/// (SO_PEERCRED): Python's `sk.getsockopt(SOL_SOCKET, SO_PEERCRED, ...)`.
struct peer_credentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

/// A connected Unix-domain stream (Python: `socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)`
/// after `connect`, or the `conn` of `accept`). The operations of `tcp_stream` (recv, send,
/// read_line, ...); error messages name the path: "recv from /run/app.sock: Connection reset by peer".
///
/// Example:
///     auto conn = co_await cosock::unix_stream::connect("/tmp/app.sock");
///     co_await conn.send("hello!");
class COSOCK_EXPORT unix_stream : public detail::basic_stream<boost::asio::local::stream_protocol::socket> {
public:
    unix_stream() = default;
    /// Adopts a connected Asio socket; `where` names it in error messages.
    unix_stream(socket_type socket, std::string where);
    explicit unix_stream(socket_type socket);

    /// Connects to the listener at `path`. Operation yielding the `unix_stream`. Errors: "connect
    /// to /tmp/app.sock: No such file or directory", "... Connection refused" (a stale file).
    static auto connect(std::string path);
    static auto connect(boost::asio::any_io_executor executor, std::string path);

    /// Two connected streams (Python: `socket.socketpair()`), e.g. to talk to a child process or
    /// between two coroutines.
    static std::pair<unix_stream, unix_stream> pair();
    static std::pair<unix_stream, unix_stream> pair(boost::asio::any_io_executor executor);

    /// Adopts a connected AF_UNIX stream descriptor; errors as for `tcp_stream::from_fd`.
    static unix_stream from_fd(int fd);
    static unix_stream from_fd(boost::asio::any_io_executor executor, int fd);

    /// The peer process's pid, uid and gid (SO_PEERCRED).
    peer_credentials credentials() const;

    /// The socket's own path and the peer's ("" when unnamed, as a connecting client usually is).
    std::string local_path() const;
    std::string peer_path() const;
};

/// How `unix_listener::bind` sets up the listening socket.
struct unix_listen_options {
    /// Python: `sk.listen(backlog)`; the default is the system's maximum (SOMAXCONN).
    int backlog = boost::asio::socket_base::max_listen_connections;
    /// What to do when a socket file is already at the path. true (the default): if no process
    /// accepts on it (connecting is refused: its server died without removing it), remove it and
    /// bind; a live listener is never taken over ("Address already in use"), and a file that is
    /// not a socket is never removed. false: fail with "Address already in use" either way.
    bool replace_stale = true;
};

/// How `unix_listener::serve` runs connections and stops: as `serve_options`, with peers as paths.
using unix_serve_options = basic_serve_options<std::string>;

/// A listening Unix-domain socket. Removes its socket file when it is closed or destroyed
/// (only if the file is still the one it created; abstract names have no file).
///
/// Example:
///     auto sk = cosock::unix_listener::bind("/tmp/app.sock");
///     auto [conn, peer] = co_await sk.accept();
class COSOCK_EXPORT unix_listener
    : public detail::basic_listener<boost::asio::local::stream_protocol, unix_stream> {
public:
    using connection_handler = std::function<task<void>(unix_stream conn, std::string peer)>;

    unix_listener() = default;
    unix_listener(unix_listener&& other) noexcept;
    unix_listener& operator=(unix_listener&& other) noexcept;
    ~unix_listener();

    /// Binds and listens at `path` (see unix_listen_options for an existing file). Errors: "bind to
    /// /no/such/dir/app.sock: No such file or directory", "bind to /tmp/app.sock: Address already in
    /// use (a server is listening there)", "bind to /tmp/x...x: File name too long (130 bytes; a Unix
    /// socket path has at most 107)".
    static unix_listener bind(std::string_view path, const unix_listen_options& options = {});
    static unix_listener bind(boost::asio::any_io_executor executor, std::string_view path,
                              const unix_listen_options& options = {});

    /// Adopts a bound AF_UNIX stream socket's descriptor (listening already or not); the listener
    /// does not remove a file it did not create.
    static unix_listener from_fd(int fd, const unix_listen_options& options = {});
    static unix_listener from_fd(boost::asio::any_io_executor executor, int fd,
                                 const unix_listen_options& options = {});

    /// As `tcp_listener::serve`.
    task<void> serve(connection_handler handler, unix_serve_options options = {});

    /// The bound path ("@name" for an abstract name).
    std::string path() const;

    /// Stops listening and removes the socket file.
    void close();

private:
    explicit unix_listener(core_type* core, bool owns_file);
    void remove_file() noexcept;

    bool owns_file_ = false;             // bind created the file: close removes it
    unsigned long file_id_[2] = {0, 0};  // its device and inode, so another's file is never removed
};

/// What `unix_datagram::recv_from_into` received: size, sender (a path), truncated, full_size.
using unix_datagram_info = basic_datagram_info<std::string>;
/// One datagram of `unix_datagram::recv_many`: data, sender (a path), truncated, full_size.
using unix_received_datagram = basic_received_datagram<std::string>;
/// A buffer of `unix_datagram::recv_many_into` and what it received there: buffer, info.
using unix_datagram_slot = basic_datagram_slot<std::string>;
/// One datagram of `unix_datagram::send_many`: data, to (a path).
using unix_outgoing_datagram = basic_outgoing_datagram<std::string>;

/// A Unix-domain datagram socket (Python: `socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)`).
/// The operations of `udp_endpoint` (send_to, recv_from, recv_from_into, connect + send/recv);
/// datagrams are reliable and ordered here, but a sender must bind a path to get replies.
///
/// Example:
///     auto sk = cosock::unix_datagram::bind("/tmp/server.sock");
///     auto [msg, sender] = co_await sk.recv_from(1024);
///     co_await sk.send_to(msg, sender);
class COSOCK_EXPORT unix_datagram : public detail::basic_datagram<boost::asio::local::datagram_protocol> {
public:
    unix_datagram() = default;
    explicit unix_datagram(socket_type socket);

    /// A socket bound to `path` (a stale file is replaced only when no one receives on it).
    static unix_datagram bind(std::string_view path);
    static unix_datagram bind(boost::asio::any_io_executor executor, std::string_view path);
    /// An unbound socket: it can send, but nobody can answer it.
    static unix_datagram open();
    static unix_datagram open(boost::asio::any_io_executor executor);
    /// Two connected datagram sockets (Python: `socket.socketpair(AF_UNIX, SOCK_DGRAM)`).
    static std::pair<unix_datagram, unix_datagram> pair();
    static std::pair<unix_datagram, unix_datagram> pair(boost::asio::any_io_executor executor);
    /// Adopts an AF_UNIX datagram descriptor; errors as for `tcp_stream::from_fd`.
    static unix_datagram from_fd(int fd);
    static unix_datagram from_fd(boost::asio::any_io_executor executor, int fd);

    /// Fixes the peer: `send` goes there. Errors: "connect to /tmp/x.sock: No such file or directory".
    void connect(std::string_view path);

    /// The bound path ("" when unbound).
    std::string local_path() const;
};

}  // namespace cosock

#include <cosock/detail/unix_operations.hpp>
