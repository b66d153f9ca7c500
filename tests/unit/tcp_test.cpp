// tests/unit/tcp_test.cpp — tests for cosock/tcp.hpp, over loopback with port 0.
// SPDX-License-Identifier: MIT
#include <cosock/tcp.hpp>

#include <array>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include "support/allocation_counter.hpp"
#include "support/co_test.hpp"
#include "support/loopback.hpp"

using namespace std::chrono_literals;

namespace {

using cosock_test::connect_pair;
using cosock_test::start_cancellable;
using cosock_test::until;

/// Lets the event loop run until the kernel's receive queue of `s` is empty (its bytes were read
/// into the stream's buffer by a pending read). Bounded.
cosock::task<void> until_drained(cosock::tcp_stream& s) {
    for (int turn = 0; s.asio_socket().available() > 0; ++turn) {
        if (turn > 100000) throw std::runtime_error("bytes were never read");
        co_await cosock_test::yield();
    }
}

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

}  // namespace

BOOST_AUTO_TEST_SUITE(tcp)

COSOCK_CO_TEST(hello_and_hi_cross_the_connection) {
    auto p = co_await connect_pair();
    co_await p.client.send("hello!");
    auto ret = co_await p.server.recv(1024);
    co_await p.server.send("hi");
    auto reply = co_await p.client.recv(1024);
    BOOST_TEST(ret == "hello!");
    BOOST_TEST(reply == "hi");
}

COSOCK_CO_TEST(addresses_of_both_ends_agree) {
    auto p = co_await connect_pair();
    BOOST_TEST(p.client.peer_address() == p.listener.local_address());
    BOOST_TEST(p.server.peer_address() == p.client.local_address());
    BOOST_TEST(p.client_address == p.client.local_address());
    BOOST_TEST(p.listener.local_address().port() != 0);
    BOOST_TEST(p.client.native_handle() >= 0);
}

COSOCK_CO_TEST(recv_returns_empty_string_at_end_of_stream) {
    auto p = co_await connect_pair();
    co_await p.client.send("hello!");
    p.client.close();
    auto first = co_await p.server.recv(1024);
    auto second = co_await p.server.recv(1024);
    BOOST_TEST(first == "hello!");
    BOOST_TEST(second.empty());
}

COSOCK_CO_TEST(recv_into_fills_the_callers_buffer) {
    auto p = co_await connect_pair();
    co_await p.client.send("abcdef");
    std::array<char, 4> buf{};
    auto n = co_await p.server.recv_into(boost::asio::buffer(buf));
    BOOST_TEST(n == 4u);
    BOOST_TEST(std::string(buf.data(), n) == "abcd");
    auto rest = co_await p.server.recv(100);
    BOOST_TEST(rest == "ef");
    p.client.close();
    auto end = co_await p.server.recv_into(boost::asio::buffer(buf));
    BOOST_TEST(end == 0u);
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

// Sends that find room in the send buffer complete at once and resume their coroutine inline
// (detail::complete_now); after 16 nested resumptions one is posted, so other coroutines run.
COSOCK_CO_TEST(sends_that_complete_at_once_still_let_others_run) {
    auto p = co_await connect_pair();
    int others_ran = 0;
    bool sending = true;
    cosock::task_scope scope;
    scope.spawn([](bool& sending, int& others_ran) -> cosock::task<void> {
        while (sending) {
            ++others_ran;
            co_await cosock_test::yield();
        }
    }(sending, others_ran));
    co_await cosock_test::yield();  // the other coroutine is waiting in the queue
    int seen_before = others_ran;
    for (int i = 0; i < 320; ++i) co_await p.client.send("x");  // 320 bytes: all fit at once
    int seen_during = others_ran - seen_before;
    sending = false;
    co_await scope.join();
    // 320 sends in budgets of 16: the other coroutine ran between the budgets, about 20 times,
    // but not after every send (which would mean every send went through the scheduler).
    BOOST_TEST(seen_during >= 10);
    BOOST_TEST(seen_during <= 40);
    BOOST_TEST(co_await p.server.read_exact(320) == std::string(320, 'x'));
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

// 100,000 sends completing at once: the nested resumptions are bounded, so the stack is too.
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

COSOCK_CO_TEST(send_delivers_every_byte_of_a_large_buffer) {
    auto p = co_await connect_pair();
    std::string big(4 * 1024 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    p.client.set_send_buffer_size(16 * 1024);  // force many partial writes
    bool sent = false;
    std::exception_ptr send_error;
    boost::asio::cancellation_signal unused;
    start_cancellable(p.client.send(big), unused, sent, send_error,
                      co_await boost::asio::this_coro::executor);
    auto got = co_await p.server.read_exact(big.size());
    co_await until(sent);
    BOOST_TEST(!send_error);
    BOOST_TEST((got == big));
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
    auto second = cosock::tcp_listener::bind(co_await boost::asio::this_coro::executor, at, {}, ec);
    BOOST_TEST((ec == std::errc::address_in_use));
    BOOST_TEST(!second.is_open());
}

COSOCK_CO_TEST(a_peer_reset_mid_read_is_a_clear_error) {
    auto p = co_await connect_pair();
    p.client.asio_socket().set_option(boost::asio::socket_base::linger(true, 0));
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    start_cancellable(p.server.recv(100), unused, done, error, co_await boost::asio::this_coro::executor);
    co_await cosock_test::yield();
    p.client.close();  // RST
    co_await until(done);
    BOOST_REQUIRE(error);
    BOOST_TEST(what(error) == fmt::format("recv from {}: Connection reset by peer", p.client_address));
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

COSOCK_CO_TEST(read_line_splits_lines_and_keeps_the_rest_buffered) {
    auto p = co_await connect_pair();
    co_await p.client.send("one\ntwo\r\nthree\nfour");
    p.client.shutdown();
    auto one = co_await p.server.read_line();
    auto two = co_await p.server.read_line();
    auto rest = co_await p.server.recv(5);      // buffered bytes come first
    auto four = co_await p.server.read_line();  // ends without newline: still a line
    auto end = co_await p.server.read_line();
    BOOST_TEST(one.value() == "one");
    BOOST_TEST(two.value() == "two");
    BOOST_TEST(rest == "three");
    // "\nfour": an empty line, then the last one
    BOOST_TEST(four.value() == "");
    auto last = end;
    BOOST_TEST(last.value() == "four");
    auto after = co_await p.server.read_line();
    BOOST_TEST(!after.has_value());
}

// Asio alone would hang here: after end of stream it waits for readiness that never comes again.
COSOCK_CO_TEST(every_read_after_end_of_stream_returns_at_once) {
    auto p = co_await connect_pair();
    co_await p.client.send("x");
    p.client.close();
    auto x = co_await p.server.recv(10);
    auto first = co_await p.server.recv(10);
    auto second = co_await p.server.recv(10);
    std::array<char, 4> buf{};
    auto n = co_await p.server.recv_into(boost::asio::buffer(buf));
    auto line = co_await p.server.read_line();
    BOOST_CHECK_THROW(co_await p.server.read_exact(1), cosock::end_of_stream_error);
    BOOST_CHECK_THROW(co_await p.server.read_until("\n"), cosock::end_of_stream_error);
    BOOST_TEST(x == "x");
    BOOST_TEST(first.empty());
    BOOST_TEST(second.empty());
    BOOST_TEST(n == 0u);
    BOOST_TEST(!line.has_value());
}

COSOCK_CO_TEST(a_line_longer_than_the_maximum_is_an_error_and_loses_nothing) {
    auto p = co_await connect_pair();
    co_await p.client.send("0123456789abcdef\n");
    std::string message;
    try {
        (void)co_await p.server.read_line(8);
    } catch (const cosock::error& e) {
        message = e.what();
        BOOST_TEST((e.code() == cosock::errc::line_too_long));
    }
    BOOST_TEST(message == fmt::format("read_line from {}: line longer than the maximum", p.client_address));
    auto all = co_await p.server.read_line(100);
    BOOST_TEST(all.value() == "0123456789abcdef");
}

COSOCK_CO_TEST(read_until_includes_the_delimiter) {
    auto p = co_await connect_pair();
    co_await p.client.send("GET / HTTP/1.0\r\n\r\nbody");
    auto head = co_await p.server.read_until("\r\n\r\n");
    auto body = co_await p.server.read_exact(4);
    BOOST_TEST(head == "GET / HTTP/1.0\r\n\r\n");
    BOOST_TEST(body == "body");
}

COSOCK_CO_TEST(a_cancelled_read_line_keeps_the_partial_line) {
    auto p = co_await connect_pair();
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal cancel;
    start_cancellable(p.server.read_line(), cancel, done, error, co_await boost::asio::this_coro::executor);
    co_await p.client.send("abc");
    co_await until_drained(p.server);  // "abc" now sits in the stream's buffer
    cancel.emit(boost::asio::cancellation_type::terminal);
    co_await until(done);
    BOOST_TEST(is_aborted(error));
    co_await p.client.send("def\n");
    auto line = co_await p.server.read_line();
    BOOST_TEST(line.value() == "abcdef");
}

COSOCK_CO_TEST(read_exact_at_end_of_stream_carries_the_bytes_received) {
    auto p = co_await connect_pair();
    co_await p.client.send("abc");
    p.client.close();
    std::string received, message;
    try {
        (void)co_await p.server.read_exact(10);
    } catch (const cosock::end_of_stream_error& e) {
        received = e.received();
        message = e.what();
    }
    BOOST_TEST(received == "abc");
    BOOST_TEST(message == fmt::format("read_exact from {}: end of stream before all the bytes arrived",
                                      p.client_address));
}

COSOCK_CO_TEST(a_second_concurrent_read_fails_clearly) {
    auto p = co_await connect_pair();
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal cancel;
    start_cancellable(p.server.recv(10), cancel, done, error, co_await boost::asio::this_coro::executor);
    co_await cosock_test::yield();
    std::string message;
    try {
        (void)co_await p.server.recv(10);
    } catch (const cosock::error& e) {
        message = e.what();
        BOOST_TEST((e.code() == cosock::errc::concurrent_read));
    }
    BOOST_TEST(message ==
               fmt::format("recv from {}: another read is already pending on this socket", p.client_address));
    co_await p.client.send("x");  // the first read still works
    co_await until(done);
    BOOST_TEST(!error);
}

COSOCK_CO_TEST(destroying_a_stream_with_a_pending_read_is_safe) {
    auto p = co_await connect_pair();
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    auto server = std::make_optional(std::move(p.server));
    start_cancellable(server->recv(10), unused, done, error, co_await boost::asio::this_coro::executor);
    co_await cosock_test::yield();
    server.reset();  // the read completes with operation_aborted; ASan checks the rest
    co_await until(done);
    BOOST_TEST(is_aborted(error));
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

COSOCK_CO_TEST(an_ipv6_listener_takes_ipv4_clients_unless_v6_only) {
    cosock::tcp_listener dual;
    try {
        dual = cosock::tcp_listener::bind({"::", 0});
    } catch (const cosock::error& e) {
        BOOST_TEST_MESSAGE("skipped: no IPv6 here: " << e.what());
        co_return;
    }
    auto client = co_await cosock::tcp_stream::connect({"127.0.0.1", dual.local_address().port()});
    auto [conn, peer] = co_await dual.accept();
    BOOST_TEST(peer.to_string().starts_with("[::ffff:127.0.0.1]:"));
    auto v6_only = cosock::tcp_listener::bind({"::", 0}, {.v6_only = true});
    auto [ec, s] =
        co_await cosock::nothrow(cosock::tcp_stream::connect({"127.0.0.1", v6_only.local_address().port()}));
    BOOST_TEST((ec == boost::asio::error::connection_refused));
}

COSOCK_CO_TEST(serve_runs_each_connection_and_reports_handler_errors) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto at = listener.local_address();
    std::vector<std::string> errors;
    cosock::serve_options options;
    options.grace = 50ms;
    options.on_error = [&](const cosock::address&, std::exception_ptr e) { errors.push_back(what(e)); };
    bool served = false;
    std::exception_ptr serve_error;
    boost::asio::cancellation_signal stop;
    auto ex = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(ex,
                          listener.serve(
                              [](cosock::tcp_stream conn, cosock::address) -> cosock::task<void> {
                                  auto line = co_await conn.read_line();
                                  if (line == "fail") throw std::runtime_error("handler failed");
                                  co_await conn.send("echo:" + line.value_or(""));
                              },
                              options),
                          boost::asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e) {
                              serve_error = e;
                              served = true;
                          }));
    for (auto text : {"a", "fail", "b"}) {
        auto c = co_await cosock::tcp_stream::connect(at);
        co_await c.send(std::string(text) + "\n");
        auto reply = co_await c.recv(100);
        BOOST_TEST(reply == (std::string(text) == "fail" ? "" : "echo:" + std::string(text)));
    }
    // A connection still open when serve is cancelled gets the grace period, then is cancelled.
    auto idle = co_await cosock::tcp_stream::connect(at);
    co_await cosock_test::yield();
    stop.emit(boost::asio::cancellation_type::terminal);
    co_await until(served);
    BOOST_TEST(is_aborted(serve_error));
    BOOST_TEST(errors.size() == 1u);
    for (auto& e : errors) BOOST_TEST(e == "handler failed");
    auto end = co_await idle.recv(10);  // its handler was cancelled and the socket closed
    BOOST_TEST(end.empty());
    auto [ec, s] = co_await cosock::nothrow(cosock::tcp_stream::connect(at));  // no longer listening
    BOOST_TEST((ec == boost::asio::error::connection_refused));
}

BOOST_AUTO_TEST_SUITE_END()
