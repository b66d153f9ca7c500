// tests/unit/stream_test.cpp — the stream contract (cosock/detail/basic_stream.hpp), one test body
// run over every transport: TCP on loopback, a Unix-domain socketpair, TLS over loopback and the
// test kit's memory stream pair. The Asio face is checked with asio::async_read and with a
// Boost.Beast HTTP exchange.
// SPDX-License-Identifier: MIT
#include <cosock/tcp.hpp>
#include <cosock/testing.hpp>
#include <cosock/timeout.hpp>
#include <cosock/tls.hpp>
#include <cosock/unix.hpp>

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "support/co_test.hpp"
#include "support/loopback.hpp"
#include "support/test_certificates.hpp"

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

using cosock_test::start_cancellable;
using cosock_test::until;

/// Each transport: `make()` gives a connected client and server and the name the server's error
/// messages give the client; `end_writing(s)` ends what `s` sends (the peer then reads end of
/// stream); `kernel`: a socket underneath (with socket options).
struct tcp_transport {
    using stream = cosock::tcp_stream;
    static constexpr bool kernel = true;
    struct pair {
        cosock::tcp_listener listener;
        stream client, server;
        std::string client_name;
    };
    static cosock::task<pair> make() {
        auto p = co_await cosock_test::connect_pair();
        co_return pair{std::move(p.listener), std::move(p.client), std::move(p.server),
                       fmt::format("{}", p.client_address)};
    }
    static cosock::task<void> end_writing(stream& s) {
        s.shutdown();
        co_return;
    }
};

struct unix_transport {
    using stream = cosock::unix_stream;
    static constexpr bool kernel = true;
    struct pair {
        stream client, server;
        std::string client_name;
    };
    static cosock::task<pair> make() {
        auto [a, b] = cosock::unix_stream::pair();
        co_return pair{std::move(a), std::move(b), "socketpair"};
    }
    static cosock::task<void> end_writing(stream& s) {
        s.shutdown();
        co_return;
    }
};

struct tls_transport {
    using stream = cosock::tls_stream;
    static constexpr bool kernel = true;
    struct pair {
        cosock::tcp_listener listener;
        stream client, server;
        std::string client_name;
    };
    static cosock::task<stream> accept_one(cosock::tcp_listener& listener, cosock::tls_context context) {
        auto [conn, peer] = co_await listener.accept();
        co_return co_await cosock::tls_stream::accept(std::move(conn), std::move(context));
    }
    static cosock::task<pair> make() {
        auto& files = cosock_test::certificates();
        auto server_context = cosock::tls_context::server(files.server_chain, files.server_key);
        auto client_context = cosock::tls_context::client();
        client_context.load_verify_file(files.ca);
        pair p;
        p.listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
        auto [client, server] =
            co_await (cosock::tls_stream::connect(p.listener.local_address(), client_context) &&
                      accept_one(p.listener, server_context));
        p.client = std::move(client);
        p.server = std::move(server);
        p.client_name = fmt::format("{}", p.client.local_address());
        co_return p;
    }
    static cosock::task<void> end_writing(stream& s) { co_await s.shutdown(); }
};

struct memory_transport {
    using stream = cosock::testing::memory_stream;
    static constexpr bool kernel = false;
    struct pair {
        stream client, server;
        std::string client_name;
    };
    static cosock::task<pair> make() {
        auto [a, b] = cosock::testing::memory_stream_pair();
        co_return pair{std::move(a), std::move(b), "memory"};
    }
    static cosock::task<void> end_writing(stream& s) {
        s.shutdown();
        co_return;
    }
};

using transports = std::tuple<tcp_transport, unix_transport, tls_transport, memory_transport>;

template <class T>
std::size_t queued(T& s) {
    return cosock::detail::lowest_layer(s.asio_socket()).available();
}

/// Lets the event loop run until the kernel's receive queue of `s` is empty and the stream has
/// had turns to take in what it read. Bounded.
template <class T>
cosock::task<void> until_drained(T& s) {
    for (int turn = 0; queued(s) > 0; ++turn) {
        if (turn > 100000) throw std::runtime_error("bytes were never read");
        co_await cosock_test::yield();
    }
    co_await cosock_test::turns(10);
}

/// True for the streams with wait_readable, try_recv_into and try_send: every one but TLS.
template <class S>
constexpr bool has_readiness = requires(S& s, boost::asio::mutable_buffer in, boost::asio::const_buffer out) {
    s.wait_readable();
    s.try_recv_into(in);
    s.try_send(out);
};

// Compile-only checks: a TLS socket's readiness is not that of decrypted bytes, so tls_stream
// refuses these calls at compile time rather than answering wrongly.
static_assert(has_readiness<cosock::tcp_stream>);
static_assert(has_readiness<cosock::unix_stream>);
static_assert(has_readiness<cosock::testing::memory_stream>);
static_assert(!has_readiness<cosock::tls_stream>);

/// The text of `try_recv_into`'s result: "would block", "end" or the bytes read.
template <class S>
std::string try_read(S& s, std::size_t max = 64) {
    std::array<char, 64> buf{};
    auto n = s.try_recv_into(boost::asio::buffer(buf.data(), std::min(max, buf.size())));
    if (!n) return "would block";
    if (*n == 0) return "end";
    return std::string(buf.data(), *n);
}

template <class E>
std::string what_of(auto&& op) {
    try {
        (void)op();
    } catch (const E& e) {
        return e.what();
    }
    return "no exception";
}

}  // namespace

/// A test case run once per transport, its body a coroutine template on `T`.
#define COSOCK_STREAM_TEST(name)                         \
    template <class T>                                   \
    static cosock::task<void> name##_body();             \
    BOOST_AUTO_TEST_CASE_TEMPLATE(name, T, transports) { \
        cosock_test::run_for(name##_body<T>());          \
    }                                                    \
    template <class T>                                   \
    static cosock::task<void> name##_body()

BOOST_AUTO_TEST_SUITE(stream)

COSOCK_STREAM_TEST(hello_and_hi_cross_the_connection) {
    auto p = co_await T::make();
    co_await p.client.send("hello!");
    auto ret = co_await p.server.recv(1024);
    co_await p.server.send("hi");
    auto reply = co_await p.client.recv(1024);
    BOOST_TEST(ret == "hello!");
    BOOST_TEST(reply == "hi");
}

COSOCK_STREAM_TEST(recv_returns_empty_string_at_end_of_stream) {
    auto p = co_await T::make();
    co_await p.client.send("hello!");
    co_await T::end_writing(p.client);
    auto first = co_await p.server.recv(1024);
    auto second = co_await p.server.recv(1024);
    BOOST_TEST(first == "hello!");
    BOOST_TEST(second.empty());
}

COSOCK_STREAM_TEST(recv_returns_a_string_sized_to_what_arrived) {
    auto p = co_await T::make();
    co_await p.client.send("hi");
    auto got = co_await p.server.recv(65536);
    BOOST_TEST(got == "hi");
    BOOST_TEST(got.capacity() < 1024u);  // not the 64 KiB asked for: 1,000 stored messages stay small
}

COSOCK_STREAM_TEST(recv_into_fills_the_callers_buffer) {
    auto p = co_await T::make();
    co_await p.client.send("abcdef");
    std::array<char, 4> buf{};
    auto n = co_await p.server.recv_into(boost::asio::buffer(buf));
    BOOST_TEST(n == 4u);
    BOOST_TEST(std::string(buf.data(), n) == "abcd");
    auto rest = co_await p.server.recv(100);
    BOOST_TEST(rest == "ef");
    co_await T::end_writing(p.client);
    auto end = co_await p.server.recv_into(boost::asio::buffer(buf));
    BOOST_TEST(end == 0u);
}

/// One recv(64) into `got`, run beside the test by recv_or_fail.
template <class S>
cosock::task<void> recv_to(S& s, std::string& got) {
    got = co_await s.recv(64);
}

/// recv(64), where a read that never completes must fail the test ("condition never became
/// true") instead of hanging it: the read runs beside the test, which waits a bounded number of
/// loop turns for it (the bytes or the end it must find are already there).
template <class S>
cosock::task<std::string> recv_or_fail(S& s) {
    std::string got;
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    start_cancellable(recv_to(s, got), unused, done, error, co_await boost::asio::this_coro::executor);
    co_await until(done);
    if (error) std::rethrow_exception(error);
    co_return got;
}

/// A short read before the case under test: a stream's first reads may try at once whatever
/// they know (a new socket is reported readable), and the case is about the reads after.
template <class Pair>
cosock::task<void> take_a_first_message(Pair& p) {
    co_await p.client.send("first");
    auto first = co_await p.server.recv(64);
    BOOST_TEST(first == "first");
}

// What a stream must do whatever it knows of readiness (docs/performance.md, "The read that
// finds nothing"): bytes that arrive while no read waits are found by the next read of each kind;
// a read that fills its buffer leaves the rest to the next read at once; an end (or a reset) that
// came with the last bytes is found by the read after them, though no new report comes.
COSOCK_STREAM_TEST(bytes_that_arrive_while_no_read_waits_are_found_after_a_read_took_all) {
    auto p = co_await T::make();
    co_await take_a_first_message(p);
    auto ex = co_await boost::asio::this_coro::executor;
    std::array<char, 8> buf{};
    co_await p.client.send("ab");
    auto n = co_await p.server.recv_into(boost::asio::buffer(buf));  // all there was
    co_await p.client.send("cd");
    co_await cosock_test::turns(20);  // the loop meets the report of "cd" while no read waits
    auto cd = co_await recv_or_fail(p.server);
    BOOST_TEST(std::string(buf.data(), n) == "ab");
    BOOST_TEST(cd == "cd");
    if constexpr (has_readiness<typename T::stream>) {
        co_await p.client.send("ef");
        co_await cosock_test::turns(20);
        BOOST_TEST(try_read(p.server) == "ef");
        BOOST_TEST(try_read(p.server) == "would block");
        co_await p.client.send("gh");
        co_await cosock_test::turns(20);
        bool done = false;
        std::exception_ptr error;
        boost::asio::cancellation_signal unused;
        start_cancellable(p.server.wait_readable(), unused, done, error, ex);
        co_await until(done);
        BOOST_TEST(!error);
        BOOST_TEST(try_read(p.server) == "gh");
    }
}

COSOCK_STREAM_TEST(a_read_that_fills_its_buffer_leaves_the_rest_to_the_next_read_at_once) {
    auto p = co_await T::make();
    co_await p.client.send("abcdef");
    co_await cosock_test::turns(20);  // the loop takes in the report of the bytes before any read
    std::array<char, 4> buf{};
    auto n = co_await p.server.recv_into(boost::asio::buffer(buf));  // full: there may be more
    auto rest = co_await recv_or_fail(p.server);  // no new bytes come: it must not wait for a report
    BOOST_TEST(std::string(buf.data(), n) == "abcd");
    BOOST_TEST(rest == "ef");
}

COSOCK_STREAM_TEST(an_end_that_arrives_with_the_last_bytes_is_read_after_them) {
    auto p = co_await T::make();
    co_await take_a_first_message(p);
    co_await p.client.send("last");
    co_await T::end_writing(p.client);
    co_await cosock_test::turns(20);  // the loop takes in the report of both before any read
    std::array<char, 8> buf{};
    auto n = co_await p.server.recv_into(boost::asio::buffer(buf));  // short: the bytes, not the end
    auto end = co_await recv_or_fail(p.server);  // nothing new comes: the end is found without a report
    BOOST_TEST(std::string(buf.data(), n) == "last");
    BOOST_TEST(end.empty());
}

COSOCK_STREAM_TEST(send_delivers_every_byte_of_a_large_buffer) {
    auto p = co_await T::make();
    std::string big(4 * 1024 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    if constexpr (T::kernel) p.client.set_send_buffer_size(16 * 1024);  // many partial writes
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

COSOCK_STREAM_TEST(read_line_splits_lines_and_keeps_the_rest_buffered) {
    auto p = co_await T::make();
    co_await p.client.send("one\ntwo\r\nthree\nfour");
    co_await T::end_writing(p.client);
    auto one = co_await p.server.read_line();
    auto two = co_await p.server.read_line();
    auto rest = co_await p.server.recv(5);       // buffered bytes come first
    auto empty = co_await p.server.read_line();  // "\n" left after "three"
    auto four = co_await p.server.read_line();   // ends without newline: still a line
    auto after = co_await p.server.read_line();
    BOOST_TEST(one.value() == "one");
    BOOST_TEST(two.value() == "two");
    BOOST_TEST(rest == "three");
    BOOST_TEST(empty.value() == "");
    BOOST_TEST(four.value() == "four");
    BOOST_TEST(!after.has_value());
}

// Asio alone would hang here on a socket: after end of stream it waits for readiness that never
// comes again.
COSOCK_STREAM_TEST(every_read_after_end_of_stream_returns_at_once) {
    auto p = co_await T::make();
    co_await p.client.send("x");
    co_await T::end_writing(p.client);
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

COSOCK_STREAM_TEST(a_line_longer_than_the_maximum_is_an_error_and_loses_nothing) {
    auto p = co_await T::make();
    co_await p.client.send("0123456789abcdef\n");
    std::string message;
    try {
        (void)co_await p.server.read_line(8);
    } catch (const cosock::error& e) {
        message = e.what();
        BOOST_TEST((e.code() == cosock::errc::line_too_long));
    }
    BOOST_TEST(message == fmt::format("read_line from {}: line longer than the maximum", p.client_name));
    auto all = co_await p.server.read_line(100);
    BOOST_TEST(all.value() == "0123456789abcdef");
}

COSOCK_STREAM_TEST(read_until_includes_the_delimiter) {
    auto p = co_await T::make();
    co_await p.client.send("GET / HTTP/1.0\r\n\r\nbody");
    auto head = co_await p.server.read_until("\r\n\r\n");
    auto body = co_await p.server.read_exact(4);
    BOOST_TEST(head == "GET / HTTP/1.0\r\n\r\n");
    BOOST_TEST(body == "body");
}

COSOCK_STREAM_TEST(a_cancelled_read_line_keeps_the_partial_line) {
    auto p = co_await T::make();
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal cancel;
    start_cancellable(p.server.read_line(), cancel, done, error, co_await boost::asio::this_coro::executor);
    co_await p.client.send("abc");
    co_await until_drained(p.server);  // "abc" now sits in the stream's buffer
    cancel.emit(boost::asio::cancellation_type::terminal);
    co_await until(done);
    BOOST_TEST((error && cosock::is_cancellation(error)));
    co_await p.client.send("def\n");
    auto line = co_await p.server.read_line();
    BOOST_TEST(line.value() == "abcdef");
}

COSOCK_STREAM_TEST(read_exact_at_end_of_stream_carries_the_bytes_received) {
    auto p = co_await T::make();
    co_await p.client.send("abc");
    co_await T::end_writing(p.client);
    std::string received, message;
    try {
        (void)co_await p.server.read_exact(10);
    } catch (const cosock::end_of_stream_error& e) {
        received = e.received();
        message = e.what();
    }
    BOOST_TEST(received == "abc");
    BOOST_TEST(message ==
               fmt::format("read_exact from {}: end of stream before all the bytes arrived", p.client_name));
}

COSOCK_STREAM_TEST(a_second_concurrent_read_fails_clearly) {
    auto p = co_await T::make();
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
               fmt::format("recv from {}: another read is already pending on this socket", p.client_name));
    co_await p.client.send("x");  // the first read still works
    co_await until(done);
    BOOST_TEST(!error);
}

COSOCK_STREAM_TEST(a_read_that_times_out_names_the_peer_and_the_stream_stays_usable) {
    auto p = co_await T::make();
    std::string message;
    try {
        (void)co_await cosock::timeout(20ms, p.server.recv(10));
    } catch (const cosock::timeout_error& e) {
        message = e.what();
    }
    BOOST_TEST(message == fmt::format("recv from {}: timed out after 0.02 s", p.client_name));
    co_await p.client.send("late");
    auto late = co_await p.server.recv(10);
    BOOST_TEST(late == "late");
}

COSOCK_STREAM_TEST(destroying_a_stream_with_a_pending_read_is_safe) {
    auto p = co_await T::make();
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    auto server = std::make_optional(std::move(p.server));
    start_cancellable(server->recv(10), unused, done, error, co_await boost::asio::this_coro::executor);
    co_await cosock_test::yield();
    server.reset();  // the read completes with operation_aborted; ASan checks the rest
    co_await until(done);
    BOOST_TEST((error && cosock::is_cancellation(error)));
}

// --- readiness: wait_readable, try_recv_into, try_send (every stream but TLS) ----------------

COSOCK_STREAM_TEST(wait_readable_waits_for_bytes_and_try_recv_into_takes_them) {
    if constexpr (has_readiness<typename T::stream>) {
        auto p = co_await T::make();
        BOOST_TEST(try_read(p.server) == "would block");  // nothing yet: no wait, no error
        bool done = false;
        std::exception_ptr error;
        boost::asio::cancellation_signal unused;
        start_cancellable(p.server.wait_readable(), unused, done, error,
                          co_await boost::asio::this_coro::executor);
        co_await cosock_test::turns(20);
        BOOST_TEST(!done);  // no byte: still waiting
        co_await p.client.send("hello");
        co_await until(done);
        BOOST_TEST(!error);
        BOOST_TEST(try_read(p.server, 3) == "hel");
        co_await p.server.wait_readable();  // "lo" is still there: at once
        BOOST_TEST(try_read(p.server) == "lo");
        BOOST_TEST(try_read(p.server) == "would block");
    } else {
        BOOST_TEST(!has_readiness<typename T::stream>);  // TLS: refused at compile time
    }
}

COSOCK_STREAM_TEST(wait_readable_counts_bytes_that_read_line_buffered) {
    if constexpr (has_readiness<typename T::stream>) {
        auto p = co_await T::make();
        co_await p.client.send("one\ntwo");
        auto one = co_await p.server.read_line();
        std::string two;
        for (int i = 0; i < 100 && two.size() < 3; ++i) {  // "two" may come in pieces (memory: at once)
            co_await p.server.wait_readable();
            auto got = try_read(p.server);
            if (got != "would block") two += got;
        }
        BOOST_TEST(one.value() == "one");
        BOOST_TEST(two == "two");
    } else {
        BOOST_TEST(!has_readiness<typename T::stream>);  // TLS: refused at compile time
    }
}

COSOCK_STREAM_TEST(at_end_of_stream_wait_readable_completes_and_try_recv_into_yields_0) {
    if constexpr (has_readiness<typename T::stream>) {
        auto p = co_await T::make();
        co_await p.client.send("x");
        co_await T::end_writing(p.client);
        co_await p.server.wait_readable();
        BOOST_TEST(try_read(p.server) == "x");
        co_await p.server.wait_readable();
        BOOST_TEST(try_read(p.server) == "end");
        co_await p.server.wait_readable();  // and again, at once
        BOOST_TEST(try_read(p.server) == "end");
        auto after = co_await p.server.recv(10);
        BOOST_TEST(after.empty());
    } else {
        BOOST_TEST(!has_readiness<typename T::stream>);  // TLS: refused at compile time
    }
}

COSOCK_STREAM_TEST(a_cancelled_wait_readable_leaves_the_stream_usable) {
    if constexpr (has_readiness<typename T::stream>) {
        auto p = co_await T::make();
        bool done = false;
        std::exception_ptr error;
        boost::asio::cancellation_signal cancel;
        start_cancellable(p.server.wait_readable(), cancel, done, error,
                          co_await boost::asio::this_coro::executor);
        co_await cosock_test::yield();
        cancel.emit(boost::asio::cancellation_type::terminal);
        co_await until(done);
        BOOST_TEST((error && cosock::is_cancellation(error)));
        co_await p.client.send("after");
        co_await p.server.wait_readable();
        BOOST_TEST(try_read(p.server) == "after");
    } else {
        BOOST_TEST(!has_readiness<typename T::stream>);  // TLS: refused at compile time
    }
}

COSOCK_STREAM_TEST(a_wait_readable_that_times_out_names_the_peer) {
    if constexpr (has_readiness<typename T::stream>) {
        auto p = co_await T::make();
        std::string message;
        try {
            (void)co_await cosock::timeout(20ms, p.server.wait_readable());
        } catch (const cosock::timeout_error& e) {
            message = e.what();
        }
        BOOST_TEST(message == fmt::format("wait_readable from {}: timed out after 0.02 s", p.client_name));
        p.server.set_timeout(20ms);  // the socket's timeout too, and the non-throwing form
        auto [ec, none] = co_await cosock::nothrow(p.server.wait_readable());
        BOOST_TEST((ec == std::errc::timed_out));
        p.server.set_timeout(0s);
        co_await p.client.send("late");
        co_await p.server.wait_readable();
        BOOST_TEST(try_read(p.server) == "late");
    } else {
        BOOST_TEST(!has_readiness<typename T::stream>);  // TLS: refused at compile time
    }
}

COSOCK_STREAM_TEST(try_recv_into_and_wait_readable_keep_the_one_reader_rule) {
    if constexpr (has_readiness<typename T::stream>) {
        auto p = co_await T::make();
        bool done = false;
        std::exception_ptr error;
        boost::asio::cancellation_signal unused;
        start_cancellable(p.server.wait_readable(), unused, done, error,
                          co_await boost::asio::this_coro::executor);
        co_await cosock_test::yield();
        auto busy =
            fmt::format("recv from {}: another read is already pending on this socket", p.client_name);
        BOOST_TEST(what_of<cosock::error>(
                       [&] { return p.server.try_recv_into(boost::asio::mutable_buffer()); }) == busy);
        std::error_code ec;
        auto n = p.server.try_recv_into(boost::asio::mutable_buffer(), ec);
        BOOST_TEST((ec == cosock::errc::concurrent_read));
        BOOST_TEST(!n.has_value());
        auto [wait_ec, none] = co_await cosock::nothrow(p.server.wait_readable());
        BOOST_TEST((wait_ec == cosock::errc::concurrent_read));
        co_await p.client.send("x");  // the first wait still works
        co_await until(done);
        BOOST_TEST(!error);
    } else {
        BOOST_TEST(!has_readiness<typename T::stream>);  // TLS: refused at compile time
    }
}

COSOCK_STREAM_TEST(try_send_takes_what_fits_and_send_delivers_the_rest) {
    if constexpr (has_readiness<typename T::stream>) {
        auto p = co_await T::make();
        if constexpr (T::kernel) p.client.set_send_buffer_size(16 * 1024);
        std::string chunk(64 * 1024, 'x');
        for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>('a' + i % 26);
        std::string sent;
        std::size_t last = chunk.size();
        for (int i = 0; i < 1000 && last == chunk.size(); ++i) {  // the peer reads nothing meanwhile
            last = p.client.try_send(boost::asio::buffer(chunk));
            sent += chunk.substr(0, last);
        }
        BOOST_TEST(last < chunk.size());  // full: it took less, and did not wait
        std::string rest = chunk.substr(last);
        bool done = false;
        std::exception_ptr error;
        boost::asio::cancellation_signal unused;
        start_cancellable(p.client.send(rest), unused, done, error,
                          co_await boost::asio::this_coro::executor);
        co_await cosock_test::yield();
        std::error_code ec;  // a send is pending: refused, in both forms
        auto none = p.client.try_send(boost::asio::buffer(chunk), ec);
        BOOST_TEST((ec == cosock::errc::concurrent_write));
        BOOST_TEST(none == 0u);
        auto busy = what_of<cosock::error>([&] { return p.client.try_send(boost::asio::buffer(chunk)); });
        BOOST_TEST(busy.ends_with(": another send is already pending on this socket"), busy);
        auto got = co_await p.server.read_exact(sent.size() + rest.size());
        co_await until(done);
        BOOST_TEST(!error);
        BOOST_TEST((got == sent + rest));
    } else {
        BOOST_TEST(!has_readiness<typename T::stream>);  // TLS: refused at compile time
    }
}

COSOCK_STREAM_TEST(try_recv_into_reports_a_closed_stream_clearly) {
    if constexpr (has_readiness<typename T::stream>) {
        auto p = co_await T::make();
        p.server.close();
        auto message = what_of<cosock::error>([&] { return try_read(p.server); });
        BOOST_TEST(message == fmt::format("recv from {}: Bad file descriptor", p.client_name));
        auto [ec, none] = co_await cosock::nothrow(p.server.wait_readable());
        BOOST_TEST((ec == boost::asio::error::bad_descriptor));
        cosock::testing::memory_stream gone;
        BOOST_TEST(what_of<cosock::error>([&] { return try_read(gone); }) ==
                   "try_recv_into: socket not open");
    } else {
        BOOST_TEST(!has_readiness<typename T::stream>);  // TLS: refused at compile time
    }
}

// --- the Asio face ------------------------------------------------------------------------------

COSOCK_STREAM_TEST(asio_async_read_takes_the_bytes_read_line_buffered_first) {
    auto p = co_await T::make();
    co_await boost::asio::async_write(p.client, boost::asio::buffer(std::string_view("head\nbody-of-10")),
                                      boost::asio::use_awaitable);
    auto head = co_await p.server.read_line();  // reads ahead: some of the body is buffered
    std::array<char, 10> body{};
    auto n = co_await boost::asio::async_read(p.server, boost::asio::buffer(body),
                                              boost::asio::transfer_exactly(10), boost::asio::use_awaitable);
    BOOST_TEST(head.value() == "head");
    BOOST_TEST(n == 10u);
    BOOST_TEST(std::string(body.data(), n) == "body-of-10");
    co_await T::end_writing(p.client);
    auto [ec, none] = co_await boost::asio::async_read(p.server, boost::asio::buffer(body),
                                                       boost::asio::as_tuple(boost::asio::use_awaitable));
    BOOST_TEST((ec == boost::asio::error::eof));
    BOOST_TEST(none == 0u);
}

COSOCK_STREAM_TEST(a_beast_http_exchange_crosses_the_stream) {
    namespace http = boost::beast::http;
    auto p = co_await T::make();
    http::request<http::string_body> request(http::verb::post, "/echo", 11);
    request.set(http::field::host, "localhost");
    request.body() = "ping";
    request.prepare_payload();
    co_await http::async_write(p.client, request, boost::asio::use_awaitable);

    boost::beast::flat_buffer server_buffer;
    http::request<http::string_body> received;
    co_await http::async_read(p.server, server_buffer, received, boost::asio::use_awaitable);
    http::response<http::string_body> response(http::status::ok, 11);
    response.body() = received.body() + " pong";
    response.prepare_payload();
    co_await http::async_write(p.server, response, boost::asio::use_awaitable);

    boost::beast::flat_buffer client_buffer;
    http::response<http::string_body> answer;
    co_await http::async_read(p.client, client_buffer, answer, boost::asio::use_awaitable);
    BOOST_TEST(std::string(received.target()) == "/echo");
    BOOST_TEST(answer.result_int() == 200u);
    BOOST_TEST(answer.body() == "ping pong");
}

COSOCK_STREAM_TEST(an_operation_awaited_after_its_stream_is_gone_fails_with_not_open) {
    auto p = co_await T::make();
    auto recv = std::optional(p.server.recv(10));  // created while the stream lives
    auto send = std::optional(p.server.send("late"));
    { auto gone = std::move(p.server); }
    std::string recv_error, send_error;
    try {
        (void)co_await std::move(*recv);
    } catch (const cosock::error& e) {
        recv_error = e.what();
        BOOST_TEST((e.code() == cosock::errc::not_open));
    }
    try {
        (void)co_await std::move(*send);
    } catch (const cosock::error& e) {
        send_error = e.what();
        BOOST_TEST((e.code() == cosock::errc::not_open));
    }
    BOOST_TEST(recv_error.starts_with("recv from "), recv_error);
    BOOST_TEST(send_error.starts_with("send to "), send_error);
}

BOOST_AUTO_TEST_SUITE_END()
