// tests/unit/event_test.cpp — tests for cosock/event.hpp: set and wait, many waiters, clear,
// cancellation, timeouts and destruction with waits pending. Every interleaving is made
// deterministic with the test kit: run_with_virtual_time and wait_all_tasks_blocked.
// SPDX-License-Identifier: MIT
#include <cosock/event.hpp>
#include <cosock/testing.hpp>
#include <cosock/timeout.hpp>

#include <memory>
#include <string>
#include <vector>

#include "support/co_test.hpp"

using namespace std::chrono_literals;
using test_clock = cosock::testing::clock;
using boost::system::error_code;

namespace {

// The bodies are named coroutines taking what they fill by reference: a capturing coroutine
// lambda would read its captures through a closure already gone.

cosock::task<void> wait_then_note(cosock::event& ev, int id, std::vector<int>& woken) {
    co_await ev.wait();
    woken.push_back(id);
}

cosock::task<void> wait_keeping_the_error(cosock::event& ev, error_code& ec, bool& done) {
    auto [e, value] = co_await cosock::nothrow(ev.wait());
    ec = e;
    done = true;
}

cosock::task<void> wait_keeping_the_message(cosock::event& ev, std::string& message, bool& cancelled) {
    try {
        co_await ev.wait();
    } catch (const cosock::error& e) {
        message = e.what();
        cancelled = cosock::is_cancellation(std::current_exception());
    }
}

struct wakeups {
    std::vector<int> before_set;
    std::vector<int> after_set;
};

cosock::task<void> set_wakes_every_waiter(wakeups& seen) {
    cosock::event ev;
    std::vector<int> woken;
    cosock::task_scope scope;
    for (int id = 1; id <= 3; ++id) scope.spawn(wait_then_note(ev, id, woken));
    co_await cosock::testing::wait_all_tasks_blocked();
    seen.before_set = woken;
    ev.set();
    co_await scope.join();
    seen.after_set = woken;
}

cosock::task<void> clear_makes_later_waits_wait(bool& timed_out, bool& still_set) {
    cosock::event ev;
    ev.set();
    ev.clear();
    still_set = ev.is_set();
    try {
        co_await cosock::timeout(1s, ev.wait());
    } catch (const cosock::timeout_error&) {
        timed_out = true;
    }
}

cosock::task<void> a_cancelled_wait_is_aborted(std::string& message, bool& cancelled, bool& later_wait_done) {
    cosock::event ev;
    {
        cosock::task_scope scope;
        scope.spawn(wait_keeping_the_message(ev, message, cancelled));
        co_await cosock::testing::wait_all_tasks_blocked();
        scope.cancel();
        co_await scope.join();
    }
    // The cancelled waiter has left: a later set() and wait() see only each other.
    ev.set();
    co_await ev.wait();
    later_wait_done = true;
}

cosock::task<void> a_wait_times_out(std::string& message, test_clock::duration& took,
                                    error_code& nothrow_ec) {
    cosock::event ev;
    auto began = test_clock::now();
    try {
        co_await cosock::timeout(3s, ev.wait());
    } catch (const cosock::timeout_error& e) {
        message = e.what();
    }
    took = test_clock::now() - began;
    auto [ec, value] = co_await cosock::nothrow(cosock::timeout(2s, ev.wait()));
    nothrow_ec = ec;
}

cosock::task<void> a_set_before_the_timeout_wins(bool& woken, test_clock::duration& took) {
    cosock::event ev;
    std::vector<int> order;
    cosock::task_scope scope;
    scope.spawn(wait_then_note(ev, 1, order));
    auto began = test_clock::now();
    co_await cosock::sleep(1s);
    ev.set();
    co_await cosock::timeout(5s, ev.wait());
    co_await scope.join();
    took = test_clock::now() - began;
    woken = order.size() == 1;
}

cosock::task<void> destroying_the_event_aborts_its_waiters(std::vector<error_code>& errors) {
    auto ev = std::make_unique<cosock::event>();
    error_code first, second;
    bool first_done = false, second_done = false;
    cosock::task_scope scope;
    scope.spawn(wait_keeping_the_error(*ev, first, first_done));
    scope.spawn(wait_keeping_the_error(*ev, second, second_done));
    co_await cosock::testing::wait_all_tasks_blocked();
    ev.reset();
    co_await scope.join();
    errors = {first, second};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event)

COSOCK_CO_TEST(a_wait_returns_at_once_when_the_event_is_set) {
    cosock::event ev;
    bool before = ev.is_set();
    ev.set();
    ev.set();  // twice: still just set
    co_await ev.wait();
    co_await ev.wait();
    BOOST_TEST(!before);
    BOOST_TEST(ev.is_set());
}

BOOST_AUTO_TEST_CASE(set_wakes_every_waiter_in_the_order_they_came) {
    wakeups seen;
    cosock::testing::run_with_virtual_time(set_wakes_every_waiter(seen));
    BOOST_TEST(seen.before_set.empty());
    BOOST_TEST((seen.after_set == std::vector<int>{1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(clear_makes_later_waits_wait_for_the_next_set) {
    bool timed_out = false, still_set = true;
    cosock::testing::run_with_virtual_time(clear_makes_later_waits_wait(timed_out, still_set));
    BOOST_TEST(!still_set);
    BOOST_TEST(timed_out);
}

BOOST_AUTO_TEST_CASE(a_cancelled_wait_fails_with_operation_aborted) {
    std::string message;
    bool cancelled = false, later = false;
    cosock::testing::run_with_virtual_time(a_cancelled_wait_is_aborted(message, cancelled, later));
    BOOST_TEST(message == "wait for event: Operation canceled");
    BOOST_TEST(cancelled);
    BOOST_TEST(later);
}

BOOST_AUTO_TEST_CASE(a_wait_with_a_timeout_times_out_on_virtual_time) {
    std::string message;
    test_clock::duration took{};
    error_code ec;
    cosock::testing::run_with_virtual_time(a_wait_times_out(message, took, ec));
    BOOST_TEST(message == "wait for event: timed out after 3 s");
    BOOST_TEST((took == 3s));
    BOOST_TEST((ec == std::errc::timed_out));
}

BOOST_AUTO_TEST_CASE(a_set_before_the_timeout_completes_the_wait) {
    bool woken = false;
    test_clock::duration took{};
    cosock::testing::run_with_virtual_time(a_set_before_the_timeout_wins(woken, took));
    BOOST_TEST(woken);
    BOOST_TEST((took == 1s));
}

BOOST_AUTO_TEST_CASE(destroying_an_event_completes_its_waits_with_operation_aborted) {
    std::vector<error_code> errors;
    cosock::testing::run_with_virtual_time(destroying_the_event_aborts_its_waiters(errors));
    BOOST_REQUIRE(errors.size() == 2u);
    BOOST_TEST((errors[0] == boost::asio::error::operation_aborted));
    BOOST_TEST((errors[1] == boost::asio::error::operation_aborted));
}

BOOST_AUTO_TEST_SUITE_END()
