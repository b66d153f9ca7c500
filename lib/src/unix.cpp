// unix.cpp — the compiled half of unix.hpp: paths, binding (with the stale-file policy), socket
// pairs, descriptors, credentials, and the serve loop's instance for Unix-domain listeners.
// SPDX-License-Identifier: MIT
#include <cosock/unix.hpp>

#include <array>
#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <boost/asio/local/connect_pair.hpp>

#include <cosock/descriptor.hpp>

#include "adopt.hpp"
#include "serve.hpp"

namespace cosock {

namespace asio = boost::asio;
using stream_protocol = asio::local::stream_protocol;
using datagram_protocol = asio::local::datagram_protocol;
using detail::error_code;

namespace detail {

// The longest path sockaddr_un holds, keeping the terminating NUL of a filesystem path.
constexpr std::size_t max_path = sizeof(sockaddr_un::sun_path) - 1;

std::string path_of(const void* name, std::size_t size) {
    auto* un = static_cast<const sockaddr_un*>(name);
    std::size_t offset = offsetof(sockaddr_un, sun_path);
    if (size <= offset) return "";  // unnamed
    std::string path(un->sun_path, size - offset);
    if (path[0] == '\0') {  // abstract: "\0name" is shown as "@name"
        path[0] = '@';      // in place: no second string, no copy that could overlap its source
        return path;
    }
    if (auto nul = path.find('\0'); nul != std::string::npos) path.resize(nul);
    return path;
}

std::string unix_name(std::string_view path, const char* what) {
    std::string name(path);
    if (!name.empty() && name[0] == '@') name[0] = '\0';
    if (name.empty())
        throw error(make_error_code(errc::bad_address), fmt::format("{} \"\"", what),
                    "empty Unix socket path");
    if (name.size() > max_path)
        throw error(std::make_error_code(std::errc::filename_too_long), fmt::format("{} {}", what, path),
                    fmt::format("File name too long ({} bytes; a Unix socket path has at most {})",
                                path.size(), max_path));
    return name;
}

std::string stream_where(const stream_protocol::endpoint& peer, const stream_protocol::socket& socket) {
    auto where = peer_of(peer);
    if (!where.empty()) return where;
    error_code ignored;
    return peer_of(socket.local_endpoint(ignored));
}

}  // namespace detail

namespace {

/// The name that describes a socket best in messages: its peer's path, else its own, else "socketpair".
template <class Socket>
std::string describe_socket(const Socket& socket) {
    error_code ignored;
    auto where = detail::peer_of(socket.remote_endpoint(ignored));
    if (where.empty()) where = detail::peer_of(socket.local_endpoint(ignored));
    return where.empty() ? "socketpair" : where;
}

/// A filesystem path's file, when it is a socket: true, with its device and inode.
bool socket_file(const std::string& name, unsigned long (&id)[2]) {
    struct stat st {};
    if (name.empty() || name[0] == '\0' || ::lstat(name.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    id[0] = static_cast<unsigned long>(st.st_dev);
    id[1] = static_cast<unsigned long>(st.st_ino);
    return true;
}

/// Removes the socket file at `name` only if it is still the one with this device and inode:
/// another server may have replaced it since.
void unlink_if_ours(const std::string& name, const unsigned long* file_id) {
    unsigned long id[2];
    if (socket_file(name, id) && id[0] == file_id[0] && id[1] == file_id[1]) ::unlink(name.c_str());
}

/// True when nobody accepts or receives at `name` any more: its server died without removing it.
template <class Protocol>
bool is_stale(const std::string& name) {
    int fd = ::socket(
        AF_UNIX, (std::is_same_v<Protocol, stream_protocol> ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    typename Protocol::endpoint endpoint(name);
    bool refused =
        ::connect(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0 && errno == ECONNREFUSED;
    ::close(fd);
    return refused;
}

/// Binds `socket` to `path`, replacing a stale socket file when `replace_stale`; never a live one.
template <class Socket>
void bind_path(Socket& socket, std::string_view path, bool replace_stale) {
    using protocol = typename Socket::protocol_type;
    auto name = detail::unix_name(path, "bind to");
    typename protocol::endpoint endpoint(name);
    error_code ec;
    socket.open(protocol(), ec);
    if (!ec) socket.bind(endpoint, ec);
    if (ec == asio::error::address_in_use && name[0] != '\0') {
        unsigned long id[2];
        if (!socket_file(name, id))
            throw error(ec, fmt::format("bind to {}", path),
                        "Address already in use (not a socket: left alone)");
        if (!replace_stale || !is_stale<protocol>(name))
            throw error(ec, fmt::format("bind to {}", path),
                        "Address already in use (a server is listening there)");
        ::unlink(name.c_str());  // a dead server's file
        ec = {};
        socket.bind(endpoint, ec);
    }
    detail::check(ec, "bind to", std::string(path));
}

}  // namespace

// --- unix_stream ------------------------------------------------------------------------------

unix_stream::unix_stream(socket_type socket, std::string where)
    : basic_stream(std::move(socket), std::move(where)) {}

unix_stream::unix_stream(socket_type socket) : basic_stream(std::move(socket), std::string()) {
    core_.get()->where = describe_socket(core_.get()->socket);
}

std::pair<unix_stream, unix_stream> unix_stream::pair() {
    return pair(detail::current_executor());
}

std::pair<unix_stream, unix_stream> unix_stream::pair(asio::any_io_executor executor) {
    socket_type a(executor), b(executor);
    error_code ec;
    asio::local::connect_pair(a, b, ec);
    detail::check(ec, "socketpair", std::string("(AF_UNIX, SOCK_STREAM)"));
    return {unix_stream(std::move(a), "socketpair"), unix_stream(std::move(b), "socketpair")};
}

unix_stream unix_stream::from_fd(int fd) {
    return from_fd(detail::current_executor(), fd);
}

unix_stream unix_stream::from_fd(asio::any_io_executor executor, int fd) {
    return unix_stream(
        detail::adopt<socket_type>(executor, fd, "a Unix-domain stream", {AF_UNIX}, SOCK_STREAM, 0));
}

peer_credentials unix_stream::credentials() const {
    auto& c = core_.core("credentials");
    ucred cred{};
    socklen_t size = sizeof cred;
    error_code ec;
    if (::getsockopt(c.socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0)
        ec.assign(errno, asio::error::get_system_category());
    detail::check(ec, "get SO_PEERCRED of", c.where);
    return {cred.pid, cred.uid, cred.gid};
}

std::string unix_stream::local_path() const {
    auto& c = core_.core("local_path");
    error_code ec;
    auto ep = c.socket.local_endpoint(ec);
    detail::check(ec, "getsockname of", c.where);
    return detail::peer_of(ep);
}

std::string unix_stream::peer_path() const {
    auto& c = core_.core("peer_path");
    error_code ec;
    auto ep = c.socket.remote_endpoint(ec);
    detail::check(ec, "getpeername of", c.where);
    return detail::peer_of(ep);
}

// --- unix_listener ----------------------------------------------------------------------------

unix_listener::unix_listener(core_type* core, bool owns_file) : basic_listener(core), owns_file_(owns_file) {
    if (owns_file_) owns_file_ = socket_file(detail::unix_name(core->where, "bind to"), file_id_);
}

unix_listener::unix_listener(unix_listener&& other) noexcept
    : basic_listener(std::move(other)), owns_file_(std::exchange(other.owns_file_, false)) {
    std::memcpy(file_id_, other.file_id_, sizeof file_id_);
}

unix_listener& unix_listener::operator=(unix_listener&& other) noexcept {
    if (this != &other) {
        remove_file();
        basic_listener::operator=(std::move(other));
        owns_file_ = std::exchange(other.owns_file_, false);
        std::memcpy(file_id_, other.file_id_, sizeof file_id_);
    }
    return *this;
}

unix_listener::~unix_listener() {
    remove_file();
}

void unix_listener::remove_file() noexcept {
    auto* c = core_.get();
    if (!owns_file_ || !c) return;
    owns_file_ = false;
    unlink_if_ours(c->where, file_id_);
}

unix_listener unix_listener::bind(std::string_view path, const unix_listen_options& options) {
    return bind(detail::current_executor(), path, options);
}

unix_listener unix_listener::bind(asio::any_io_executor executor, std::string_view path,
                                  const unix_listen_options& options) {
    acceptor_type acceptor(executor);
    bind_path(acceptor, path, options.replace_stale);
    error_code ec;
    acceptor.listen(options.backlog, ec);
    detail::check(ec, "listen on", std::string(path));
    auto* core = new core_type(std::move(acceptor));
    core->where = std::string(path);
    return unix_listener(core, path[0] != '@');
}

unix_listener unix_listener::from_fd(int fd, const unix_listen_options& options) {
    return from_fd(detail::current_executor(), fd, options);
}

unix_listener unix_listener::from_fd(asio::any_io_executor executor, int fd,
                                     const unix_listen_options& options) {
    socket_kind kind;
    auto acceptor = detail::adopt<acceptor_type>(executor, fd, "a Unix-domain listener", {AF_UNIX},
                                                 SOCK_STREAM, 0, &kind);
    error_code ec;
    if (!kind.listening) acceptor.listen(options.backlog, ec);
    detail::check(ec, "adopt descriptor", std::to_string(fd));
    auto* core = new core_type(std::move(acceptor));
    core->where = detail::peer_of(core->socket.local_endpoint(ec));
    return unix_listener(core, false);
}

task<void> unix_listener::serve(connection_handler handler, unix_serve_options options) {
    auto& core = core_.core("serve");
    // Closes as close() does, without the listener object, which may be gone by then.
    auto close = [owns_file = owns_file_, id = std::to_array(file_id_)](core_type& c) {
        if (owns_file) unlink_if_ours(c.where, id.data());
        error_code ignored;
        c.socket.close(ignored);
    };
    return detail::serve_loop<unix_stream>(detail::core_ref(core), std::move(handler), std::move(options),
                                           core.where, close);
}

std::string unix_listener::path() const {
    return core_.core("path").where;
}

void unix_listener::close() {
    remove_file();
    basic_listener::close();
}

// --- unix_datagram ----------------------------------------------------------------------------

unix_datagram::unix_datagram(socket_type socket) : basic_datagram(new core_type(std::move(socket))) {
    auto& c = *core_.get();
    error_code ignored;
    c.where = detail::peer_of(c.socket.local_endpoint(ignored));
    auto peer = c.socket.remote_endpoint(ignored);
    if (!ignored) c.endpoint = peer;
}

unix_datagram unix_datagram::bind(std::string_view path) {
    return bind(detail::current_executor(), path);
}

unix_datagram unix_datagram::bind(asio::any_io_executor executor, std::string_view path) {
    socket_type socket(executor);
    bind_path(socket, path, true);
    return unix_datagram(std::move(socket));
}

unix_datagram unix_datagram::open() {
    return open(detail::current_executor());
}

unix_datagram unix_datagram::open(asio::any_io_executor executor) {
    socket_type socket(executor);
    error_code ec;
    socket.open(datagram_protocol(), ec);
    detail::check(ec, "open", std::string("Unix-domain datagram socket"));
    return unix_datagram(std::move(socket));
}

std::pair<unix_datagram, unix_datagram> unix_datagram::pair() {
    return pair(detail::current_executor());
}

std::pair<unix_datagram, unix_datagram> unix_datagram::pair(asio::any_io_executor executor) {
    socket_type a(executor), b(executor);
    error_code ec;
    asio::local::connect_pair(a, b, ec);
    detail::check(ec, "socketpair", std::string("(AF_UNIX, SOCK_DGRAM)"));
    return {unix_datagram(std::move(a)), unix_datagram(std::move(b))};
}

unix_datagram unix_datagram::from_fd(int fd) {
    return from_fd(detail::current_executor(), fd);
}

unix_datagram unix_datagram::from_fd(asio::any_io_executor executor, int fd) {
    return unix_datagram(
        detail::adopt<socket_type>(executor, fd, "a Unix-domain datagram socket", {AF_UNIX}, SOCK_DGRAM, 0));
}

void unix_datagram::connect(std::string_view path) {
    auto& c = core_.core("connect");
    socket_type::endpoint_type endpoint(detail::unix_name(path, "connect to"));
    error_code ec;
    c.socket.connect(endpoint, ec);
    detail::check(ec, "connect to", std::string(path));
    c.endpoint = endpoint;
}

std::string unix_datagram::local_path() const {
    return core_.core("local_path").where;
}

}  // namespace cosock
