// tests/unit/testing_test.cpp — tests for cosock/testing.hpp: what memory streams add to the stream
// contract (which stream_test.cpp checks over them like over sockets): back-pressure, chunking,
// reset and close; and virtual time.
// SPDX-License-Identifier: MIT
#include <cosock/testing.hpp>
#include <cosock/timeout.hpp>

#include <string>
#include <vector>

#include <boost/asio/cancellation_signal.hpp>

#include "support/co_test.hpp"

using namespace std::chrono_literals;
using test_clock = cosock::testing::clock;  // not `clock`: C has a function of that name

namespace {

// The bodies of the virtual-time tests: named coroutines taking what they fill by reference (a
// capturing coroutine lambda would read its captures through a closure already gone).

cosock::task<void> thirty_second_deadline(std::string& message, test_clock::duration& took) {
    auto began = test_clock::now();
    try {
        co_await cosock::fail_after(30s, cosock::sleep(1h));
    } catch (const cosock::timeout_error& e) {
        message = e.what();
    }
    took = test_clock::now() - began;
}

cosock::task<void> thirty_second_socket_timeout(std::string& message, test_clock::duration& took) {
    auto [client, server] = cosock::testing::memory_stream_pair();
    server.set_timeout(30s);
    auto began = test_clock::now();
    try {
        (void)co_await server.recv(10);
    } catch (const cosock::timeout_error& e) {
        message = e.what();
    }
    took = test_clock::now() - began;
}

cosock::task<void> sleep_then_note(test_clock::duration d, int id, std::vector<int>& order) {
    co_await cosock::sleep(d);
    order.push_back(id);
}

cosock::task<void> sleepers_wake_in_deadline_order(std::vector<int>& order, test_clock::duration& took) {
    auto began = test_clock::now();
    cosock::task_scope scope;
    scope.spawn(sleep_then_note(3s, 3, order));
    scope.spawn(sleep_then_note(1s, 1, order));
    scope.spawn(sleep_then_note(2s, 2, order));
    co_await scope.join();
    took = test_clock::now() - began;
}

cosock::task<void> advance_moves_time_by_hand(std::vector<int>& order) {
    cosock::task_scope scope;
    scope.spawn(sleep_then_note(10s, 10, order));
    co_await cosock::testing::wait_all_tasks_blocked();  // the sleeper waits now
    co_await cosock::testing::advance(5s);
    order.push_back(5);  // the sleeper has 5 s to go
    co_await cosock::testing::advance(5s);
    co_await scope.join();
}

cosock::task<void> read_into(cosock::testing::memory_stream& s, std::string& got) {
    got = co_await s.recv(100);
}

cosock::task<void> blocked_tasks_settle_first(std::string& seen) {
    auto [client, server] = cosock::testing::memory_stream_pair();
    std::string got;
    cosock::task_scope scope;
    scope.spawn(read_into(server, got));
    co_await client.send("ping");
    co_await cosock::testing::wait_all_tasks_blocked();  // the reader has taken it by now
    seen = got;
    co_await scope.join();
}

cosock::task<void> waits_for_ever() {
    auto [client, server] = cosock::testing::memory_stream_pair();
    (void)co_await server.recv(10);  // nobody sends, no timeout
}

}  // namespace

BOOST_AUTO_TEST_SUITE(testing)

COSOCK_CO_TEST(a_send_waits_while_the_peers_buffer_is_full) {
    auto [client, server] = cosock::testing::memory_stream_pair({.capacity = 10});
    std::string message(25, 'x');
    bool sent = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    cosock_test::start_cancellable(client.send(message), unused, sent, error,
                                   co_await boost::asio::this_coro::executor);
    co_await cosock_test::turns(20);
    bool sent_before_reading = sent;  // 10 of 25 fit: the send waits for the reader
    auto first = co_await server.recv(100);
    auto rest = co_await server.read_exact(15);
    co_await cosock_test::until(sent);
    BOOST_TEST(!sent_before_reading);
    BOOST_TEST(first == std::string(10, 'x'));
    BOOST_TEST(rest == std::string(15, 'x'));
    BOOST_TEST(!error);
}

COSOCK_CO_TEST(chunking_splits_every_write_into_pieces) {
    auto [client, server] = cosock::testing::memory_stream_pair({.chunk = 2});
    co_await client.send("hello\nworld\n");
    auto he = co_await server.recv(100);  // at most 2 bytes per read
    auto line = co_await server.read_line();
    auto next = co_await server.read_line();
    BOOST_TEST(he == "he");
    BOOST_TEST(line.value() == "llo");
    BOOST_TEST(next.value() == "world");
}

COSOCK_CO_TEST(a_reset_fails_the_peers_reads_and_loses_what_it_had_not_read) {
    auto [client, server] = cosock::testing::memory_stream_pair();
    co_await client.send("lost");
    client.reset();
    std::string message;
    try {
        (void)co_await server.recv(10);
    } catch (const cosock::error& e) {
        message = e.what();
        BOOST_TEST((e.code() == std::errc::connection_reset));
    }
    BOOST_TEST(message == "recv from memory: Connection reset by peer");
    auto after = co_await server.recv(10);  // then end of stream, as on a socket
    BOOST_TEST(after.empty());
}

COSOCK_CO_TEST(closing_one_side_ends_the_stream_and_fails_the_peers_sends) {
    auto [client, server] = cosock::testing::memory_stream_pair();
    co_await client.send("last");
    client.close();
    auto last = co_await server.recv(10);
    auto end = co_await server.recv(10);
    std::string message;
    try {
        (void)co_await server.send("anyone?");
    } catch (const cosock::error& e) {
        message = e.what();
    }
    BOOST_TEST(last == "last");
    BOOST_TEST(end.empty());
    BOOST_TEST(message == "send to memory: Broken pipe");
    BOOST_TEST(!client.is_open());
}

// --- virtual time ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_30_s_deadline_passes_at_once_on_virtual_time) {
    std::string message;
    test_clock::duration took{};
    auto began = std::chrono::steady_clock::now();
    cosock::testing::run_with_virtual_time(thirty_second_deadline(message, took));
    auto real = std::chrono::steady_clock::now() - began;
    BOOST_TEST(message == "deadline: timed out after 30 s");
    BOOST_TEST((took == 30s));  // to the nanosecond: the clock jumped to the deadline
    double real_ms = std::chrono::duration<double, std::milli>(real).count();
    BOOST_TEST_MESSAGE("real time: " << real_ms << " ms");
    // Real time, so scaled by the slow factor (support/slow.hpp): 100 ms on an idle machine.
    BOOST_TEST((real < cosock_test::scaled(100ms)), "took " << real_ms << " ms of real time");
}

BOOST_AUTO_TEST_CASE(a_socket_timeout_runs_on_virtual_time) {
    std::string message;
    test_clock::duration took{};
    cosock::testing::run_with_virtual_time(thirty_second_socket_timeout(message, took));
    BOOST_TEST(message == "recv from memory: timed out after 30 s");
    BOOST_TEST((took == 30s));
}

BOOST_AUTO_TEST_CASE(sleepers_wake_in_the_order_of_their_deadlines) {
    std::vector<int> order;
    test_clock::duration took{};
    cosock::testing::run_with_virtual_time(sleepers_wake_in_deadline_order(order, took));
    BOOST_TEST((order == std::vector<int>{1, 2, 3}));
    BOOST_TEST((took == 3s));
}

BOOST_AUTO_TEST_CASE(advance_moves_virtual_time_by_hand) {
    std::vector<int> order;
    cosock::testing::run_with_virtual_time(advance_moves_time_by_hand(order));
    BOOST_TEST((order == std::vector<int>{5, 10}));
}

BOOST_AUTO_TEST_CASE(wait_all_tasks_blocked_returns_when_the_others_wait) {
    std::string seen;
    cosock::testing::run_with_virtual_time(blocked_tasks_settle_first(seen));
    BOOST_TEST(seen == "ping");
}

BOOST_AUTO_TEST_CASE(a_test_that_waits_for_ever_is_reported_as_a_deadlock) {
    BOOST_CHECK_EXCEPTION(cosock::testing::run_with_virtual_time(waits_for_ever(), 200ms), cosock::error,
                          [](const cosock::error& e) {
                              BOOST_TEST_MESSAGE(e.what());
                              return e.code() == std::errc::resource_deadlock_would_occur;
                          });
}

COSOCK_CO_TEST(virtual_time_helpers_refuse_real_time) {
    BOOST_CHECK_THROW(co_await cosock::testing::advance(1s), cosock::error);
    BOOST_CHECK_THROW(co_await cosock::testing::wait_all_tasks_blocked(), cosock::error);
}

BOOST_AUTO_TEST_SUITE_END()
