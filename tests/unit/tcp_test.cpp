// tests/unit/tcp_test.cpp — tests for cosock/tcp.hpp, over loopback with port 0: what is TCP's own
// (addresses, connect, options, serve, allocations). The stream operations, shared with Unix and
// TLS streams, are tested once over every transport in stream_test.cpp.
// SPDX-License-Identifier: MIT
#include <cosock/tcp.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include "support/allocation_counter.hpp"
#include "support/co_test.hpp"
#include "support/loopback.hpp"
#include "support/preconditions.hpp"

using namespace std::chrono_literals;

namespace {

using cosock_test::connect_pair;
using cosock_test::start_cancellable;
using cosock_test::until;
using cosock_test::wait_until;

std::string what(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& error) {
        return error.what();
    }
}

bool is_aborted(std::exception_ptr e) {
    return e && cosock::is_cancellation(e);
}

/// `listener.serve(handler, options)` running beside the test until `stop` is emitted: `ended`
/// once serve has returned or thrown, with `error`.
struct serving {
    bool ended = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal stop;

    template <class Handler>
    serving(cosock::tcp_listener& listener, Handler handler, cosock::serve_options options,
            const boost::asio::any_io_executor& ex) {
        boost::asio::co_spawn(ex, listener.serve(std::move(handler), std::move(options)),
                              boost::asio::bind_cancellation_slot(stop.slot(), [this](std::exception_ptr e) {
                                  error = e;
                                  ended = true;
                              }));
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(tcp)

COSOCK_CO_TEST(addresses_of_both_ends_agree) {
    auto p = co_await connect_pair();
    BOOST_TEST(p.client.peer_address() == p.listener.local_address());
    BOOST_TEST(p.server.peer_address() == p.client.local_address());
    BOOST_TEST(p.client_address == p.client.local_address());
    BOOST_TEST(p.listener.local_address().port() != 0);
    BOOST_TEST(p.client.native_handle() >= 0);
}

COSOCK_CO_TEST(recv_into_and_send_allocate_nothing_in_steady_state) {
    auto p = co_await connect_pair();
    std::array<char, 64> out{}, in{};
    auto round_trip = [&]() -> cosock::task<void> {
        co_await p.client.send(boost::asio::buffer(out));
        std::size_t got = 0;
        while (got < in.size()) got += co_await p.server.recv_into(boost::asio::buffer(in) + got);
    };
    for (int i = 0; i < 10; ++i) co_await round_trip();  // warm up Asio's recycled handler memory
    auto before = cosock_test::allocations();
    for (int i = 0; i < 100; ++i) {
        co_await p.client.send(boost::asio::buffer(out));
        std::size_t got = 0;
        while (got < in.size()) got += co_await p.server.recv_into(boost::asio::buffer(in) + got);
    }
    BOOST_TEST(cosock_test::allocations() - before == 0u);
    // The counter does see allocations: recv(max) returns a new string each time.
    before = cosock_test::allocations();
    co_await p.client.send(boost::asio::buffer(out));
    auto data = co_await p.server.recv(in.size());
    BOOST_TEST(cosock_test::allocations() - before > 0u);
}

// The loop of a server that holds no buffer per connection (echo_server): wait_readable waits
// with no buffer, try_recv_into and try_send use the caller's, and none of it allocates.
COSOCK_CO_TEST(wait_readable_try_recv_into_and_try_send_allocate_nothing_in_steady_state) {
    auto p = co_await connect_pair();
    std::array<char, 64> out{}, in{}, shared{};
    auto round_trip = [&]() -> cosock::task<void> {
        co_await p.client.send(boost::asio::buffer(out));
        std::size_t got = 0;
        while (got < in.size()) {
            co_await p.server.wait_readable();
            auto n = p.server.try_recv_into(boost::asio::buffer(shared));
            if (!n || *n == 0) continue;
            if (p.server.try_send(boost::asio::buffer(shared.data(), *n)) != *n)
                throw std::runtime_error("full");
            got += *n;
        }
        got = 0;
        while (got < in.size()) got += co_await p.client.recv_into(boost::asio::buffer(in) + got);
    };
    for (int i = 0; i < 10; ++i) co_await round_trip();  // warm up Asio's recycled handler memory
    auto before = cosock_test::allocations();
    for (int i = 0; i < 100; ++i) {  // round_trip's body, without a coroutine frame of its own
        co_await p.client.send(boost::asio::buffer(out));
        std::size_t got = 0;
        while (got < in.size()) {
            co_await p.server.wait_readable();
            auto n = p.server.try_recv_into(boost::asio::buffer(shared));
            if (!n || *n == 0) continue;
            got += p.server.try_send(boost::asio::buffer(shared.data(), *n));
        }
        got = 0;
        while (got < in.size()) got += co_await p.client.recv_into(boost::asio::buffer(in) + got);
    }
    BOOST_TEST(cosock_test::allocations() - before == 0u);
}

// Sends that find room in the send buffer complete at once and resume their coroutine inline
// (detail::complete_now); after a budget of them in a row one is posted, so other coroutines run.
COSOCK_CO_TEST(sends_that_complete_at_once_still_let_others_run) {
    auto p = co_await connect_pair();
    cosock_test::turn_counter other;
    cosock::task_scope scope;
    scope.spawn(other.run());
    co_await cosock_test::yield();  // the other coroutine is waiting in the queue
    int seen_before = other.turns;
    constexpr int sends = 20 * cosock::detail::inline_budget;  // 1-byte sends: all fit at once
    for (int i = 0; i < sends; ++i) co_await p.client.send("x");
    int seen_during = other.turns - seen_before;
    other.running = false;
    co_await scope.join();
    // 20 budgets: the other coroutine ran between them, about 20 times, but not after every
    // send (which would mean every send went through the scheduler).
    BOOST_TEST(seen_during >= 10);
    BOOST_TEST(seen_during <= 40);
    BOOST_TEST(co_await p.server.read_exact(sends) == std::string(sends, 'x'));
}

/// Where the stack of the calling function's caller is: the same for each call made from the
/// same depth.
[[gnu::noinline]] std::uintptr_t stack_depth_marker() {
    return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

// Results found at once run one after another, not nested: a coroutine whose every send
// completes at once resumes at the same stack depth each time, so the budget bounds fairness
// only, not the stack.
COSOCK_CO_TEST(results_found_at_once_do_not_deepen_the_stack) {
    auto p = co_await connect_pair();
    co_await cosock_test::yield();  // a fresh budget
    std::set<std::uintptr_t> depths;
    co_await p.client.send("x");  // the first is run by the call that found it, a level apart
    for (int i = 1; i < cosock::detail::inline_budget - 1; ++i) {
        co_await p.client.send("x");
        depths.insert(stack_depth_marker());
    }
    BOOST_TEST(depths.size() == 1u);  // nested resumptions would each sit deeper
    std::size_t sent = cosock::detail::inline_budget - 1;
    BOOST_TEST(co_await p.server.read_exact(sent) == std::string(sent, 'x'));
}

// A handler that does not resume a coroutine (a plain callback) never runs inside the call that
// started its operation, even when the result is there at once.
COSOCK_CO_TEST(a_callback_is_never_called_inside_the_initiating_call) {
    auto p = co_await connect_pair();
    bool called = false;
    std::size_t sent = 0;
    p.client.send("now")([&](std::exception_ptr e, std::size_t n) {
        called = !e;
        sent = n;
    });
    BOOST_TEST(!called);  // the send itself is done: the result waits in the loop's queue
    co_await until(called);
    BOOST_TEST(sent == 3u);
    auto [ec, n] = co_await cosock::nothrow(p.server.recv(10));
    BOOST_TEST(n == "now");
}

// 100,000 sends completing at once: they run one after another, never nested, so the stack stays flat.
COSOCK_CO_TEST(many_immediate_completions_do_not_grow_the_stack) {
    auto p = co_await connect_pair();
    p.client.set_send_buffer_size(4 * 1024 * 1024);
    cosock::task_scope scope;
    std::size_t received = 0;
    scope.spawn([](cosock::tcp_stream& s, std::size_t& received) -> cosock::task<void> {
        std::array<char, 65536> buf;
        while (auto n = co_await s.recv_into(boost::asio::buffer(buf))) received += n;
    }(p.server, received));
    for (int i = 0; i < 100000; ++i) co_await p.client.send("y");
    p.client.shutdown();
    co_await scope.join();
    BOOST_TEST(received == 100000u);
}

COSOCK_CO_TEST(shutdown_half_closes_and_the_other_direction_still_works) {
    auto p = co_await connect_pair();
    co_await p.client.send("last words");
    p.client.shutdown();
    auto words = co_await p.server.recv(100);
    auto end = co_await p.server.recv(100);
    co_await p.server.send("still here");
    auto reply = co_await p.client.recv(100);
    BOOST_TEST(words == "last words");
    BOOST_TEST(end.empty());
    BOOST_TEST(reply == "still here");
    BOOST_CHECK_THROW(co_await p.client.send("more"), cosock::error);  // EPIPE, not SIGPIPE
}

COSOCK_CO_TEST(a_refused_connect_names_the_address) {
    cosock::address gone;
    {
        auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
        gone = listener.local_address();
    }
    std::string message;
    std::error_code code;
    try {
        (void)co_await cosock::tcp_stream::connect(gone);
    } catch (const cosock::error& e) {
        message = e.what();
        code = e.code();
    }
    BOOST_TEST(message == fmt::format("connect to {}: Connection refused", gone));
    BOOST_TEST((code == std::errc::connection_refused));
}

COSOCK_CO_TEST(a_port_already_in_use_is_a_clear_bind_error) {
    auto first = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto at = first.local_address();
    BOOST_CHECK_EXCEPTION(cosock::tcp_listener::bind(at), cosock::error, [&](const cosock::error& e) {
        return e.what() == fmt::format("bind to {}: Address already in use", at) &&
               e.code() == std::errc::address_in_use;
    });
    std::error_code ec;
    auto executor = co_await boost::asio::this_coro::executor;
    auto second = cosock::tcp_listener::bind(executor, at, {}, ec);
    BOOST_TEST((ec == std::errc::address_in_use));
    BOOST_TEST(!second.is_open());
}

COSOCK_CO_TEST(a_peer_reset_mid_read_is_a_clear_error) {
    auto p = co_await connect_pair();
    p.client.asio_socket().set_option(boost::asio::socket_base::linger(true, 0));
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    auto executor = co_await boost::asio::this_coro::executor;
    start_cancellable(p.server.recv(100), unused, done, error, executor);
    co_await cosock_test::yield();
    p.client.close();  // RST
    co_await until(done);
    BOOST_REQUIRE(error);
    BOOST_TEST(what(error) == fmt::format("recv from {}: Connection reset by peer", p.client_address));
}

// One epoll event can stand for the last bytes and the reset after them, and none comes again:
// the read that takes the bytes must not leave the next one waiting for a report (edge_reads.hpp).
// The set-up: a first short read (the case is about the reads after one), then "last" and a
// reset, both taken in by the loop before any read.
template <class Pair>
cosock::task<void> send_last_bytes_then_reset(Pair& p) {
    co_await p.client.send("first");
    auto first = co_await p.server.recv(64);
    BOOST_TEST(first == "first");
    co_await p.client.send("last");
    p.client.asio_socket().set_option(boost::asio::socket_base::linger(true, 0));
    p.client.close();  // RST
    co_await cosock_test::turns(20);
}

COSOCK_CO_TEST(a_reset_that_arrives_with_the_last_bytes_is_reported_by_the_read_after_them) {
    auto p = co_await connect_pair();
    co_await send_last_bytes_then_reset(p);
    std::array<char, 8> buf{};
    auto n = co_await p.server.recv_into(boost::asio::buffer(buf));  // short: the bytes, not the reset
    BOOST_TEST(std::string(buf.data(), n) == "last");
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    start_cancellable(p.server.recv(100), unused, done, error, co_await boost::asio::this_coro::executor);
    co_await until(done);  // bounded: a read left waiting fails the test instead of hanging it
    BOOST_REQUIRE(error);
    BOOST_TEST(what(error) == fmt::format("recv from {}: Connection reset by peer", p.client_address));
}

COSOCK_CO_TEST(a_reset_that_arrives_with_the_last_bytes_is_reported_by_the_next_try_recv_into) {
    auto p = co_await connect_pair();
    co_await send_last_bytes_then_reset(p);
    std::array<char, 8> buf{};
    auto n = p.server.try_recv_into(boost::asio::buffer(buf));
    BOOST_REQUIRE(n.has_value());
    BOOST_TEST(std::string(buf.data(), *n) == "last");
    std::error_code ec;
    auto none = p.server.try_recv_into(boost::asio::buffer(buf), ec);  // not "would block"
    BOOST_TEST(!none.has_value());
    BOOST_TEST((ec == std::errc::connection_reset));
}

COSOCK_CO_TEST(writes_to_a_closed_peer_fail_without_killing_the_process) {
    auto p = co_await connect_pair();
    p.server.close();
    std::string chunk(64 * 1024, 'z');
    std::string message;
    try {
        for (int i = 0; i < 1000; ++i) co_await p.client.send(chunk);
    } catch (const cosock::error& e) {
        message = e.what();
    }
    BOOST_TEST_MESSAGE(message);
    BOOST_TEST(message.starts_with(fmt::format("send to {}: ", p.listener.local_address())));
}

COSOCK_CO_TEST(nothrow_gives_the_error_code_instead_of_throwing) {
    auto p = co_await connect_pair();
    p.client.asio_socket().set_option(boost::asio::socket_base::linger(true, 0));
    p.client.close();
    std::array<char, 16> buf{};
    auto [ec, n] = co_await cosock::nothrow(p.server.recv_into(boost::asio::buffer(buf)));
    BOOST_TEST((ec == boost::asio::error::connection_reset));
    BOOST_TEST(n == 0u);
    auto [eof_ec, data] = co_await cosock::nothrow(p.server.recv(10));
    BOOST_TEST_MESSAGE(eof_ec.message());
}

COSOCK_CO_TEST(a_moved_from_stream_says_it_is_not_open) {
    auto p = co_await connect_pair();
    auto other = std::move(p.client);
    BOOST_TEST(!p.client.is_open());
    BOOST_TEST(other.is_open());
    BOOST_CHECK_EXCEPTION((void)p.client.recv(1), cosock::error, [](const cosock::error& e) {
        return e.what() == std::string("recv: socket not open");
    });
}

COSOCK_CO_TEST(options_can_be_set_and_read) {
    auto p = co_await connect_pair();
    p.client.set_no_delay(true);
    p.client.set_keep_alive(true);
    p.client.set_receive_buffer_size(64 * 1024);
    BOOST_TEST(p.client.receive_buffer_size() >= 64 * 1024);
    BOOST_TEST(p.client.send_buffer_size() > 0);
}

BOOST_AUTO_TEST_SUITE_END()

// Cases that need IPv6 on loopback: suite `ipv6` (ctest unit.ipv6), skipped as a whole where
// ::1 cannot be bound (support/preconditions.hpp).
BOOST_AUTO_TEST_SUITE(ipv6, *boost::unit_test::precondition(cosock_test::needs_ipv6))

COSOCK_CO_TEST(tcp_an_ipv6_listener_takes_ipv4_clients_unless_v6_only) {
    auto dual = cosock::tcp_listener::bind({"::", 0});
    auto client = co_await cosock::tcp_stream::connect({"127.0.0.1", dual.local_address().port()});
    auto [conn, peer] = co_await dual.accept();
    BOOST_TEST(peer.to_string().starts_with("[::ffff:127.0.0.1]:"));
    auto v6_only = cosock::tcp_listener::bind({"::", 0}, {.v6_only = true});
    auto [ec, s] =
        co_await cosock::nothrow(cosock::tcp_stream::connect({"127.0.0.1", v6_only.local_address().port()}));
    BOOST_TEST((ec == boost::asio::error::connection_refused));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tcp)

COSOCK_CO_TEST(serve_runs_each_connection_and_reports_handler_errors) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto at = listener.local_address();
    std::vector<std::string> errors;
    cosock::serve_options options;
    options.grace = 50ms;
    options.on_error = [&](const cosock::address&, std::exception_ptr e) { errors.push_back(what(e)); };
    auto ex = co_await boost::asio::this_coro::executor;
    auto handler = [](cosock::tcp_stream conn, cosock::address) -> cosock::task<void> {
        auto line = co_await conn.read_line();
        if (line == "fail") throw std::runtime_error("handler failed");
        co_await conn.send("echo:" + line.value_or(""));
    };
    serving serve(listener, handler, options, ex);
    for (auto text : {"a", "fail", "b"}) {
        auto c = co_await cosock::tcp_stream::connect(at);
        co_await c.send(std::string(text) + "\n");
        auto reply = co_await c.recv(100);
        BOOST_TEST(reply == (std::string(text) == "fail" ? "" : "echo:" + std::string(text)));
    }
    // A connection still open when serve is cancelled gets the grace period, then is cancelled.
    auto idle = co_await cosock::tcp_stream::connect(at);
    co_await cosock_test::yield();
    serve.stop.emit(boost::asio::cancellation_type::terminal);
    co_await wait_until(serve.ended);  // after the 50 ms grace: real time, not a number of turns
    BOOST_TEST(is_aborted(serve.error));
    BOOST_TEST(errors.size() == 1u);
    for (auto& e : errors) BOOST_TEST(e == "handler failed");
    auto end = co_await idle.recv(10);  // its handler was cancelled and the socket closed
    BOOST_TEST(end.empty());
    auto [ec, s] = co_await cosock::nothrow(cosock::tcp_stream::connect(at));  // no longer listening
    BOOST_TEST((ec == boost::asio::error::connection_refused));
}

// A handler that fails before any coroutine begins (a plain function that throws) is reported
// with its peer like one that fails inside its coroutine, and serve goes on.
COSOCK_CO_TEST(serve_reports_a_handler_that_throws_before_its_coroutine_begins) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto at = listener.local_address();
    std::vector<std::string> errors;
    cosock::serve_options options;
    options.grace = 0ms;
    options.on_error = [&](const cosock::address& peer, std::exception_ptr e) {
        errors.push_back(fmt::format("{}: {}", peer, what(e)));
    };
    int calls = 0;
    auto reply = [](cosock::tcp_stream conn) -> cosock::task<void> { co_await conn.send("ok"); };
    auto handler = [&calls, reply](cosock::tcp_stream conn, cosock::address) -> cosock::task<void> {
        if (++calls == 1) throw std::runtime_error("no coroutine");
        return reply(std::move(conn));
    };
    auto ex = co_await boost::asio::this_coro::executor;
    serving serve(listener, handler, options, ex);
    auto first = co_await cosock::tcp_stream::connect(at);
    auto closed = co_await first.recv(10);  // its connection went with the failed call
    auto second = co_await cosock::tcp_stream::connect(at);
    auto ok = co_await second.recv(10);
    serve.stop.emit(boost::asio::cancellation_type::terminal);
    co_await wait_until(serve.ended);
    BOOST_TEST(closed.empty());
    BOOST_TEST(ok == "ok");
    BOOST_TEST(is_aborted(serve.error));
    BOOST_TEST(errors.size() == 1u);
    for (auto& e : errors) BOOST_TEST(e == fmt::format("{}: no coroutine", first.local_address()));
}

BOOST_AUTO_TEST_SUITE_END()
