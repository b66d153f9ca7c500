// adopt.hpp (private) — the one body of every `from_fd`: ask the kernel what `fd` is, refuse the
// wrong kind, hand it to a new Asio socket or acceptor of the right protocol.
// SPDX-License-Identifier: MIT
#pragma once

#include <initializer_list>
#include <string>

#include <sys/socket.h>

#include <boost/asio/any_io_executor.hpp>

#include <cosock/descriptor.hpp>
#include <cosock/detail/basic_socket.hpp>

namespace cosock::detail {

/// `fd` as a new `Socket` (an Asio socket or acceptor) on `executor`, once expect_kind has
/// accepted it; `kind`, when given, receives what the kernel said (a listener needs `listening`).
/// Throws "adopt descriptor 7 as a TCP stream: ...", leaving a refused `fd` open.
template <class Socket>
Socket adopt(const boost::asio::any_io_executor& executor, int fd, const char* as_what,
             std::initializer_list<int> families, int type, int protocol, socket_kind* kind = nullptr) {
    using protocol_type = typename Socket::protocol_type;
    auto found = expect_kind(fd, as_what, families, type, protocol);
    if (kind) *kind = found;
    Socket socket(executor);
    error_code ec;
    if constexpr (requires { protocol_type::v4(); })  // IP: the family picks v4 or v6
        socket.assign(found.family == AF_INET ? protocol_type::v4() : protocol_type::v6(), fd, ec);
    else
        socket.assign(protocol_type(), fd, ec);
    check(ec, "adopt descriptor", std::to_string(fd));
    return socket;
}

}  // namespace cosock::detail
