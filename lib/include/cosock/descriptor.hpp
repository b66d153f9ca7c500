// cosock/descriptor.hpp — raw socket descriptors: Python's `socket.socket(family, type, proto)`
// constructor and its `fileno=` argument. Create one here, or take one from elsewhere (systemd,
// a parent process, a C library), then hand it to a cosock socket type's `from_fd`.
// SPDX-License-Identifier: MIT
#pragma once

#include <initializer_list>
#include <string>

#include <cosock/export.hpp>

namespace cosock {

/// What the kernel says a socket descriptor is (Python: `sk.family`, `sk.type`, `sk.proto`),
/// read with getsockopt SO_DOMAIN, SO_TYPE, SO_PROTOCOL and SO_ACCEPTCONN.
struct socket_kind {
    int family = 0;          ///< AF_INET, AF_INET6, AF_UNIX, ...
    int type = 0;            ///< SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, ...
    int protocol = 0;        ///< IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 0 for AF_UNIX
    bool listening = false;  ///< listen() was called on it

    /// "AF_INET, SOCK_STREAM, IPPROTO_TCP".
    COSOCK_EXPORT std::string to_string() const;
    /// A name for people: "a TCP socket", "a Unix-domain datagram socket", ...
    COSOCK_EXPORT std::string describe() const;
};

/// Asks the kernel what `fd` is. Throws `cosock::error`: "descriptor 7: not a socket" (ENOTSOCK),
/// "descriptor 99: Bad file descriptor".
COSOCK_EXPORT socket_kind kind_of(int fd);

/// An open socket descriptor that closes itself (Python: the object `socket.socket()` returns,
/// before it is bound or connected). Move-only. Give it to `tcp_stream::from_fd(d.release())` &
/// co. to use it with cosock.
class COSOCK_EXPORT descriptor {
public:
    descriptor() = default;
    /// Takes ownership of `fd` (closed by the destructor).
    explicit descriptor(int fd) noexcept : fd_(fd) {}
    descriptor(descriptor&& other) noexcept : fd_(other.release()) {}
    descriptor& operator=(descriptor&& other) noexcept;
    ~descriptor();

    /// The descriptor number (Python: `fileno()`); -1 when empty.
    int get() const noexcept { return fd_; }
    /// Gives the descriptor up without closing it (Python: `detach()`).
    int release() noexcept;
    /// `kind_of(get())`.
    socket_kind kind() const { return kind_of(fd_); }

private:
    int fd_ = -1;
};

/// Creates a socket descriptor like Python's `socket.socket(family, type, proto)`: for example
/// `cosock::socket(AF_INET6, SOCK_DGRAM)`. Close-on-exec. Throws `cosock::error`: "socket(AF_INET,
/// SOCK_RAW, IPPROTO_ICMP): Operation not permitted", "socket(12345, SOCK_STREAM, 0): Address family
/// not supported by protocol".
COSOCK_EXPORT descriptor socket(int family, int type, int protocol = 0);

namespace detail {
/// Checks that `fd` is a socket of one of `families`, of `type` and (unless 0) `protocol`, for
/// adopting it as `as_what` ("a TCP stream"); returns what it is, or throws "adopt descriptor 7
/// as a TCP stream: it is a UDP socket (AF_INET, SOCK_DGRAM, IPPROTO_UDP)".
COSOCK_EXPORT socket_kind expect_kind(int fd, const char* as_what, std::initializer_list<int> families,
                                      int type, int protocol);
}  // namespace detail

}  // namespace cosock
