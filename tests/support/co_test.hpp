// tests/support/co_test.hpp — COSOCK_CO_TEST: a Boost.Test case whose body is a coroutine.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <exception>
#include <stdexcept>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <cosock/task.hpp>
#include <cosock/testing.hpp>

#include "support/slow.hpp"

namespace cosock_test {

/// Runs `body` on a fresh io_context (the current cosock event loop meanwhile) and fails the
/// test when it throws or has not finished within `limit` of real time, times the slow factor
/// (support/slow.hpp): a hang guard, not a verdict on speed. When the body throws, the loop stops
/// at once: coroutines it started and left running may refer to its frame, now gone, so they are
/// destroyed with the loop, never resumed, and the failure reads as the body's own error.
inline void run_for(cosock::task<void> body, std::chrono::seconds limit = std::chrono::seconds(10)) {
    limit = std::chrono::ceil<std::chrono::seconds>(scaled(limit));
    boost::asio::io_context context(1);
    cosock::detail::executor_scope scope(context.get_executor());
    bool done = false;
    std::exception_ptr error;
    boost::asio::co_spawn(context, std::move(body), [&](std::exception_ptr e) {
        done = true;
        error = e;
        if (e) context.stop();
    });
    context.run_for(limit);
    if (!done) BOOST_FAIL("the test coroutine did not finish within " << limit.count() << " s");
    if (error) std::rethrow_exception(error);
}

/// Lets the event loop run other ready work once (no time passes: not a sleep).
inline cosock::task<void> yield() {
    co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
}

/// Lets the event loop run until `flag` is set; fails after `limit` of real time, times the slow
/// factor (polls, first by turns of the loop, then every millisecond, so that waits on real time
/// cost no CPU; under virtual time the millisecond is virtual).
inline cosock::task<void> wait_until(const bool& flag,
                                     std::chrono::steady_clock::duration limit = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + scaled(limit);
    for (int turn = 0; !flag; ++turn) {
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("condition never became true in time");
        if (turn < 1000)
            co_await yield();
        else
            co_await cosock::sleep(std::chrono::milliseconds(1));
    }
}

/// Lets the event loop run `n` turns.
inline cosock::task<void> turns(int n) {
    for (int i = 0; i < n; ++i) co_await yield();
}

/// Waits until `flag` is true, letting other coroutines run (bounded: fails after many turns,
/// never sleeps). Only for what the loop's ready work or prompt loopback I/O sets: 100,000 turns
/// may take less than 50 ms, so what waits behind a timer (a grace, a timeout) needs wait_until.
inline cosock::task<void> until(const bool& flag) {
    for (int turn = 0; !flag; ++turn) {
        if (turn > 100000) throw std::runtime_error("condition never became true");
        co_await yield();
    }
}

/// Another coroutine that counts the turns the event loop gives it: a test spawns `run()`, does
/// its work, and reads `turns`. Every trip of the test's operations through the loop's queue
/// gives it a turn; operations that complete inline give it none. `running = false` ends it.
struct turn_counter {
    int turns = 0;
    bool running = true;
    cosock::task<void> run() {
        while (running) {
            ++turns;
            co_await yield();
        }
    }
};

/// Starts `op` in its own coroutine, cancellable through `signal`; `done` is set when it ends,
/// `error` holds what it threw.
template <class Op>
void start_cancellable(Op op, boost::asio::cancellation_signal& signal, bool& done, std::exception_ptr& error,
                       boost::asio::any_io_executor ex) {
    boost::asio::co_spawn(
        ex, [](Op op) -> cosock::task<void> { (void)co_await std::move(op); }(std::move(op)),
        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
            error = e;
            done = true;
        }));
}

}  // namespace cosock_test

/// A test case whose body may co_await; it runs on its own event loop, bounded to 10 s of real
/// time (times the slow factor).
#define COSOCK_CO_TEST(name)                 \
    static cosock::task<void> name##_body(); \
    BOOST_AUTO_TEST_CASE(name) {             \
        cosock_test::run_for(name##_body()); \
    }                                        \
    static cosock::task<void> name##_body()

/// COSOCK_CO_TEST with Boost.Test decorators, e.g. `*boost::unit_test::precondition(...)`.
#define COSOCK_CO_TEST_WITH(name, decorators) \
    static cosock::task<void> name##_body();  \
    BOOST_AUTO_TEST_CASE(name, decorators) {  \
        cosock_test::run_for(name##_body());  \
    }                                         \
    static cosock::task<void> name##_body()

/// A test case whose body may co_await, on virtual time (cosock::testing::run_with_virtual_time):
/// every cosock timer runs on a clock that jumps to the next deadline when every task waits, so
/// its verdict cannot depend on how fast the machine is. Bounded to 10 s of real time (times the
/// slow factor). Give it no timeout on real I/O that is expected to complete: the clock may jump
/// past it while the kernel is still delivering; the real-time bound is the guard there.
#define COSOCK_VIRTUAL_TIME_TEST(name)                                                         \
    static cosock::task<void> name##_body();                                                   \
    BOOST_AUTO_TEST_CASE(name) {                                                               \
        cosock::testing::run_with_virtual_time(name##_body(),                                  \
                                               cosock_test::scaled(std::chrono::seconds(10))); \
    }                                                                                          \
    static cosock::task<void> name##_body()
