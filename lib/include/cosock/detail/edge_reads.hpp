// cosock/detail/edge_reads.hpp — reads on a kernel stream socket that tell Asio's epoll reactor
// when they took all the socket had, so that the next read waits for epoll instead of trying a
// read that must fail (docs/performance.md, "The read that finds nothing").
// SPDX-License-Identifier: MIT
//
// Asio's reactor registers each socket edge-triggered and keeps, per socket, a flag "try a new
// read at once". An epoll event sets it; only a read that answers "done and exhausted" clears it,
// and Asio's own reads say so only at end of stream. The operations here say so after a read
// that did not fill its buffer and left nothing behind, as Tokio does. So after a
// request-response connection's short read and its reply, the next read or readiness wait is
// queued without a system call, and epoll's next event completes it. The flag lives in the
// reactor, under its lock, so no event can slip between a read and the flag it leaves.
// "Nothing behind" must include what one event can report beside the bytes and never report
// again: the peer's end of stream (TCP_INQ, turned on by tcp.cpp, counts it as a byte left) and a
// reset (an error or hang-up event, seen in the reactor; edge_reads.cpp). A socket that gives no
// count (Unix-domain, or a kernel without TCP_INQ) is never taken for empty: its reads try at once.
//
// This reaches into Asio's implementation (detail::epoll_reactor, reactor_op, a socket's
// protected implementation), so it is built only for the Asio it was written against (1.26, in
// Boost 1.81) with the epoll reactor; elsewhere `available` is false and basic_stream.hpp uses
// Asio's public operations, which are correct and cost the read that finds nothing.
#pragma once

#include <cstddef>
#include <type_traits>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/version.hpp>
#include <boost/system/error_code.hpp>

#include <cosock/export.hpp>

#if BOOST_ASIO_VERSION == 102600 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define COSOCK_EDGE_READS 1
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#else
#define COSOCK_EDGE_READS 0
#endif

namespace cosock::detail {

using boost::system::error_code;

/// poll(2) with no wait: true when a read on `fd` would not block (bytes, end of stream or an
/// error are there). Unlike a peek, it leaves a pending error for the read to report (tcp.cpp).
COSOCK_EXPORT bool readable_now(int fd);

}  // namespace cosock::detail

namespace cosock::detail::edge {

/// What an operation is for: a read into a buffer, a wait until a read would not block, or one
/// datagram with its sender.
enum class kind { read, wait, datagram };

#if COSOCK_EDGE_READS

inline constexpr bool available = true;

using reactor = boost::asio::detail::epoll_reactor;

/// A socket as the reactor knows it. `reactor` is looked up once per socket (a registry search
/// under a mutex) and kept by the caller.
struct registration {
    reactor* owner;
    reactor::per_descriptor_data* data;  // null while the socket is not open
    int fd;
    // TCP: a read asks for TCP_INQ's count of bytes left. Never on a Unix-domain socket, where
    // room for control data would also take in descriptors a peer sends (SCM_RIGHTS).
    bool tcp;
};

template <class Socket>
registration registration_of(Socket& socket, reactor*& cached) {
    // The socket's implementation is a protected member of basic_socket; a pointer to it, formed
    // in a derived class, reads it on any socket of that type.
    struct access : Socket {
        static auto& implementation(Socket& s) { return (s.*&access::impl_).get_implementation(); }
    };
    auto& impl = access::implementation(socket);
    if (!cached)
        cached = &boost::asio::use_service<reactor>(
            boost::asio::query(socket.get_executor(), boost::asio::execution::context));
    return {cached, &impl.reactor_data_, impl.socket_,
            std::is_same_v<typename Socket::protocol_type, boost::asio::ip::tcp>};
}

/// The part of an operation that the reactor performs (edge_reads.cpp).
class op_base : public boost::asio::detail::reactor_op {
public:
    kind what;
    int fd;
    boost::asio::mutable_buffer buffer;
    reactor::per_descriptor_data state = nullptr;  // the socket's entry in the reactor, set by start
    bool tcp = false;                              // set by start (registration::tcp)
    void* name = nullptr;                          // a datagram's sender: where its address goes,
    std::size_t name_size = 0;                     // the room there, then the address's length

protected:
    op_base(kind k, int descriptor, boost::asio::mutable_buffer b, func_type complete)
        : reactor_op(error_code(), &perform, complete), what(k), fd(descriptor), buffer(b) {}

private:
    COSOCK_EXPORT static status perform(reactor_op* base);
};

/// Hands `op` to the reactor's read queue: performed at once when the reactor has not been told
/// the socket is empty, else when epoll reports it readable.
COSOCK_EXPORT void start(registration where, op_base* op);

/// One read of what is there, now: like recv(2) with MSG_DONTWAIT, `would_block` when empty,
/// without a system call when the reactor knows the socket is empty since its last event.
COSOCK_EXPORT error_code try_read(registration where, boost::asio::mutable_buffer buffer, std::size_t& n);

/// One datagram, now: recvmsg with MSG_DONTWAIT | MSG_TRUNC. `n` is the datagram's real length
/// (more than `buffer` holds when it was cut); `name_size` is the room at `name`, then the
/// sender's length. `would_block` when none waits.
COSOCK_EXPORT error_code receive_datagram_now(int fd, boost::asio::mutable_buffer buffer, void* name,
                                              std::size_t& name_size, std::size_t& n);

/// Runs `attempt(context)`, one non-blocking receive, under the socket's reactor lock, unless the
/// reactor knows the socket is empty since its last event (then `would_block` without a system
/// call); an attempt that finds nothing records that. For datagram sockets, where a receive that
/// took a datagram cannot tell whether more wait: a busy socket's receives complete at once, and
/// an idle one's wait for epoll without a second try.
COSOCK_EXPORT error_code try_at_once(registration where, error_code (*attempt)(void*), void* context);

template <class Attempt>
error_code try_receive(registration where, Attempt& attempt) {
    return try_at_once(
        where, [](void* a) { return (*static_cast<Attempt*>(a))(); }, &attempt);
}

/// Asio's per-operation cancellation for these operations: withdraws the one it is keyed to.
struct cancel_by_key {
    explicit cancel_by_key(registration w) : where(w) {}  // (clang 14 has no aggregate init by parentheses)
    registration where;
    void operator()(boost::asio::cancellation_type_t type) {
        using boost::asio::cancellation_type;
        if (!!(type & (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total)))
            where.owner->cancel_ops_by_key(where.fd, *where.data, reactor::read_op, this);
    }
};

/// An operation that completes `Handler(error_code, std::size_t)` on the loop thread that ran
/// the reactor's event: called there directly, as Asio does for a handler of that loop. A
/// datagram's operation also gives its `Sender` endpoint the received address's length.
template <class Handler, class Sender = void>
class handler_op : public op_base {
    using allocator = boost::asio::recycling_allocator<handler_op>;

public:
    static handler_op* make(kind k, int fd, boost::asio::mutable_buffer b, Handler h,
                            Sender* sender = nullptr) {
        return new (allocator().allocate(1)) handler_op(k, fd, b, std::move(h), sender);
    }

    Handler handler;

private:
    Sender* sender;

    handler_op(kind k, int fd, boost::asio::mutable_buffer b, Handler h, Sender* s)
        : op_base(k, fd, b, &handler_op::complete), handler(std::move(h)), sender(s) {
        if constexpr (!std::is_void_v<Sender>) {
            name = sender->data();
            name_size = sender->capacity();
        }
    }

    static void complete(void* owner, boost::asio::detail::scheduler_operation* base, const error_code&,
                         std::size_t) {
        auto* op = static_cast<handler_op*>(base);
        Handler h(std::move(op->handler));
        error_code ec = op->ec_;
        std::size_t n = op->bytes_transferred_;
        if constexpr (!std::is_void_v<Sender>)
            if (!ec) op->sender->resize(op->name_size);
        op->~handler_op();
        allocator().deallocate(op, 1);   // before the handler runs: it may start the next read
        if (owner) std::move(h)(ec, n);  // no owner: the loop is being destroyed, the handler is not run
    }
};

/// `start`, with the handler's cancellation slot (if any) keyed to the operation.
template <class Op>
void start_cancellable(registration where, Op* op) {
    auto slot = boost::asio::get_associated_cancellation_slot(op->handler);
    if (slot.is_connected() && *where.data)
        op->cancellation_key_ = &slot.template emplace<cancel_by_key>(where);
    start(where, op);
}

/// Starts a read (`kind::read`: `h(ec, bytes)`) or a readiness wait (`kind::wait`: `h(ec, 0)`).
template <class Socket, class Handler>
void async_start(kind k, Socket& socket, reactor*& cached, boost::asio::mutable_buffer buffer, Handler h) {
    auto where = registration_of(socket, cached);
    start_cancellable(where, handler_op<Handler>::make(k, where.fd, buffer, std::move(h)));
}

/// Starts the receive of one datagram into `buffer`, its sender into `sender`: `h(ec, real length)`.
template <class Socket, class Handler>
void async_receive_from(Socket& socket, reactor*& cached, boost::asio::mutable_buffer buffer,
                        typename Socket::endpoint_type& sender, Handler h) {
    auto where = registration_of(socket, cached);
    using op = handler_op<Handler, typename Socket::endpoint_type>;
    start_cancellable(where, op::make(kind::datagram, where.fd, buffer, std::move(h), &sender));
}

#else

// Declared, never defined: basic_stream.hpp names them only in branches that `available` discards.
inline constexpr bool available = false;
using reactor = void;
struct registration {};
template <class Socket>
registration registration_of(Socket& socket, reactor*& cached);
error_code try_read(registration where, boost::asio::mutable_buffer buffer, std::size_t& n);
template <class Socket, class Handler>
void async_start(kind k, Socket& socket, reactor*& cached, boost::asio::mutable_buffer buffer, Handler h);
error_code receive_datagram_now(int fd, boost::asio::mutable_buffer buffer, void* name,
                                std::size_t& name_size, std::size_t& n);
template <class Attempt>
error_code try_receive(registration where, Attempt& attempt);
template <class Socket, class Handler>
void async_receive_from(Socket& socket, reactor*& cached, boost::asio::mutable_buffer buffer,
                        typename Socket::endpoint_type& sender, Handler h);

#endif

}  // namespace cosock::detail::edge
