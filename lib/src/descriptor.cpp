// descriptor.cpp — socket descriptors: creating them, and asking the kernel what one is.
// SPDX-License-Identifier: MIT
#include <cosock/descriptor.hpp>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cosock/error.hpp>

namespace cosock {

namespace {

std::string family_name(int family) {
    switch (family) {
        case AF_INET:
            return "AF_INET";
        case AF_INET6:
            return "AF_INET6";
        case AF_UNIX:
            return "AF_UNIX";
        case AF_PACKET:
            return "AF_PACKET";
        case AF_NETLINK:
            return "AF_NETLINK";
        default:
            return std::to_string(family);
    }
}

std::string type_name(int type) {
    switch (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        case SOCK_STREAM:
            return "SOCK_STREAM";
        case SOCK_DGRAM:
            return "SOCK_DGRAM";
        case SOCK_RAW:
            return "SOCK_RAW";
        case SOCK_SEQPACKET:
            return "SOCK_SEQPACKET";
        default:
            return std::to_string(type);
    }
}

std::string protocol_name(int family, int protocol) {
    if (family != AF_INET && family != AF_INET6) return std::to_string(protocol);
    switch (protocol) {
        case IPPROTO_TCP:
            return "IPPROTO_TCP";
        case IPPROTO_UDP:
            return "IPPROTO_UDP";
        case IPPROTO_ICMP:
            return "IPPROTO_ICMP";
        case IPPROTO_ICMPV6:
            return "IPPROTO_ICMPV6";
        case IPPROTO_SCTP:
            return "IPPROTO_SCTP";
        default:
            return std::to_string(protocol);
    }
}

int get_int_option(int fd, int option, std::error_code& ec) {
    int value = 0;
    socklen_t size = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, option, &value, &size) != 0) ec = {errno, std::system_category()};
    return value;
}

}  // namespace

std::string socket_kind::to_string() const {
    return fmt::format("{}, {}, {}", family_name(family), type_name(type), protocol_name(family, protocol));
}

std::string socket_kind::describe() const {
    bool ip = family == AF_INET || family == AF_INET6;
    if (ip && type == SOCK_STREAM && protocol == IPPROTO_TCP) return "a TCP socket";
    if (ip && type == SOCK_DGRAM && protocol == IPPROTO_UDP) return "a UDP socket";
    if (ip && type == SOCK_RAW) return "a raw IP socket";
    if (family == AF_UNIX && type == SOCK_STREAM) return "a Unix-domain stream socket";
    if (family == AF_UNIX && type == SOCK_DGRAM) return "a Unix-domain datagram socket";
    return "a socket";
}

socket_kind kind_of(int fd) {
    std::error_code ec;
    socket_kind kind;
    kind.family = get_int_option(fd, SO_DOMAIN, ec);
    if (!ec) kind.type = get_int_option(fd, SO_TYPE, ec);
    if (!ec) kind.protocol = get_int_option(fd, SO_PROTOCOL, ec);
    if (!ec) kind.listening = get_int_option(fd, SO_ACCEPTCONN, ec) != 0;
    if (ec == std::errc::not_a_socket) throw error(ec, fmt::format("descriptor {}", fd), "not a socket");
    if (ec) throw error(ec, fmt::format("descriptor {}", fd));
    return kind;
}

descriptor& descriptor::operator=(descriptor&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.release();
    }
    return *this;
}

descriptor::~descriptor() {
    if (fd_ >= 0) ::close(fd_);
}

int descriptor::release() noexcept {
    return std::exchange(fd_, -1);
}

descriptor socket(int family, int type, int protocol) {
    int fd = ::socket(family, type | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        throw error(std::error_code(errno, std::system_category()),
                    fmt::format("socket({}, {}, {})", family_name(family), type_name(type),
                                protocol_name(family, protocol)));
    return descriptor(fd);
}

namespace detail {

socket_kind expect_kind(int fd, const char* as_what, std::initializer_list<int> families, int type,
                        int protocol) {
    socket_kind kind;
    try {
        kind = kind_of(fd);
    } catch (const error& e) {
        throw error(e.code(), fmt::format("adopt descriptor {} as {}", fd, as_what),
                    e.code() == std::errc::not_a_socket ? "not a socket" : e.code().message());
    }
    bool family_ok = std::find(families.begin(), families.end(), kind.family) != families.end();
    if (!family_ok || kind.type != type || (protocol != 0 && kind.protocol != protocol))
        throw error(std::make_error_code(std::errc::wrong_protocol_type),
                    fmt::format("adopt descriptor {} as {}", fd, as_what),
                    fmt::format("it is {} ({})", kind.describe(), kind.to_string()));
    return kind;
}

}  // namespace detail
}  // namespace cosock
