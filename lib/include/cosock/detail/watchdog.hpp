// cosock/detail/watchdog.hpp — the one timeout engine: cosock's clock (real, or the test kit's
// virtual time), the lanes of each socket's lazy timer (socket_core.hpp arms it), and a one-shot
// timer for operations that have no socket (connect, console input, deadlines, Asio ops).
// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <chrono>
#include <exception>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>

#include <cosock/detail/operation.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>

namespace cosock::detail {

/// Where the virtual time of this thread's event loop is, when the test kit runs it on virtual
/// time (cosock::testing::run_with_virtual_time); null otherwise (timeout.cpp).
COSOCK_EXPORT extern thread_local const std::chrono::steady_clock::time_point* virtual_now;

/// cosock's clock: std::chrono::steady_clock, or the virtual time of the test kit. Every cosock
/// timer (socket timeouts, deadlines, sleep, grace periods) runs on it.
struct clock {
    using duration = std::chrono::steady_clock::duration;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::steady_clock::time_point;
    static constexpr bool is_steady = true;
    static time_point now() noexcept {
        if (const auto* v = virtual_now) return *v;
        return std::chrono::steady_clock::now();
    }
};

/// A timer on cosock's clock.
using timer = boost::asio::basic_waitable_timer<clock>;

/// Tells the virtual clock, when this thread runs on one, that a timer waits until `at`: when
/// every task is blocked, virtual time jumps to the next such deadline (timeout.cpp).
COSOCK_EXPORT void note_virtual_deadline(clock::time_point at);

/// `t.expires_at(at)`, noted for the virtual clock. Every cosock timer is armed through this.
inline void expire_at(timer& t, clock::time_point at) {
    t.expires_at(at);
    if (virtual_now && at != clock::time_point::max()) note_virtual_deadline(at);
}

/// `expire_at(t, now + d)`, a duration too long to add being no deadline at all.
inline void expire_after(timer& t, clock::duration d) {
    auto now = clock::now();
    expire_at(t, d < clock::time_point::max() - now ? now + d : clock::time_point::max());
}

/// Makes `signal` also fire when the handler's own cancellation slot does (Ctrl-C, a cancelled
/// scope): the operation underneath is bound to `signal`, which the timer can emit too.
template <class Handler>
void forward_cancellation(const Handler& handler, boost::asio::cancellation_signal& signal) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected())
        slot.assign([&signal](boost::asio::cancellation_type type) { signal.emit(type); });
}

/// One operation's deadline on a socket's timer (see socket_core): the socket has three, since
/// one read (recv, accept), one write (send) and one other operation may be pending at once.
struct deadline_lane {
    clock::time_point deadline;
    boost::asio::cancellation_signal signal;  // bound to the lane's pending Asio operation
    bool active = false;                      // an operation with a deadline is pending
    bool fired = false;                       // its deadline passed: its abort is a timeout
};

/// The timer side of a socket's timeouts, created when the socket first uses a timeout.
struct socket_timer {
    explicit socket_timer(const boost::asio::any_io_executor& executor) : timer(executor) {}
    detail::timer timer;
    std::array<deadline_lane, 3> lanes;
    bool waiting = false;  // a timer wait is pending
};

/// How start_with_timer marks an exception-style operation (a co_spawned task) that its timer
/// cancelled, so that the caller reports a timeout rather than a cancellation.
struct timer_abort : std::system_error {
    timer_abort() : std::system_error(std::make_error_code(std::errc::timed_out)) {}
};

/// The one rule of every cosock timeout: an operation that ends aborted after its timer fired has
/// timed out (`std::errc::timed_out`; for an exception-style operation, a `timer_abort`). One that
/// completed first keeps its result, even when the timer fired meanwhile.
inline error_code timed_out_if_fired(bool fired, error_code ec) {
    if (fired && ec == boost::asio::error::operation_aborted)
        return std::make_error_code(std::errc::timed_out);
    return ec;
}
inline std::exception_ptr timed_out_if_fired(bool fired, std::exception_ptr e) {
    if (fired && e && is_cancellation(e)) return std::make_exception_ptr(timer_abort());
    return e;
}

/// A one-shot timeout for one operation that has no socket core: connect, console input, any
/// Asio operation. Starts `start(h)` with `h` bound to a cancellation signal that the timer (or
/// the caller's own cancellation) emits; completes `handler` with the operation's results, the
/// error turned into `std::errc::timed_out` when the timer caused the abort. A zero (or negative)
/// timeout is none, as everywhere in cosock: `start(handler)` alone.
template <class Handler, class Start>
void start_with_timer(const boost::asio::any_io_executor& executor, clock::duration timeout, Handler handler,
                      Start start) {
    if (timeout <= clock::duration::zero()) return std::move(start)(std::move(handler));
    struct state {
        explicit state(const boost::asio::any_io_executor& ex) : timer(ex) {}
        detail::timer timer;
        boost::asio::cancellation_signal signal;
        bool fired = false;
        int owners = 2;  // the operation's completion and the timer's
        void release() {
            if (--owners == 0) delete this;
        }
    };
    auto* s = new state(executor);
    forward_cancellation(handler, s->signal);
    expire_after(s->timer, timeout);
    s->timer.async_wait([s](const error_code& ec) {
        if (!ec) {
            s->fired = true;
            s->signal.emit(boost::asio::cancellation_type::terminal);
        }
        s->release();
    });
    auto& signal = s->signal;
    std::move(start)(boost::asio::bind_cancellation_slot(
        signal.slot(), intercept{std::move(handler), [s](auto&& h, auto first, auto... values) {
                                     // The operation is over: its cancellation handler (which may
                                     // point into a socket about to be freed) must not run if the
                                     // timer's own handler, already queued, emits the signal.
                                     s->signal.slot().clear();
                                     s->timer.cancel();
                                     first = timed_out_if_fired(s->fired, std::move(first));
                                     boost::asio::get_associated_cancellation_slot(h).clear();
                                     s->release();
                                     std::move(h)(first, std::move(values)...);
                                 }}));
}

}  // namespace cosock::detail
