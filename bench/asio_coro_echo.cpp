// asio_coro_echo: the raw Asio baseline, in the idiom of Asio's own C++20 coroutine echo example
// (asio/example/cpp20/coroutines/echo_server.cpp): co_spawn per connection, detached,
// async_read_some + async_write with use_awaitable, end of stream as an exception. Also echoes UDP
// datagrams on the same port (async_receive_from + async_send_to). --threads N: N io_contexts, one
// per thread, each with its own acceptor and UDP socket on the port (SO_REUSEPORT), the same shape
// as cosock::run_parallel.
// Run: asio_coro_echo [--host H] [--port 0] [--threads N]   Prints: "listening on 127.0.0.1:PORT".
// SPDX-License-Identifier: MIT
#include <csignal>
#include <cstddef>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

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

/// One event loop's sockets on `port` (0: any), with SO_REUSEPORT when several loops share it.
unsigned short open_loop(asio::io_context& context, const bench::server_args& args, unsigned short port) {
    auto address = asio::ip::make_address(args.host);
    tcp::acceptor acceptor(context, tcp::endpoint(address, port).protocol());
    udp::socket udp_socket(context, udp::endpoint(address, port).protocol());
    using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    if (args.threads > 1) {
        acceptor.set_option(reuse_port(true));
        udp_socket.set_option(reuse_port(true));
    }
    acceptor.bind({address, port});
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    udp_socket.bind({address, port});
    co_spawn(context, listener(std::move(acceptor)), asio::detached);
    co_spawn(context, echo_datagrams(std::move(udp_socket)), asio::detached);
    return port;
}

int main(int argc, char** argv) {
    auto args = bench::parse_server_args(argc, argv);
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    for (int i = 0; i < args.threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
    asio::signal_set signals(*contexts[0], SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) {
        for (auto& c : contexts) c->stop();
    });
    unsigned short port = args.port;
    for (auto& c : contexts) port = open_loop(*c, args, port);
    bench::announce(args.host, port);
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts.size(); ++i) threads.emplace_back([&c = *contexts[i]] { c.run(); });
    contexts[0]->run();
    for (auto& t : threads) t.join();
    return 0;
}
