// edge_reads.cpp — what Asio's reactor performs for cosock's stream reads (edge_reads.hpp).
// SPDX-License-Identifier: MIT
#include <cosock/detail/edge_reads.hpp>

#if COSOCK_EDGE_READS

#include <cerrno>
#include <cstring>
#include <utility>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace cosock::detail::edge {

namespace {

using boost::asio::detail::conditionally_enabled_mutex;
using descriptor_state = reactor::descriptor_state;
using status = boost::asio::detail::reactor_op::status;

/// The operation being started on this thread: the reactor performs it inside `start` only when
/// it may try at once; later, it performs it from an epoll event.
thread_local op_base* starting = nullptr;

// A socket's entry in Asio's reactor keeps, under its mutex, one "try at once" flag per queue
// (read, write, exception). An epoll event sets the flag of each queue whose condition it names,
// and every flag when it names an error or hang-up (EPOLLERR, EPOLLHUP). try_read reads and
// clears the read flag as Asio's start_op would. The exception queue's flag is set by nothing
// else (cosock queues no exception operation): cleared when a short read consults it, it says
// "an error or hang-up was reported since", the one event a read that took the bytes cannot
// see (a reset's error comes from the read after them). The members are private; an explicit
// instantiation may name them (the access rule does not apply there).
using flags_member = bool (descriptor_state::*)[reactor::max_ops];
using mutex_member = conditionally_enabled_mutex descriptor_state::*;
flags_member speculation_flags();
mutex_member state_mutex();
template <flags_member Flags, mutex_member Mutex>
struct expose {
    friend flags_member speculation_flags() { return Flags; }
    friend mutex_member state_mutex() { return Mutex; }
};
template struct expose<&descriptor_state::try_speculative_, &descriptor_state::mutex_>;

/// TCP_INQ's count of bytes still to read after a recvmsg (nonzero also when the peer's end of
/// stream is still to be read), or -1 when the socket did not give it: not TCP, or the option
/// is off (tcp.cpp turns it on where it makes connections).
int bytes_left(msghdr& msg) {
    int left = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ)
            std::memcpy(&left, CMSG_DATA(c), sizeof left);
    return left;
}

/// One recvmsg into `buffer` (not empty), under the socket's reactor lock, answered as the
/// reactor understands it: `not_done` when nothing was there; `done_and_exhausted` for bytes
/// after which the socket is known empty; `done` for bytes that may leave more, the end of
/// stream (`ec` = eof) or an error.
status read_once(int fd, bool tcp, boost::asio::mutable_buffer buffer, descriptor_state* state,
                 std::size_t& n, error_code& ec) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec part{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &part;
    msg.msg_iovlen = 1;
    if (tcp) {  // room for TCP_INQ's count; a Unix-domain socket gets none (registration::tcp)
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
    }
    ssize_t got;
    do got = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return status::not_done;
        ec = error_code(errno, boost::asio::error::get_system_category());
        return status::done;
    }
    n = static_cast<std::size_t>(got);
    if (n == 0) {
        ec = boost::asio::error::eof;
        return status::done;
    }
    if (n == buffer.size()) return status::done;  // there may be more
    // A short read took all the bytes. The next read may wait for epoll's next event, which any
    // byte arriving after this read brings, unless an event already came that this read could
    // not see: the peer's end of stream (TCP_INQ counts it) or a reset (reported as an error).
    // One epoll event can stand for the bytes and either, and it does not come again.
    if (bytes_left(msg) != 0) return status::done;
    if (std::exchange((state->*speculation_flags())[reactor::except_op], false)) return status::done;
    return status::done_and_exhausted;
}

}  // namespace

error_code receive_datagram_now(int fd, boost::asio::mutable_buffer buffer, void* name,
                                std::size_t& name_size, std::size_t& n) {
    iovec part{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_name = name;
    msg.msg_namelen = static_cast<socklen_t>(name_size);
    msg.msg_iov = &part;
    msg.msg_iovlen = 1;
    ssize_t got;
    do got = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);  // MSG_TRUNC: the real length
    while (got < 0 && errno == EINTR);
    if (got < 0) return error_code(errno, boost::asio::error::get_system_category());
    n = static_cast<std::size_t>(got);
    name_size = msg.msg_namelen;
    return {};
}

auto op_base::perform(reactor_op* base) -> status {
    auto* op = static_cast<op_base*>(base);
    switch (op->what) {
        case kind::wait:
            // From an event: epoll reported bytes, end of stream or an error. At the start, the
            // reactor has not been told the socket is empty: look without reading.
            return starting != op || readable_now(op->fd) ? done : not_done;
        case kind::datagram:
            op->ec_ =
                receive_datagram_now(op->fd, op->buffer, op->name, op->name_size, op->bytes_transferred_);
            return op->ec_ == boost::asio::error::would_block ? not_done : done;
        case kind::read:
            break;
    }
    return read_once(op->fd, op->tcp, op->buffer, op->state, op->bytes_transferred_, op->ec_);
}

void start(registration where, op_base* op) {
    op->state = *where.data;
    op->tcp = where.tcp;
    starting = op;
    where.owner->start_op(reactor::read_op, where.fd, *where.data, op, /*is_continuation=*/true,
                          /*allow_speculative=*/true);
    starting = nullptr;
}

namespace {

/// Calls `attempt(state, may_try)` under the socket's reactor lock, unless the reactor knows the
/// socket is empty since its last event (then `would_block` without a system call). No
/// operation: one handed to the reactor and performed at once would be posted to the loop, which
/// then polls epoll once more before it waits.
template <class Attempt>
error_code with_read_flag(registration where, Attempt attempt) {
    auto* state = *where.data;
    if (!state) return boost::asio::error::bad_descriptor;
    conditionally_enabled_mutex::scoped_lock lock(state->*state_mutex());
    bool& may_try = (state->*speculation_flags())[reactor::read_op];
    if (!may_try) return boost::asio::error::would_block;  // known empty since the last event
    return attempt(state, may_try);
}

}  // namespace

error_code try_at_once(registration where, error_code (*attempt)(void*), void* context) {
    return with_read_flag(where, [&](descriptor_state*, bool& may_try) {
        error_code ec = attempt(context);
        if (ec == boost::asio::error::would_block) may_try = false;  // the next epoll event sets it again
        return ec;
    });
}

error_code try_read(registration where, boost::asio::mutable_buffer buffer, std::size_t& n) {
    n = 0;
    return with_read_flag(where, [&](descriptor_state* state, bool& may_try) {
        error_code ec;
        switch (read_once(where.fd, where.tcp, buffer, state, n, ec)) {
            case status::not_done:
                may_try = false;  // found empty: the next epoll event sets it again
                return error_code(boost::asio::error::would_block);
            case status::done_and_exhausted:
                may_try = false;
                return ec;
            default:
                return ec;
        }
    });
}

}  // namespace cosock::detail::edge

#endif
