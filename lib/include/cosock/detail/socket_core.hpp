// cosock/detail/socket_core.hpp — the heap half of every cosock socket: the Asio socket, the
// one-read/one-write guard and the lifetime rule that makes destroying a busy socket safe.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/edge_reads.hpp>
#include <cosock/detail/operation.hpp>
#include <cosock/detail/watchdog.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>

namespace cosock::detail {

/// What an operation occupies on its socket: at most one read and one write may be pending.
/// Each role has its own deadline lane on the socket's timer.
enum class role { read = 0, write = 1, other = 2 };

/// Completes `handler(args...)` from the event loop, never inline (an Asio handler must not run
/// inside the call that started its operation), on the handler's own executor. When that is a
/// plain io_context executor, posting to it directly skips any_io_executor's type-erased
/// property requirements (about 400 instructions per immediate result).
template <class Handler, class... Args>
void post_completion(const boost::asio::any_io_executor& fallback, Handler handler, Args... args) {
    auto executor = boost::asio::get_associated_executor(handler, fallback);
    auto complete = [h = std::move(handler), ... args = std::move(args)]() mutable {
        std::move(h)(std::move(args)...);
    };
    if constexpr (std::is_same_v<decltype(executor), boost::asio::any_io_executor>) {
        if (auto* io = executor.template target<boost::asio::io_context::executor_type>())
            return boost::asio::post(*io, std::move(complete));
    }
    boost::asio::post(executor, std::move(complete));
}

/// True when `Handler` (under cosock's own adapters: intercept, a bound cancellation slot) is the
/// handler through which Asio resumes a coroutine that `co_await`s the operation. Asio calls an
/// operation's initiation only after that coroutine has suspended (awaitable_async_op runs it
/// "after suspend"), so such a handler may be called inline: the coroutine resumes on this stack
/// without a trip through the scheduler. Any other handler (a callback, use_future, a parallel
/// group) must not run inside the call that started its operation.
template <class Handler>
struct resumes_awaiting_coroutine : std::false_type {};
template <class Signature, class Executor>
struct resumes_awaiting_coroutine<boost::asio::detail::awaitable_async_op_handler<Signature, Executor>>
    : std::true_type {};
template <class Handler, class Fn>
struct resumes_awaiting_coroutine<intercept<Handler, Fn>> : resumes_awaiting_coroutine<Handler> {};
template <class Handler, class Slot>
struct resumes_awaiting_coroutine<boost::asio::cancellation_slot_binder<Handler, Slot>>
    : resumes_awaiting_coroutine<Handler> {};

/// Results found at once, completed inline on this thread without deepening its stack. The
/// outermost complete_now runs its handler; a result found at once while that handler runs (the
/// resumed coroutine's next operation) is kept here and run after the handler returns, then the
/// one that leaves, and so on: a loop, not a nesting. At most one waits at a time (the coroutine
/// that left it is suspended until it runs). After `inline_budget` of them in a row the next is
/// posted instead, so that a connection whose every operation completes at once lets the others
/// run (the fairness budget; Tokio's is 128). Only on the thread's current handler: a completion
/// found inside an event loop run nested in it is posted.
struct inline_completions {
    static constexpr std::size_t room = 256;                     // larger completions are posted
    bool active = false;                                         // an outermost complete_now is running
    int ran = 0;                                                 // inline in a row since it began
    boost::asio::detail::thread_info_base* loop_call = nullptr;  // the event loop call it runs in
    void (*pending)(void* storage, bool post) = nullptr;         // runs (or posts) what is kept
    alignas(std::max_align_t) unsigned char storage[room];
};
inline constexpr int inline_budget = 64;
COSOCK_EXPORT inline_completions& this_thread_completions() noexcept;

/// Completes `handler(args...)` with a result found at once: inline when the handler resumes an
/// awaiting coroutine and the budget allows, else through post_completion.
template <class Handler, class... Args>
void complete_now(const boost::asio::any_io_executor& fallback, Handler handler, Args... args) {
    if constexpr (resumes_awaiting_coroutine<Handler>::value) {
        using kept = std::tuple<Handler, Args...>;
        auto& t = this_thread_completions();
        auto* loop_call = boost::asio::detail::thread_context::top_of_thread_call_stack();
        if (!t.active) {
            // The outermost: runs the handler, then what each run leaves, until none is left.
            struct outermost {
                inline_completions& t;
                outermost(inline_completions& c, boost::asio::detail::thread_info_base* call) : t(c) {
                    t.active = true;
                    t.ran = 1;
                    t.loop_call = call;
                }
                ~outermost() {  // a handler threw: what it left is posted, not lost
                    if (auto p = std::exchange(t.pending, nullptr)) p(t.storage, true);
                    t.active = false;
                }
            } scope(t, loop_call);
            std::move(handler)(std::move(args)...);
            while (auto p = std::exchange(t.pending, nullptr)) p(t.storage, false);
            return;
        }
        if constexpr (sizeof(kept) <= inline_completions::room) {
            if (t.ran < inline_budget && t.loop_call == loop_call && !t.pending) {
                ++t.ran;
                new (t.storage) kept(std::move(handler), std::move(args)...);
                t.pending = [](void* storage, bool post) {
                    auto* k = static_cast<kept*>(storage);
                    kept taken(std::move(*k));
                    k->~kept();
                    if (!post)
                        return std::apply([](auto&& h, auto&&... a) { std::move(h)(std::move(a)...); },
                                          std::move(taken));
                    std::apply(
                        [](auto&& h, auto&&... a) {
                            auto ex = boost::asio::get_associated_executor(h);
                            post_completion(ex, std::move(h), std::move(a)...);
                        },
                        std::move(taken));
                };
                return;
            }
        }
    }
    post_completion(fallback, std::move(handler), std::move(args)...);
}

/// The process default of `set_default_timeout` (timeout.cpp); zero: none.
COSOCK_EXPORT clock::duration default_timeout() noexcept;

/// How a socket names itself in error messages: an `address` ("127.0.0.1:7777") for IP sockets, the
/// path for Unix-domain ones ("/run/app.sock", "@name" for an abstract name, "" when unnamed).
template <class Protocol>
struct where_of {
    using type = address;
};
template <>
struct where_of<boost::asio::local::stream_protocol> {
    using type = std::string;
};
template <>
struct where_of<boost::asio::local::datagram_protocol> {
    using type = std::string;
};

/// How cosock shows an endpoint: an `address` for IP, the path for Unix-domain sockets ("@name"
/// for a Linux abstract name, "" for an unnamed socket).
inline address peer_of(const boost::asio::ip::tcp::endpoint& e) {
    return e;
}
inline address peer_of(const boost::asio::ip::udp::endpoint& e) {
    return e;
}
COSOCK_EXPORT std::string path_of(const void* sockaddr, std::size_t size);  // unix.cpp
template <class Protocol>
std::string peer_of(const boost::asio::local::basic_endpoint<Protocol>& e) {
    return path_of(e.data(), e.size());
}

/// A Unix-domain path as the kernel takes it: "@name" becomes "\0name" (an abstract name).
/// Throws `cosock::error` for a path longer than sockaddr_un can hold (unix.cpp).
COSOCK_EXPORT std::string unix_name(std::string_view path, const char* what);

/// The Asio endpoint of a peer as cosock names it.
template <class Protocol>
typename Protocol::endpoint endpoint_of(const typename where_of<Protocol>::type& to) {
    if constexpr (std::is_same_v<Protocol, boost::asio::ip::udp>)
        return to.udp_endpoint();
    else if constexpr (std::is_same_v<Protocol, boost::asio::ip::tcp>)
        return to.tcp_endpoint();
    else
        return typename Protocol::endpoint(unix_name(to, "send_to"));
}

/// The kernel socket under a transport: the socket itself, or the TCP socket under a TLS stream
/// (Asio's `lowest_layer()`; a memory transport is its own). Closing, options and the
/// descriptor go there.
template <class Transport>
auto& lowest_layer(Transport& t) {
    if constexpr (requires { t.lowest_layer(); })
        return t.lowest_layer();
    else
        return t;  // an acceptor
}

/// The protocol (ip::tcp, local::stream_protocol, ...) of the socket under a transport.
template <class Transport>
using protocol_of =
    typename std::remove_cvref_t<decltype(lowest_layer(std::declval<Transport&>()))>::protocol_type;

/// True when the transport is a kernel socket itself (not a layer such as TLS over one): its
/// operations may call the system directly (send(2) first).
template <class Transport>
inline constexpr bool is_kernel_socket = std::is_base_of_v<boost::asio::socket_base, Transport>;

/// True for datagram sockets (UDP, Unix datagram), whose core keeps the sender of a receive.
template <class Socket>
inline constexpr bool is_datagram =
    std::is_same_v<Socket,
                   boost::asio::basic_datagram_socket<protocol_of<Socket>, typename Socket::executor_type>>;
struct no_sender {};

/// True for listeners, whose core keeps the peer of the one pending accept.
template <class Socket>
inline constexpr bool is_acceptor =
    std::is_same_v<Socket,
                   boost::asio::basic_socket_acceptor<protocol_of<Socket>, typename Socket::executor_type>>;
struct no_endpoint {};

/// Lives on the heap so that its address is stable while operations are pending: a cosock socket
/// object is a pointer to its core and can be moved freely. `Socket` is the transport: an Asio
/// socket or acceptor, or a layer over a socket (`ssl::stream<tcp::socket>`). Lifetime: the socket object
/// owns the core; when the object is destroyed with operations pending, the core closes its Asio socket (the
/// operations complete with `operation_aborted`) and deletes itself when the last one ends. Single-threaded
/// like the event loop it belongs to.
template <class Socket>
struct socket_core {
    using where_type = typename where_of<protocol_of<Socket>>::type;
    using endpoint_type = typename protocol_of<Socket>::endpoint;

    explicit socket_core(Socket s) : socket(std::move(s)), timeout(default_timeout()) {}

    Socket socket;
    // For error messages: the peer of a stream, the local address of a listener or datagram socket.
    where_type where;
    std::string pending_input;  // bytes read ahead by read_line/read_exact, handed out first
    // Filled by the one pending accept; a datagram socket's peer. A stream has none (its peer is
    // `where`): an idle connection's core is smaller by a socket address.
    [[no_unique_address]] std::conditional_t<is_acceptor<Socket> || is_datagram<Socket>, endpoint_type,
                                             no_endpoint>
        endpoint;
    // The sender of the datagram being received, filled in place by Asio (datagram sockets only).
    [[no_unique_address]] std::conditional_t<is_datagram<Socket>, endpoint_type, no_sender> sender;
    int pending = 0;  // operations started and not yet completed
    bool reading = false;
    bool writing = false;
    bool orphaned = false;  // the owning object is gone: delete when `pending` drops to 0
    // The peer has closed its side. Remembered because Asio, once a read has met end of stream,
    // stops trying reads at once and waits for readiness that an edge-triggered epoll never
    // reports again: a second read would hang. With this flag it returns end of stream at once.
    bool at_eof = false;
    // A stream's try_recv_into found the socket empty (or took all it had): its next
    // wait_readable waits at once instead of looking first (basic_stream.hpp). Only a hint: the
    // wait is correct either way. Used where edge_reads.hpp is not built (the reactor keeps it).
    bool drained = false;
    // A stream's event loop reactor, found at its first read through edge_reads.hpp.
    edge::reactor* reactor = nullptr;
    clock::duration timeout;              // per-socket timeout of each operation; zero: none
    std::unique_ptr<socket_timer> timer;  // created when the socket first uses a timeout

    /// Starts an operation: checks the read/write guard, counts it as pending, gives it a
    /// deadline when `timeout` is not zero, and calls `start(h)` where `h(error_code, T)`
    /// clears all of that, calls `handler`, and only then releases the core: the handler (the
    /// operation's error message names `where`) may rely on the core, even when the socket
    /// object was destroyed meanwhile. An operation aborted by its deadline completes with
    /// `std::errc::timed_out`; one that completed first keeps its result.
    template <class T, class Handler, class Start>
    void launch(role r, clock::duration timeout, Handler&& handler, Start&& start) {
        static_assert(!std::is_lvalue_reference_v<Handler>, "launch takes the handler over");
        bool* busy = r == role::read ? &reading : r == role::write ? &writing : nullptr;
        ++pending;
        if (orphaned || (busy && *busy)) {  // the socket object is gone, or the role is taken
            auto ec = make_error_code(orphaned          ? errc::not_open
                                      : r == role::read ? errc::concurrent_read
                                                        : errc::concurrent_write);
            boost::asio::post(socket.get_executor(), [this, h = std::move(handler), ec]() mutable {
                std::move(h)(error_code(ec), T{});
                release();
            });
            return;
        }
        if (busy) *busy = true;
        if (timeout <= clock::duration::zero()) {
            auto done = [this, busy](auto&& h, error_code ec, auto&& value) {
                if (busy) *busy = false;
                std::move(h)(ec, std::move(value));
                release();
            };
            return std::move(start)(intercept{std::move(handler), std::move(done)});
        }
        auto& lane = start_deadline(static_cast<std::size_t>(r), timeout);
        forward_cancellation(handler, lane.signal);
        auto done = [this, busy, &lane](auto&& h, error_code ec, auto&& value) {
            if (busy) *busy = false;
            lane.active = false;
            ec = timed_out_if_fired(lane.fired, ec);
            boost::asio::get_associated_cancellation_slot(h).clear();
            std::move(h)(ec, std::move(value));
            release();
        };
        std::move(start)(boost::asio::bind_cancellation_slot(lane.signal.slot(),
                                                             intercept{std::move(handler), std::move(done)}));
    }

    void release() {
        if (--pending == 0 && orphaned) delete this;
    }

    /// Called by the owning object's destructor.
    void orphan() {
        orphaned = true;
        error_code ignored;
        lowest_layer(socket).close(ignored);
        if (timer) timer->timer.cancel();
        if (pending == 0) delete this;
    }

    // --- the socket's timer (docs/design.md#timeouts) -------------------------------------------
    // An operation never touches the timer: it stores its deadline (one clock read). The timer is
    // armed only when no wait is pending; when it fires it cancels the operations whose deadline
    // passed and re-arms for the earliest deadline still ahead, or stays idle. A pending wait
    // counts in `pending`, so the core outlives its timer's handler.

    deadline_lane& start_deadline(std::size_t i, clock::duration timeout) {
        if (!timer) timer = std::make_unique<socket_timer>(socket.get_executor());
        auto& lane = timer->lanes[i];
        auto now = clock::now();
        // A timeout too long to add (hours::max()) is no deadline at all, never an overflow.
        lane.deadline = timeout < clock::time_point::max() - now ? now + timeout : clock::time_point::max();
        lane.active = true;
        lane.fired = false;
        if (!timer->waiting || lane.deadline < timer->timer.expiry()) arm(lane.deadline);
        return lane;
    }

    void arm(clock::time_point at) {
        timer->waiting = true;
        expire_at(timer->timer, at);  // cancels a pending wait: its handler only releases
        ++pending;
        timer->timer.async_wait([this](const error_code& ec) {
            if (ec != boost::asio::error::operation_aborted) {
                timer->waiting = false;
                on_timer();
            }
            release();
        });
    }

    void on_timer() {
        auto now = clock::now();
        auto next = clock::time_point::max();
        for (auto& lane : timer->lanes) {
            if (!lane.active || lane.fired) continue;
            if (lane.deadline <= now) {
                lane.fired = true;
                lane.signal.emit(boost::asio::cancellation_type::terminal);
            } else {
                next = std::min(next, lane.deadline);
            }
        }
        if (next != clock::time_point::max() && !orphaned) arm(next);
    }
};

/// A counted reference to a core: it keeps the core alive, as a pending operation does, after
/// the owning object is gone. `serve()` holds one, so destroying a listener while it serves only
/// stops the serving; every operation object holds one from its creation, so awaiting it after
/// its socket is gone fails with `errc::not_open` (socket_core::launch) instead of reading freed
/// memory.
template <class Socket>
class core_ref {
public:
    explicit core_ref(socket_core<Socket>& core) : core_(&core) { ++core.pending; }
    core_ref(const core_ref& other) noexcept : core_(other.core_) {
        if (core_) ++core_->pending;
    }
    core_ref(core_ref&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
    core_ref& operator=(core_ref&&) = delete;
    ~core_ref() {
        if (core_) core_->release();
    }
    socket_core<Socket>* get() const noexcept { return core_; }
    socket_core<Socket>* operator->() const noexcept { return core_; }

private:
    socket_core<Socket>* core_;
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
