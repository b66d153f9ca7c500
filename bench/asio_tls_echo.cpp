// asio_tls_echo: the raw Asio baseline of the TLS scenario, in the idiom of asio_coro_echo: one
// coroutine per connection, detached, ssl::stream over tcp::socket, async_handshake, then
// async_read_some + async_write with use_awaitable. No UDP.
// Run: asio_tls_echo --tls CERT KEY [--host H] [--port 0]   Prints: "listening on 127.0.0.1:PORT".
// SPDX-License-Identifier: MIT
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "server_args.hpp"

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

awaitable<void> echo(ssl::stream<tcp::socket> stream) {
    try {
        co_await stream.async_handshake(ssl::stream_base::server, use_awaitable);
        char data[64 * 1024];
        for (;;) {
            std::size_t n = co_await stream.async_read_some(asio::buffer(data), use_awaitable);
            co_await asio::async_write(stream, asio::buffer(data, n), use_awaitable);
        }
    } catch (const std::exception&) {  // end of stream, a reset, a failed handshake: it is over
    }
}

awaitable<void> listener(tcp::acceptor acceptor, ssl::context& tls) {
    for (;;) {
        tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
        co_spawn(acceptor.get_executor(), echo(ssl::stream<tcp::socket>(std::move(socket), tls)),
                 asio::detached);
    }
}

int main(int argc, char** argv) {
    // --tls CERT KEY first, then the common flags.
    if (argc < 4 || std::string_view(argv[1]) != "--tls")
        bench::usage_error(argv[0], "--tls CERT KEY comes first");
    ssl::context tls(ssl::context::tls_server);
    tls.use_certificate_chain_file(argv[2]);
    tls.use_private_key_file(argv[3], ssl::context::pem);
    argv[3] = argv[0];
    auto args = bench::parse_server_args(argc - 3, argv + 3);

    asio::io_context context(1);
    asio::signal_set signals(context, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { context.stop(); });
    tcp::acceptor acceptor(context, {asio::ip::make_address(args.host), args.port});
    bench::announce(args.host, acceptor.local_endpoint().port());
    co_spawn(context, listener(std::move(acceptor), tls), asio::detached);
    context.run();
    return 0;
}
