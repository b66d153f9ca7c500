// tests/unit/testing_test.cpp — tests for cosock/testing.hpp: what memory streams add to the stream
// contract (which stream_test.cpp checks over them like over sockets): back-pressure, chunking,
// reset and close.
// SPDX-License-Identifier: MIT
#include <cosock/testing.hpp>

#include <string>

#include <boost/asio/cancellation_signal.hpp>

#include "support/co_test.hpp"

using namespace std::chrono_literals;

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

BOOST_AUTO_TEST_SUITE_END()
