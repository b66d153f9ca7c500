// testing.cpp — the virtual time of the test kit (testing.hpp): an event loop whose clock jumps to
// the next deadline whenever every task waits (Trio's MockClock with autojump).
// SPDX-License-Identifier: MIT
#include <cosock/testing.hpp>

#include <algorithm>
#include <exception>
#include <functional>
#include <system_error>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cosock/error.hpp>

#include "virtual_time.hpp"

namespace cosock::testing {

namespace asio = boost::asio;
using detail::clock;

namespace {

/// Makes this thread's cosock clock virtual while it lives, starting at the real time.
class virtual_scope {
public:
    virtual_scope() : previous_(detail::current_virtual_clock), previous_now_(detail::virtual_now) {
        clock_.now = std::chrono::steady_clock::now();
        detail::current_virtual_clock = &clock_;
        detail::virtual_now = &clock_.now;
    }
    ~virtual_scope() {
        detail::current_virtual_clock = previous_;
        detail::virtual_now = previous_now_;
    }
    virtual_scope(const virtual_scope&) = delete;
    virtual_scope& operator=(const virtual_scope&) = delete;

    detail::virtual_clock& clock() { return clock_; }

private:
    detail::virtual_clock clock_;
    detail::virtual_clock* previous_;
    const clock::time_point* previous_now_;
};

/// Moves virtual time to the next deadline ahead, if any (stale ones are passed over).
bool jump(detail::virtual_clock& c) {
    auto& heap = c.deadlines;
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), std::greater<>());
        auto at = heap.back();
        heap.pop_back();
        if (at > c.now) {
            c.now = at;
            return true;
        }
    }
    return false;
}

/// Asio's reactor looks at its timers again when a newly armed timer is the earliest of all: one
/// due at the start of time is, whatever else is due at the same moment. After a jump (or an
/// advance) every timer due by the new time then fires.
template <class Token>
auto poke(detail::timer& t, Token&& token) {
    t.expires_at(clock::time_point::min());
    return t.async_wait(std::forward<Token>(token));
}

[[noreturn]] void fail(std::errc why, const char* reason) {
    throw error(std::make_error_code(why), "run_with_virtual_time", reason);
}

}  // namespace

void run_with_virtual_time(task<void> body, std::chrono::steady_clock::duration real_limit) {
    asio::io_context context(1);
    detail::executor_scope scope(context.get_executor());
    virtual_scope time;
    auto& c = time.clock();
    bool done = false;
    std::exception_ptr result;
    asio::cancellation_signal stop;
    asio::co_spawn(context, std::move(body),
                   asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e) {
                       done = true;
                       result = e;
                   }));
    // A body that cannot finish is cancelled and unwound before the error is thrown: nothing of it
    // outlives the loop.
    auto give_up = [&](std::errc why, const char* reason) {
        stop.emit(asio::cancellation_type::terminal);
        context.restart();  // in case it stopped, out of work
        for (int turn = 0; !done && turn < 1000 && !context.stopped(); ++turn) context.poll();
        fail(why, reason);
    };
    detail::timer poke_timer(context);
    auto real_deadline = std::chrono::steady_clock::now() + real_limit;
    while (!done) {
        if (std::chrono::steady_clock::now() > real_deadline)
            give_up(std::errc::timed_out, "the test did not finish within its limit of real time");
        if (context.poll() > 0) continue;
        if (done || context.stopped()) break;
        // Every task waits. First those that asked to hear of it, then the clock jumps.
        if (!c.blocked_waiters.empty()) {
            for (auto* waiter : std::exchange(c.blocked_waiters, {})) waiter->cancel();
            continue;
        }
        if (jump(c)) {
            poke(poke_timer, [](const boost::system::error_code&) {});
            continue;
        }
        // No timer either: only real I/O can go on (a socket, another thread), within the limit.
        if (context.run_one_for(real_deadline - std::chrono::steady_clock::now()) == 0) break;
    }
    if (!done)
        give_up(std::errc::resource_deadlock_would_occur,
                "every task waits for something that cannot come (no timer is pending, no I/O arrived)");
    if (result) std::rethrow_exception(result);
}

task<void> advance(std::chrono::steady_clock::duration d) {
    auto* c = detail::current_virtual_clock;
    if (!c) throw error(make_error_code(errc::no_event_loop), "advance", "needs run_with_virtual_time");
    c->now += std::max(d, std::chrono::steady_clock::duration::zero());
    detail::timer due(co_await asio::this_coro::executor);
    co_await poke(due, asio::use_awaitable);  // every timer due by the new time fires with it
}

task<void> wait_all_tasks_blocked() {
    auto* c = detail::current_virtual_clock;
    if (!c)
        throw error(make_error_code(errc::no_event_loop), "wait_all_tasks_blocked",
                    "needs run_with_virtual_time");
    detail::timer wake(co_await asio::this_coro::executor, clock::time_point::max());
    c->blocked_waiters.push_back(&wake);
    co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));  // the loop cancels it: the wake-up
    auto& waiters = c->blocked_waiters;
    auto mine = std::find(waiters.begin(), waiters.end(), &wake);
    if (mine != waiters.end()) {  // still listed: our caller was cancelled, not woken
        waiters.erase(mine);
        throw boost::system::system_error(asio::error::operation_aborted, "wait_all_tasks_blocked");
    }
}

}  // namespace cosock::testing
