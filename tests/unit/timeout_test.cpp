// tests/unit/timeout_test.cpp — tests for cosock/timeout.hpp: the four faces of the timeout model.
// SPDX-License-Identifier: MIT
#include <cosock/tcp.hpp>
#include <cosock/testing.hpp>
#include <cosock/timeout.hpp>

#include <array>
#include <string>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include "support/co_test.hpp"
#include "support/loopback.hpp"

using namespace std::chrono_literals;

namespace {

using cosock_test::connect_pair;

/// Restores the process default timeout when the test ends.
struct default_timeout_guard {
    ~default_timeout_guard() { cosock::set_default_timeout(0s); }
};

template <class Awaitable>
cosock::task<std::string> error_of(Awaitable op) {
    try {
        (void)co_await std::move(op);
    } catch (const std::exception& e) {
        co_return e.what();
    }
    co_return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(timeout)

// On virtual time (as every test below whose verdict is about how long something took): the
// clock jumps to the deadline, so the test takes no real time and cannot flake.
COSOCK_VIRTUAL_TIME_TEST(a_per_operation_timeout_raises_timeout_error_naming_the_operation) {
    auto p = co_await connect_pair();
    auto start = cosock::testing::clock::now();
    std::error_code code;
    std::string message;
    try {
        (void)co_await cosock::timeout(50ms, p.server.recv(10));
    } catch (const cosock::timeout_error& e) {
        code = e.code();
        message = e.what();
        BOOST_TEST((e.timeout() == 50ms));
    }
    auto took = cosock::testing::clock::now() - start;
    BOOST_TEST((code == std::errc::timed_out));
    BOOST_TEST(message == fmt::format("recv from {}: timed out after 0.05 s", p.client.local_address()));
    BOOST_TEST((took == 50ms));  // exactly: the clock jumped to the deadline
}

COSOCK_CO_TEST(an_operation_within_its_timeout_returns_normally) {
    auto p = co_await connect_pair();
    co_await p.client.send("hi");
    auto got = co_await cosock::timeout(5s, p.server.recv(10));
    BOOST_TEST(got == "hi");
}

COSOCK_CO_TEST(the_socket_stays_usable_after_a_timed_out_recv) {
    auto p = co_await connect_pair();
    BOOST_CHECK_THROW(co_await cosock::timeout(20ms, p.server.recv(10)), cosock::timeout_error);
    co_await p.client.send("later");
    auto got = co_await cosock::timeout(5s, p.server.recv(10));
    BOOST_TEST(got == "later");
}

COSOCK_CO_TEST(a_per_socket_timeout_applies_to_every_operation) {
    auto p = co_await connect_pair();
    BOOST_TEST((p.server.timeout() == 0s));
    p.server.set_timeout(30ms);
    BOOST_TEST((p.server.timeout() == 30ms));
    for (int i = 0; i < 3; ++i) {
        co_await p.client.send("x");
        auto got = co_await p.server.recv(10);  // in time
        BOOST_TEST(got == "x");
    }
    BOOST_CHECK_THROW(co_await p.server.recv(10), cosock::timeout_error);
    BOOST_CHECK_THROW(co_await p.server.read_line(), cosock::timeout_error);
    p.server.set_timeout(0s);  // none: the read waits for the data
    co_await p.client.send("y");
    auto got = co_await p.server.recv(10);
    BOOST_TEST(got == "y");
}

COSOCK_CO_TEST(the_process_default_is_taken_by_sockets_created_afterwards) {
    auto p = co_await connect_pair();  // created before: no timeout
    default_timeout_guard guard;
    cosock::set_default_timeout(40ms);
    BOOST_TEST((cosock::default_timeout() == 40ms));
    BOOST_TEST((p.server.timeout() == 0s));
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    BOOST_TEST((listener.timeout() == 40ms));
    auto message = co_await error_of(listener.accept());  // nobody comes
    BOOST_TEST(message == fmt::format("accept on {}: timed out after 0.04 s", listener.local_address()));
    cosock::set_default_timeout(-1s);  // negative means none, like zero
    BOOST_TEST((cosock::default_timeout() == 0s));
}

COSOCK_CO_TEST(a_connect_that_never_completes_ends_at_its_timeout) {
    // A loopback listener with backlog 0 that never accepts: once its queue is full the kernel
    // drops further SYNs, so a connect waits forever, as to a black-holed host.
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0}, {.backlog = 0});
    std::vector<cosock::tcp_stream> queued;
    std::string message;
    for (int i = 0; i < 16 && message.empty(); ++i) {
        auto [ec, stream] = co_await cosock::nothrow(
            cosock::timeout(100ms, cosock::tcp_stream::connect(listener.local_address())));
        if (ec == std::errc::timed_out)
            message = co_await error_of(
                cosock::timeout(100ms, cosock::tcp_stream::connect(listener.local_address())));
        else
            queued.push_back(std::move(stream));
    }
    BOOST_TEST(message == fmt::format("connect to {}: timed out after 0.1 s", listener.local_address()));
}

COSOCK_CO_TEST(a_timed_out_send_says_how_much_was_sent) {
    auto p = co_await connect_pair();  // the server never reads
    p.client.set_send_buffer_size(64 * 1024);
    std::string big(32 * 1024 * 1024, 'x');
    std::size_t transferred = 0;
    try {
        (void)co_await cosock::timeout(100ms, p.client.send(big));
    } catch (const cosock::timeout_error& e) {
        transferred = e.transferred();
    }
    BOOST_TEST(transferred > 0u);
    BOOST_TEST(transferred < big.size());
}

COSOCK_CO_TEST(a_timed_out_read_exact_shows_the_bytes_and_keeps_them) {
    auto p = co_await connect_pair();
    co_await p.client.send("abc");
    std::string received;
    try {
        (void)co_await cosock::timeout(50ms, p.server.read_exact(10));
    } catch (const cosock::timeout_error& e) {
        received = e.received();
        BOOST_TEST(e.transferred() == 3u);
    }
    BOOST_TEST(received == "abc");
    auto again = co_await p.server.read_exact(3);  // still buffered: nothing lost
    BOOST_TEST(again == "abc");
}

COSOCK_CO_TEST(nothrow_reports_timed_out_as_an_error_code) {
    auto p = co_await connect_pair();
    auto [ec, data] = co_await cosock::nothrow(cosock::timeout(20ms, p.server.recv(10)));
    BOOST_TEST((ec == std::errc::timed_out));
    BOOST_TEST(data.empty());
}

// Completions racing the timer: with a 1 us timeout the deadline passes while data is already
// there. Whichever wins, no byte may be lost and no call may report both.
COSOCK_CO_TEST(a_timeout_racing_a_completion_loses_no_bytes) {
    auto p = co_await connect_pair();
    constexpr int rounds = 300;
    std::size_t received = 0, timeouts = 0;
    for (int i = 0; i < rounds; ++i) {
        co_await p.client.send("0123456789");
        auto [ec, data] = co_await cosock::nothrow(cosock::timeout(1us, p.server.recv(4)));
        if (ec) {
            BOOST_REQUIRE((ec == std::errc::timed_out));
            BOOST_REQUIRE(data.empty());
            ++timeouts;
        }
        received += data.size();
    }
    p.client.shutdown();
    for (;;) {
        auto rest = co_await p.server.recv(4096);
        if (rest.empty()) break;
        received += rest.size();
    }
    BOOST_TEST_MESSAGE(timeouts << " of " << rounds << " reads timed out");
    BOOST_TEST(received == rounds * 10u);
}

COSOCK_CO_TEST(cancellation_during_a_timed_wait_is_a_cancellation_not_a_timeout) {
    auto p = co_await connect_pair();
    p.server.set_timeout(10s);
    boost::asio::cancellation_signal cancel;
    std::exception_ptr error;
    bool done = false;
    auto executor = co_await boost::asio::this_coro::executor;
    auto receive = [&]() -> cosock::task<void> { (void)co_await p.server.recv(10); };  // outlives it
    boost::asio::co_spawn(executor, receive(),
                          boost::asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                              error = e;
                              done = true;
                          }));
    co_await cosock_test::yield();
    cancel.emit(boost::asio::cancellation_type::terminal);
    for (int i = 0; !done && i < 10000; ++i) co_await cosock_test::yield();
    BOOST_REQUIRE(done);
    BOOST_TEST(cosock::is_cancellation(error));
    bool is_timeout = false;
    try {
        std::rethrow_exception(error);
    } catch (const cosock::timeout_error&) {
        is_timeout = true;
    } catch (...) {
    }
    BOOST_TEST(!is_timeout);
}

template <class Stream>
cosock::task<int> slow_drip(Stream& conn) {
    int lines = 0;
    while (auto line = co_await conn.read_line()) ++lines;  // each read is quick; the total is not
    co_return lines;
}

cosock::task<void> drip_lines(cosock::testing::memory_stream& conn) {
    for (int i = 0; i < 100; ++i) {
        co_await conn.send("x\n");
        co_await cosock::sleep(10ms);
    }
}

// On virtual time: a peer sends a line every 10 ms, each read is quick, the whole is not.
cosock::task<void> a_deadline_across_reads(std::string& message, cosock::testing::clock::duration& took) {
    auto [client, server] = cosock::testing::memory_stream_pair();
    server.set_timeout(1s);  // no single read comes near this
    cosock::task_scope dripping;
    dripping.spawn(drip_lines(client));
    auto start = cosock::testing::clock::now();
    try {
        (void)co_await cosock::fail_after(100ms, slow_drip(server));
    } catch (const cosock::timeout_error& e) {
        message = e.what();
    }
    took = cosock::testing::clock::now() - start;
    dripping.cancel();
    co_await dripping.join();
}

BOOST_AUTO_TEST_CASE(fail_after_gives_up_across_several_operations) {
    std::string message;
    cosock::testing::clock::duration took{};
    cosock::testing::run_with_virtual_time(a_deadline_across_reads(message, took));
    BOOST_TEST(message == "deadline: timed out after 0.1 s");
    BOOST_TEST((took == 100ms));  // exactly: the clock jumped to the deadline
}

COSOCK_VIRTUAL_TIME_TEST(move_on_after_yields_nothing_when_the_deadline_passes) {
    auto start = cosock::testing::clock::now();
    auto late = co_await cosock::move_on_after(20ms, []() -> cosock::task<int> {
        co_await cosock::sleep(10s);
        co_return 1;
    }());
    auto early = co_await cosock::move_on_after(5s, []() -> cosock::task<int> { co_return 2; }());
    bool finished = co_await cosock::move_on_after(20ms, cosock::sleep(10s));
    BOOST_TEST(!late.has_value());
    BOOST_TEST(early.value() == 2);
    BOOST_TEST(!finished);
    BOOST_TEST((cosock::testing::clock::now() - start == 40ms));  // two deadlines, nothing else
}

cosock::task<int> after_a_sleep(std::chrono::milliseconds d, int value) {
    co_await cosock::sleep(d);
    co_return value;
}

// Zero means "no timeout" in every face, as for sockets and the process default.
COSOCK_CO_TEST(a_zero_timeout_is_no_timeout_in_every_face) {
    auto value = co_await cosock::fail_after(0s, after_a_sleep(20ms, 1));
    auto moved = co_await cosock::move_on_after(0s, after_a_sleep(20ms, 2));
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer timer(executor, 20ms);
    auto waited = co_await error_of(cosock::timeout(0s, timer.async_wait(boost::asio::deferred)));
    auto p = co_await connect_pair();
    co_await p.client.send("x");
    auto got = co_await cosock::timeout(0s, p.server.recv(10));
    BOOST_TEST(value == 1);
    BOOST_TEST(moved.value() == 2);
    BOOST_TEST(waited == "");
    BOOST_TEST(got == "x");
}

COSOCK_VIRTUAL_TIME_TEST(an_inner_timeout_is_not_swallowed_by_an_outer_move_on_after) {
    auto p = co_await connect_pair();
    std::string message;
    try {
        (void)co_await cosock::move_on_after(5s, [&]() -> cosock::task<std::string> {
            co_return co_await cosock::timeout(20ms, p.server.recv(10));
        }());
    } catch (const cosock::timeout_error& e) {
        message = e.what();
    }
    BOOST_TEST(message.ends_with("timed out after 0.02 s"));
}

COSOCK_CO_TEST(any_asio_operation_can_have_a_timeout) {
    auto ex = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer slow(ex, 1h), quick(ex, 1ms);
    auto message = co_await error_of(cosock::timeout(20ms, slow.async_wait(boost::asio::deferred)));
    BOOST_TEST(message == "operation: timed out after 0.02 s");
    co_await cosock::timeout(5s, quick.async_wait(boost::asio::deferred));  // completes first
}

COSOCK_CO_TEST(destroying_a_socket_whose_timer_is_armed_is_safe) {
    auto p = co_await connect_pair();
    p.server.set_timeout(1h);
    co_await p.client.send("x");
    auto got = co_await p.server.recv(1);  // arms the timer for an hour
    BOOST_TEST(got == "x");
    p.server = cosock::tcp_stream();  // the pending timer wait is cancelled; ASan checks the rest
    co_await cosock_test::yield();
}

BOOST_AUTO_TEST_SUITE_END()
