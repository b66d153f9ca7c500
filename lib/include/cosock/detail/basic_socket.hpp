// cosock/detail/basic_socket.hpp — what every cosock socket type has, whatever its family and type:
// the owned core, the timeout, closing, the descriptor, buffer sizes. tcp_stream, tcp_listener,
// udp_endpoint and the unix_* types derive from it (through basic_stream, basic_listener and
// basic_datagram), so each of these members is written once.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <chrono>
#include <string_view>

#include <boost/asio/socket_base.hpp>

#include <cosock/detail/operation.hpp>
#include <cosock/detail/socket_core.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>

namespace cosock::detail {

/// Throws `cosock::error` "<what> <where>: <reason>" when `ec` is set (error.cpp).
[[noreturn]] COSOCK_EXPORT void fail(const error_code& ec, std::string_view what, std::string_view where);
template <class Where>
void check(const error_code& ec, std::string_view what, const Where& where) {
    if (ec) fail(ec, what, describe(&where));
}

/// The members every socket type shares. `Socket` is the Asio socket or acceptor underneath, or
/// a layer over a socket (TLS), whose `lowest_layer()` these members reach.
template <class Socket>
class COSOCK_EXPORT basic_socket {
public:
    /// The timeout of each later operation on this socket; zero: none. Starts as
    /// `cosock::default_timeout()`. Python: `sk.settimeout(5)` / `sk.gettimeout()`.
    void set_timeout(std::chrono::steady_clock::duration timeout) {
        core_.core("set_timeout").timeout = std::max(timeout, std::chrono::steady_clock::duration::zero());
    }
    std::chrono::steady_clock::duration timeout() const { return core_.core("timeout").timeout; }

    /// Closes now; pending operations fail with `operation_aborted`. Python: `sk.close()`.
    void close() {
        if (auto* c = core_.get()) {
            error_code ignored;
            lowest_layer(c->socket).close(ignored);
        }
    }
    /// False after `close()` or `release()`, when moved from, or never opened.
    bool is_open() const noexcept { return core_.get() && lowest_layer(core_.get()->socket).is_open(); }

    /// The descriptor (Python: `fileno()`); the socket still owns it.
    int native_handle() { return lowest_layer(core_.core("native_handle").socket).native_handle(); }

    /// Gives the descriptor up to the caller, who must close it (Python: `detach()`); the socket
    /// is closed afterwards. Pending operations fail with `operation_aborted` first.
    int release() {
        auto& c = core_.core("release");
        error_code ec;
        int fd = lowest_layer(c.socket).release(ec);
        check(ec, "release", c.where);
        return fd;
    }

    /// SO_SNDBUF and SO_RCVBUF (Linux keeps, and reports, twice the value asked for).
    void set_send_buffer_size(int bytes) {
        set(boost::asio::socket_base::send_buffer_size(bytes), "set SO_SNDBUF on");
    }
    void set_receive_buffer_size(int bytes) {
        set(boost::asio::socket_base::receive_buffer_size(bytes), "set SO_RCVBUF on");
    }
    int send_buffer_size() const {
        return get<boost::asio::socket_base::send_buffer_size>("get SO_SNDBUF on");
    }
    int receive_buffer_size() const {
        return get<boost::asio::socket_base::receive_buffer_size>("get SO_RCVBUF on");
    }

protected:
    using core_type = socket_core<Socket>;

    basic_socket() = default;
    explicit basic_socket(core_type* core) : core_(core) {}

    /// setsockopt / getsockopt with the error message naming the socket.
    template <class Option>
    void set(const Option& option, const char* what) {
        auto& c = core_.core(what);
        error_code ec;
        lowest_layer(c.socket).set_option(option, ec);
        check(ec, what, c.where);
    }
    template <class Option>
    int get(const char* what) const {
        auto& c = core_.core(what);
        Option option;
        error_code ec;
        lowest_layer(c.socket).get_option(option, ec);
        check(ec, what, c.where);
        return static_cast<int>(option.value());
    }

    core_owner<Socket> core_;
};

}  // namespace cosock::detail
