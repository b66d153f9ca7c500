// asio_coro_echo: the raw Asio baseline, in the idiom of Asio's own C++20 coroutine echo example
// (asio/example/cpp20/coroutines/echo_server.cpp): co_spawn per connection, detached,
// async_read_some + async_write with use_awaitable, end of stream as an exception. Also echoes UDP
// datagrams on the same port (async_receive_from + async_send_to).
// Run: asio_coro_echo [--host H] [--port 0]   Prints: "listening on 127.0.0.1:PORT".
// SPDX-License-Identifier: MIT
#include <csignal>
#include <cstddef>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "server_args.hpp"

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using asio::ip::udp;

awaitable<void> echo(tcp::socket socket) {
    try {
        char data[64 * 1024];
        for (;;) {
            std::size_t n = co_await socket.async_read_some(asio::buffer(data), use_awaitable);
            co_await asio::async_write(socket, asio::buffer(data, n), use_awaitable);
        }
    } catch (const std::exception&) {  // end of stream (or a reset): the connection is over
    }
}

awaitable<void> listener(tcp::acceptor acceptor) {
    for (;;) {
        tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
        co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
    }
}

awaitable<void> echo_datagrams(udp::socket socket) {
    char data[64 * 1024];
    udp::endpoint sender;
    for (;;) {
        std::size_t n = co_await socket.async_receive_from(asio::buffer(data), sender, use_awaitable);
        co_await socket.async_send_to(asio::buffer(data, n), sender, use_awaitable);
    }
}

int main(int argc, char** argv) {
    auto args = bench::parse_server_args(argc, argv);
    asio::io_context context(1);
    asio::signal_set signals(context, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { context.stop(); });

    tcp::acceptor acceptor(context, {asio::ip::make_address(args.host), args.port});
    udp::socket udp_socket(context, {asio::ip::make_address(args.host), acceptor.local_endpoint().port()});
    bench::announce(args.host, acceptor.local_endpoint().port());
    co_spawn(context, listener(std::move(acceptor)), asio::detached);
    co_spawn(context, echo_datagrams(std::move(udp_socket)), asio::detached);
    context.run();
    return 0;
}
