// tests/unit/tls_test.cpp — tests for cosock/tls.hpp over loopback, with certificates made by the
// test itself (support/test_certificates.hpp). The stream operations over TLS are in stream_test.cpp.
// SPDX-License-Identifier: MIT
#include <cosock/tls.hpp>

#include <array>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "support/co_test.hpp"
#include "support/test_certificates.hpp"

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

using cosock_test::certificates;

cosock::tls_context server_context() {
    return cosock::tls_context::server(certificates().server_chain, certificates().server_key);
}

cosock::tls_context trusting_client() {
    auto context = cosock::tls_context::client();
    context.load_verify_file(certificates().ca);
    return context;
}

std::string what(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& error) {
        return error.what();
    }
}

/// What a coroutine threw, or "" when it did not.
template <class T>
cosock::task<std::string> error_of(cosock::task<T> body) {
    try {
        (void)co_await std::move(body);
    } catch (...) {
        co_return what(std::current_exception());
    }
    co_return "";
}

cosock::task<cosock::tls_stream> accept_one(cosock::tcp_listener& listener, cosock::tls_context context) {
    auto [conn, peer] = co_await listener.accept();
    co_return co_await cosock::tls_stream::accept(std::move(conn), std::move(context));
}

/// The server side of the serve test: TLS over the accepted connection, then one echoed line.
cosock::task<void> tls_echo(cosock::tcp_stream conn, cosock::tls_context context) {
    // A client that stalls mid-handshake fails, alone. Real time (TLS over the kernel's TCP): the
    // honest clients' handshakes must fit, so the limit is scaled by the slow factor.
    conn.set_timeout(std::chrono::ceil<std::chrono::milliseconds>(cosock_test::scaled(200ms)));
    auto tls = co_await cosock::tls_stream::accept(std::move(conn), std::move(context));
    auto line = co_await tls.read_line();
    co_await tls.send("echo:" + line.value_or("") + "\n");
    co_await tls.shutdown();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls)

BOOST_AUTO_TEST_CASE(a_missing_file_and_a_key_that_does_not_match_are_clear_errors) {
    auto& files = certificates();
    auto missing = (files.folder / "missing.pem").string();
    BOOST_CHECK_EXCEPTION(
        cosock::tls_context::server(missing, files.server_key), cosock::error, [&](const cosock::error& e) {
            return e.what() == "load certificate chain from " + missing + ": No such file or directory";
        });
    BOOST_CHECK_EXCEPTION(cosock::tls_context::server(files.server_chain, files.other_key.string()),
                          cosock::error, [&](const cosock::error& e) {
                              return e.what() == "load private key from " + files.other_key.string() +
                                                     ": it does not match the certificate";
                          });
    BOOST_CHECK_EXCEPTION(cosock::tls_context::server(files.server_key, files.server_key), cosock::error,
                          [&](const cosock::error& e) {
                              BOOST_TEST_MESSAGE(e.what());
                              return std::string(e.what()).starts_with("load certificate chain from " +
                                                                       files.server_key.string() + ": ");
                          });
    auto client = cosock::tls_context::client();
    BOOST_CHECK_THROW(client.load_verify_file(missing), cosock::error);
    BOOST_CHECK_THROW(client.set_alpn({""}), cosock::error);
}

COSOCK_CO_TEST(a_certificate_for_another_name_fails_the_handshake_with_one_clear_line) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto to = listener.local_address();
    auto [client, server] =
        co_await (error_of(cosock::tls_stream::connect(to, trusting_client(), "wrong.example")) &&
                  error_of(accept_one(listener, server_context())));
    BOOST_TEST(client ==
               fmt::format("TLS handshake with {}: certificate verify failed (hostname mismatch)", to));
    BOOST_TEST(!server.empty());  // the client's alert ends the server's handshake too
}

COSOCK_CO_TEST(a_certificate_for_another_address_fails_the_handshake) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto to = listener.local_address();
    auto [client, server] =
        co_await (error_of(cosock::tls_stream::connect(to, trusting_client(), "127.0.0.2")) &&
                  error_of(accept_one(listener, server_context())));
    BOOST_TEST(client ==
               fmt::format("TLS handshake with {}: certificate verify failed (IP address mismatch)", to));
}

COSOCK_CO_TEST(an_untrusted_certificate_fails_the_handshake) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto to = listener.local_address();
    auto [client, server] =
        co_await (error_of(cosock::tls_stream::connect(to, cosock::tls_context::client())) &&
                  error_of(accept_one(listener, server_context())));
    BOOST_TEST(client.starts_with(fmt::format("TLS handshake with {}: certificate verify failed (", to)));
}

COSOCK_CO_TEST(without_verification_any_certificate_is_accepted) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto insecure = cosock::tls_context::client();
    insecure.set_verify_peer(false);
    auto [client, server] =
        co_await (cosock::tls_stream::connect(listener.local_address(), insecure, "wrong.example") &&
                  accept_one(listener, server_context()));
    co_await client.send("ok");
    auto got = co_await server.recv(10);
    BOOST_TEST(got == "ok");
}

COSOCK_CO_TEST(alpn_agrees_on_the_servers_first_choice_that_the_client_offers) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto client_context = trusting_client();
    client_context.set_alpn({"h2", "http/1.1"});
    auto server_ctx = server_context();
    server_ctx.set_alpn({"http/1.1", "h2"});
    auto [client, server] = co_await (cosock::tls_stream::connect(listener.local_address(), client_context) &&
                                      accept_one(listener, server_ctx));
    BOOST_TEST(client.alpn_protocol() == "http/1.1");
    BOOST_TEST(server.alpn_protocol() == "http/1.1");

    auto other = server_context();
    other.set_alpn({"imap"});
    auto [c2, s2] = co_await (cosock::tls_stream::connect(listener.local_address(), client_context) &&
                              accept_one(listener, other));
    BOOST_TEST(c2.alpn_protocol() == "");  // nothing in common: no protocol, no failure
}

COSOCK_CO_TEST(shutdown_sends_close_notify_and_the_other_direction_still_works) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto [client, server] =
        co_await (cosock::tls_stream::connect(listener.local_address(), trusting_client()) &&
                  accept_one(listener, server_context()));
    co_await server.send("last words");
    co_await server.shutdown();  // returns at once: the client reads nothing yet
    auto words = co_await client.recv(100);
    auto end = co_await client.recv(100);
    co_await client.send("still here");
    auto reply = co_await server.recv(100);
    co_await client.shutdown();
    auto server_end = co_await server.recv(100);
    BOOST_TEST(words == "last words");
    BOOST_TEST(end.empty());  // close_notify: a clean end of stream
    BOOST_TEST(reply == "still here");
    BOOST_TEST(server_end.empty());
    BOOST_CHECK_THROW(co_await server.send("more"), cosock::error);
}

COSOCK_CO_TEST(shutdown_while_a_read_is_pending_fails_clearly) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto [client, server] =
        co_await (cosock::tls_stream::connect(listener.local_address(), trusting_client()) &&
                  accept_one(listener, server_context()));
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    cosock_test::start_cancellable(server.recv(10), unused, done, error,
                                   co_await boost::asio::this_coro::executor);
    co_await cosock_test::yield();
    std::string message;
    try {
        co_await server.shutdown();
    } catch (const cosock::error& e) {
        message = e.what();
    }
    BOOST_TEST(message == fmt::format("TLS shutdown with {}: another read is already pending on this socket",
                                      client.local_address()));
    co_await client.send("x");  // the read is unharmed
    co_await cosock_test::until(done);
    BOOST_TEST(!error);
}

COSOCK_CO_TEST(a_peer_gone_without_close_notify_is_a_truncated_stream) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto [client, server] =
        co_await (cosock::tls_stream::connect(listener.local_address(), trusting_client()) &&
                  accept_one(listener, server_context()));
    auto server_address = server.local_address();
    server.close();
    std::string message;
    try {
        (void)co_await client.recv(10);
    } catch (const cosock::error& e) {
        message = e.what();
        BOOST_TEST((e.code() == std::error_code(boost::asio::ssl::error::make_error_code(
                                    boost::asio::ssl::error::stream_truncated))));
    }
    BOOST_TEST(message == fmt::format("recv from {}: stream truncated", server_address));
}

// A plaintext client, a client that stalls mid-handshake and a truncated record each fail their
// own connection; the server goes on serving TLS clients.
COSOCK_CO_TEST(bad_clients_fail_their_own_connection_and_the_server_keeps_serving) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto at = listener.local_address();
    auto context = server_context();
    std::vector<std::string> errors;
    bool three_errors = false;
    cosock::serve_options options;
    options.grace = 50ms;
    options.on_error = [&](const cosock::address&, std::exception_ptr e) {
        errors.push_back(what(e));
        three_errors = errors.size() == 3;
    };
    bool served = false;
    boost::asio::cancellation_signal stop;
    // The executor first: g++ 12 destroys a temporary twice (here the handler, with its context)
    // in a full-expression that also holds a co_await.
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(
        executor,
        listener.serve([context](cosock::tcp_stream conn,
                                 cosock::address) { return tls_echo(std::move(conn), context); },
                       options),
        boost::asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr) { served = true; }));

    auto stalled = co_await cosock::tcp_stream::connect(at);  // says nothing
    auto plaintext = co_await cosock::tcp_stream::connect(at);
    co_await plaintext.send("GET / HTTP/1.0\r\n\r\n");
    auto truncated = co_await cosock::tls_stream::connect(at, trusting_client());
    // An application-data record header announcing 32 bytes, then 3 of them, then the end.
    co_await boost::asio::async_write(truncated.asio_socket().next_layer(),
                                      boost::asio::buffer(std::string_view("\x17\x03\x03\x00\x20"
                                                                           "abc",
                                                                           8)),
                                      boost::asio::use_awaitable);
    truncated.asio_socket().next_layer().shutdown(boost::asio::socket_base::shutdown_send);

    auto good = co_await cosock::tls_stream::connect(at, trusting_client());
    co_await good.send("hello\n");
    auto reply = co_await good.read_line();
    BOOST_TEST(reply.value() == "echo:hello");

    co_await cosock_test::wait_until(three_errors);
    std::sort(errors.begin(), errors.end());
    for (auto& e : errors) BOOST_TEST_MESSAGE(e);
    BOOST_TEST(errors.size() == 3u);
    auto has = [&](const std::string& start, const std::string& end) {
        return std::any_of(errors.begin(), errors.end(),
                           [&](const std::string& e) { return e.starts_with(start) && e.ends_with(end); });
    };
    BOOST_TEST(std::any_of(errors.begin(), errors.end(), [](const std::string& e) {  // stalled
        return e.starts_with("TLS handshake with 127.0.0.1:") &&
               e.find(": timed out after ") != std::string::npos;
    }));
    BOOST_TEST(has("TLS handshake with 127.0.0.1:", ": http request"));  // plaintext HTTP
    BOOST_TEST(has("read_line from 127.0.0.1:", ": stream truncated"));  // truncated record
    stop.emit(boost::asio::cancellation_type::terminal);
    co_await cosock_test::wait_until(served);  // serve may give its connections their grace: real time
}

BOOST_AUTO_TEST_SUITE_END()
