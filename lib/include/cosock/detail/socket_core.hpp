// cosock/detail/socket_core.hpp — the heap half of every cosock socket: the Asio socket, the
// one-read/one-write guard and the lifetime rule that makes destroying a busy socket safe.
// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <utility>

#include <boost/asio/post.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/operation.hpp>
#include <cosock/error.hpp>

namespace cosock::detail {

/// What an operation occupies on its socket: at most one read and one write may be pending.
enum class role { read, write, other };

/// Lives on the heap so that its address is stable while operations are pending: a cosock socket
/// object is a pointer to its core and can be moved freely. Lifetime: the socket object owns the
/// core; when the object is destroyed with operations pending, the core closes its Asio socket
/// (the operations complete with `operation_aborted`) and deletes itself when the last one ends.
/// Single-threaded like the event loop it belongs to.
template <class Socket>
struct socket_core {
    explicit socket_core(Socket s) : socket(std::move(s)) {}

    Socket socket;
    address where;              // peer of a stream, local address of a listener: for error messages
    std::string pending_input;  // bytes read ahead by read_line/read_exact, handed out first
    typename Socket::endpoint_type endpoint;  // filled by the one pending accept (or recv_from)
    int pending = 0;                          // operations started and not yet completed
    bool reading = false;
    bool writing = false;
    bool orphaned = false;  // the owning object is gone: delete when `pending` drops to 0
    // The peer has closed its side. Remembered because Asio, once a read has met end of stream,
    // stops trying reads at once and waits for readiness that an edge-triggered epoll never
    // reports again: a second read would hang. With this flag it returns end of stream at once.
    bool at_eof = false;

    /// Starts an operation: checks the read/write guard, counts it as pending, and calls
    /// `start(h)` where `h(error_code, T...)` releases the guard before calling `handler`.
    template <class T, class Handler, class Start>
    void launch(role r, Handler handler, Start start) {
        bool* busy = r == role::read ? &reading : r == role::write ? &writing : nullptr;
        if (busy && *busy) {
            auto ec = make_error_code(r == role::read ? errc::concurrent_read : errc::concurrent_write);
            boost::asio::post(socket.get_executor(),
                              [h = std::move(handler), ec]() mutable { std::move(h)(error_code(ec), T{}); });
            return;
        }
        if (busy) *busy = true;
        ++pending;
        std::move(start)(intercept{std::move(handler), [this, busy](auto h, error_code ec, T value) {
                                       if (busy) *busy = false;
                                       release();
                                       std::move(h)(ec, std::move(value));
                                   }});
    }

    void release() {
        if (--pending == 0 && orphaned) delete this;
    }

    /// Called by the owning object's destructor.
    void orphan() {
        orphaned = true;
        error_code ignored;
        socket.close(ignored);
        if (pending == 0) delete this;
    }
};

/// Owning pointer to a core with the orphan rule above; the base of every socket type.
template <class Socket>
class core_owner {
public:
    core_owner() = default;
    explicit core_owner(socket_core<Socket>* core) : core_(core) {}
    core_owner(core_owner&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
    core_owner& operator=(core_owner&& other) noexcept {
        if (this != &other) {
            reset();
            core_ = std::exchange(other.core_, nullptr);
        }
        return *this;
    }
    ~core_owner() { reset(); }

    void reset() {
        if (core_) std::exchange(core_, nullptr)->orphan();
    }
    /// The core, or a `cosock::error` (`errc::not_open`) for a moved-from or default object.
    socket_core<Socket>& core(const char* what) const {
        if (!core_) throw_error(make_error_code(errc::not_open), what);
        return *core_;
    }
    socket_core<Socket>* get() const noexcept { return core_; }

private:
    socket_core<Socket>* core_ = nullptr;
};

}  // namespace cosock::detail
