// tests/unit/channel_test.cpp — tests for cosock/channel.hpp: order, back-pressure, rendezvous,
// close, cancellation of sends and receives (no value lost, none queued twice), timeouts and
// destruction with operations pending. Interleavings are made deterministic with the test kit:
// run_with_virtual_time and wait_all_tasks_blocked.
// SPDX-License-Identifier: MIT
#include <cosock/channel.hpp>
#include <cosock/testing.hpp>
#include <cosock/timeout.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "support/co_test.hpp"

using namespace std::chrono_literals;
using test_clock = cosock::testing::clock;
using boost::system::error_code;
using ints = std::vector<int>;

namespace {

// The bodies are named coroutines taking what they fill by reference: a capturing coroutine
// lambda would read its captures through a closure already gone.

cosock::task<void> send_all(cosock::channel<int>& ch, int count, int& sent) {
    for (int i = 1; i <= count; ++i) {
        co_await ch.send(i);
        sent = i;
    }
}

cosock::task<void> receive_one(cosock::channel<int>& ch, std::optional<int>& got, bool& done) {
    got = co_await ch.receive();
    done = true;
}

cosock::task<void> receive_keeping_the_error(cosock::channel<int>& ch, error_code& ec, bool& done) {
    auto [e, value] = co_await cosock::nothrow(ch.receive());
    ec = e;
    done = true;
}

cosock::task<void> send_keeping_the_error(cosock::channel<int>& ch, int value, error_code& ec, bool& done) {
    auto [e, nothing] = co_await cosock::nothrow(ch.send(value));
    ec = e;
    done = true;
}

struct pressure {
    int sent_while_full = 0;
    int sent_after_one_receive = 0;
    ints received;
};

cosock::task<void> a_full_channel_holds_its_sender(pressure& seen) {
    cosock::channel<int> ch(2);
    int sent = 0;
    cosock::task_scope scope;
    scope.spawn(send_all(ch, 5, sent));
    co_await cosock::testing::wait_all_tasks_blocked();
    seen.sent_while_full = sent;  // 2 queued, the third send waits
    seen.received.push_back(*co_await ch.receive());
    co_await cosock::testing::wait_all_tasks_blocked();
    seen.sent_after_one_receive = sent;
    for (int i = 0; i < 4; ++i) seen.received.push_back(*co_await ch.receive());
    co_await scope.join();
}

struct rendezvous {
    bool try_send_without_receiver = true;
    int sent_before_receive = -1;
    std::optional<int> got;
    std::optional<int> taken_from_waiting_sender;
    bool handed_to_waiting_receiver = false;
    std::optional<int> got_by_receiver;
};

cosock::task<void> capacity_zero_is_a_rendezvous(rendezvous& seen) {
    cosock::channel<int> ch(0);
    seen.try_send_without_receiver = ch.try_send(7);
    int sent = 0;
    {
        cosock::task_scope scope;
        scope.spawn(send_all(ch, 1, sent));
        co_await cosock::testing::wait_all_tasks_blocked();
        seen.sent_before_receive = sent;  // nobody has received: the send still waits
        seen.got = co_await ch.receive();
        co_await scope.join();
    }
    {
        cosock::task_scope scope;
        scope.spawn(send_all(ch, 1, sent));
        co_await cosock::testing::wait_all_tasks_blocked();
        seen.taken_from_waiting_sender = ch.try_receive();
        co_await scope.join();
    }
    {
        cosock::task_scope scope;
        bool done = false;
        scope.spawn(receive_one(ch, seen.got_by_receiver, done));
        co_await cosock::testing::wait_all_tasks_blocked();
        seen.handed_to_waiting_receiver = ch.try_send(9);
        co_await scope.join();
    }
}

struct closing {
    std::optional<int> pending_receive = 0;  // what the receiver waiting at close() got
    ints drained;
    std::optional<int> after_drain = 0;
    error_code pending_send;
    std::string send_after_close;
    bool closed = false;
};

cosock::task<void> close_ends_the_channel(closing& seen) {
    cosock::channel<int> empty(1);
    bool received = false;
    cosock::task_scope scope;
    scope.spawn(receive_one(empty, seen.pending_receive, received));
    cosock::channel<int> full(2);
    co_await full.send(1);
    co_await full.send(2);
    bool sent = false;
    scope.spawn(send_keeping_the_error(full, 3, seen.pending_send, sent));
    co_await cosock::testing::wait_all_tasks_blocked();
    empty.close();
    full.close();
    full.close();  // twice: nothing more happens
    seen.closed = full.is_closed();
    while (auto v = co_await full.receive()) seen.drained.push_back(*v);
    seen.after_drain = co_await full.receive();
    try {
        co_await full.send(4);
    } catch (const cosock::error& e) {
        seen.send_after_close = e.what();
    }
    co_await scope.join();
}

struct cancelled_receive {
    error_code ec;
    std::size_t size_after_send = 0;
    std::optional<int> next;
};

cosock::task<void> a_cancelled_receive_takes_nothing(cancelled_receive& seen) {
    cosock::channel<int> ch(1);
    bool done = false;
    cosock::task_scope scope;
    scope.spawn(receive_keeping_the_error(ch, seen.ec, done));
    co_await cosock::testing::wait_all_tasks_blocked();
    scope.cancel();
    co_await scope.join();
    co_await ch.send(42);  // no receiver is waiting any more: it is queued
    seen.size_after_send = ch.size();
    seen.next = co_await ch.receive();
}

struct cancelled_send {
    error_code ec;
    ints received;
    std::optional<int> then = 0;
};

cosock::task<void> cancel_a_waiting_send(cancelled_send& seen) {
    cosock::channel<int> ch(1);
    co_await ch.send(1);
    bool done = false;
    cosock::task_scope scope;
    scope.spawn(send_keeping_the_error(ch, 2, seen.ec, done));
    co_await cosock::testing::wait_all_tasks_blocked();
    scope.cancel();
    co_await scope.join();
    seen.received.push_back(*co_await ch.receive());
    seen.then = ch.try_receive();
}

struct timed {
    std::string message;
    test_clock::duration took{};
    std::optional<int> after;
    bool deadline_passed = false;
    std::size_t size_after_deadline = 9;
};

cosock::task<void> timeouts_on_a_channel(timed& seen) {
    cosock::channel<int> ch(1);
    auto began = test_clock::now();
    try {
        (void)co_await cosock::timeout(3s, ch.receive());
    } catch (const cosock::timeout_error& e) {
        seen.message = e.what();
    }
    seen.took = test_clock::now() - began;
    co_await ch.send(5);  // the channel is unharmed
    seen.after = co_await cosock::timeout(3s, ch.receive());
    co_await ch.send(6);
    int sent = 0;
    seen.deadline_passed = !co_await cosock::move_on_after(10s, send_all(ch, 1, sent));  // full: gives up
    seen.size_after_deadline = ch.size();
}

struct destroyed {
    error_code receive;
    error_code send;
};

cosock::task<void> destroying_channels_aborts_their_waiters(destroyed& seen) {
    auto empty = std::make_unique<cosock::channel<int>>(1);
    auto full = std::make_unique<cosock::channel<int>>(1);
    co_await full->send(1);
    bool received = false, sent = false;
    cosock::task_scope scope;
    scope.spawn(receive_keeping_the_error(*empty, seen.receive, received));
    scope.spawn(send_keeping_the_error(*full, 2, seen.send, sent));
    co_await cosock::testing::wait_all_tasks_blocked();
    empty.reset();
    full.reset();
    co_await scope.join();
}

struct sets_when_destroyed {
    bool& flag;
    ~sets_when_destroyed() { flag = true; }
};

cosock::task<void> wait_on_its_own_channel(bool& destroyed) {
    sets_when_destroyed guard{destroyed};
    cosock::channel<int> ch(1);
    (void)co_await ch.receive();  // nobody sends
}

}  // namespace

BOOST_AUTO_TEST_SUITE(channel)

COSOCK_CO_TEST(values_come_out_in_the_order_they_went_in) {
    cosock::channel<std::string> ch(4);
    for (const char* word : {"one", "two", "three", "four"}) co_await ch.send(word);
    auto size = ch.size();
    std::vector<std::string> got;
    for (int i = 0; i < 4; ++i) got.push_back(*co_await ch.receive());
    BOOST_TEST(size == 4u);
    BOOST_TEST(ch.capacity() == 4u);
    BOOST_TEST((got == std::vector<std::string>{"one", "two", "three", "four"}));
}

COSOCK_CO_TEST(try_send_and_try_receive_do_not_wait) {
    cosock::channel<std::unique_ptr<int>> ch(1);  // move-only values
    auto first = std::make_unique<int>(1);
    auto second = std::make_unique<int>(2);
    bool queued = ch.try_send(std::move(first));
    bool refused = !ch.try_send(std::move(second));  // full: `second` is left as it was
    auto got = ch.try_receive();
    auto none = ch.try_receive();
    BOOST_TEST(queued);
    BOOST_TEST(refused);
    BOOST_TEST((second != nullptr && *second == 2));
    BOOST_TEST((got && *got && **got == 1));
    BOOST_TEST(!none.has_value());
    co_return;
}

BOOST_AUTO_TEST_CASE(a_send_waits_while_the_channel_is_full) {
    pressure seen;
    cosock::testing::run_with_virtual_time(a_full_channel_holds_its_sender(seen));
    BOOST_TEST(seen.sent_while_full == 2);
    BOOST_TEST(seen.sent_after_one_receive == 3);
    BOOST_TEST((seen.received == ints{1, 2, 3, 4, 5}));
}

BOOST_AUTO_TEST_CASE(capacity_zero_hands_each_value_from_sender_to_receiver) {
    rendezvous seen;
    cosock::testing::run_with_virtual_time(capacity_zero_is_a_rendezvous(seen));
    BOOST_TEST(!seen.try_send_without_receiver);
    BOOST_TEST(seen.sent_before_receive == 0);
    BOOST_TEST((seen.got == 1));
    BOOST_TEST((seen.taken_from_waiting_sender == 1));
    BOOST_TEST(seen.handed_to_waiting_receiver);
    BOOST_TEST((seen.got_by_receiver == 9));
}

BOOST_AUTO_TEST_CASE(close_lets_receivers_drain_then_ends_them_and_fails_senders) {
    closing seen;
    cosock::testing::run_with_virtual_time(close_ends_the_channel(seen));
    BOOST_TEST(!seen.pending_receive.has_value());
    BOOST_TEST(seen.closed);
    BOOST_TEST((seen.drained == ints{1, 2}));
    BOOST_TEST(!seen.after_drain.has_value());
    BOOST_TEST((seen.pending_send == std::errc::broken_pipe));
    BOOST_TEST(seen.send_after_close == "send to channel: Broken pipe");
}

BOOST_AUTO_TEST_CASE(a_cancelled_receive_leaves_the_next_value_queued) {
    cancelled_receive seen;
    cosock::testing::run_with_virtual_time(a_cancelled_receive_takes_nothing(seen));
    BOOST_TEST((seen.ec == boost::asio::error::operation_aborted));
    BOOST_TEST(seen.size_after_send == 1u);
    BOOST_TEST((seen.next == 42));
}

BOOST_AUTO_TEST_CASE(a_cancelled_send_queues_nothing) {
    cancelled_send seen;
    cosock::testing::run_with_virtual_time(cancel_a_waiting_send(seen));
    BOOST_TEST((seen.ec == boost::asio::error::operation_aborted));
    BOOST_TEST((seen.received == ints{1}));
    BOOST_TEST(!seen.then.has_value());
}

BOOST_AUTO_TEST_CASE(timeouts_and_deadlines_end_waits_on_virtual_time) {
    timed seen;
    cosock::testing::run_with_virtual_time(timeouts_on_a_channel(seen));
    BOOST_TEST(seen.message == "receive from channel: timed out after 3 s");
    BOOST_TEST((seen.took == 3s));
    BOOST_TEST((seen.after == 5));
    BOOST_TEST(seen.deadline_passed);
    BOOST_TEST(seen.size_after_deadline == 1u);  // only the 6: the abandoned send queued nothing
}

BOOST_AUTO_TEST_CASE(destroying_a_channel_completes_its_waiters_with_operation_aborted) {
    destroyed seen;
    cosock::testing::run_with_virtual_time(destroying_channels_aborts_their_waiters(seen));
    BOOST_TEST((seen.receive == boost::asio::error::operation_aborted));
    BOOST_TEST((seen.send == boost::asio::error::operation_aborted));
}

// The waiting coroutine owns the channel that holds its handler: only the loop can end that
// circle. Without it, the frame would leak (ASan's leak check) and `destroyed` stay false.
BOOST_AUTO_TEST_CASE(an_event_loop_destroyed_with_a_wait_pending_destroys_the_waiting_coroutine) {
    bool destroyed = false;
    bool waiting = false;
    {
        boost::asio::io_context context(1);
        boost::asio::co_spawn(context, wait_on_its_own_channel(destroyed), boost::asio::detached);
        context.poll();
        waiting = !destroyed && !context.stopped();
    }
    BOOST_TEST(waiting);
    BOOST_TEST(destroyed);
}

BOOST_AUTO_TEST_SUITE_END()
