// asio_naive_timeout_echo: raw Asio coroutines with the naive read timeout: every read races a
// timer, `co_await (read || timer.async_wait())` (experimental::awaitable_operators), both with
// as_tuple so that a failed read ends the race at once instead of waiting out the timer. A
// connection silent for --timeout S seconds is closed. TCP only: the baseline of the timeout scenario.
// Run: asio_naive_timeout_echo [--host H] [--port 0] --timeout S   Prints: "listening on 127.0.0.1:PORT".
// SPDX-License-Identifier: MIT
#include <chrono>
#include <csignal>
#include <cstddef>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "server_args.hpp"

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using asio::awaitable;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

awaitable<void> echo(tcp::socket socket, std::chrono::steady_clock::duration timeout) {
    char data[64 * 1024];
    asio::steady_timer timer(socket.get_executor());
    for (;;) {
        timer.expires_after(timeout);
        auto result =
            co_await (socket.async_read_some(asio::buffer(data), use_tuple) || timer.async_wait(use_tuple));
        if (result.index() == 1) co_return;  // timed out: close
        auto [ec, n] = std::get<0>(result);
        if (ec) co_return;  // end of stream or error
        auto [write_ec, written] = co_await asio::async_write(socket, asio::buffer(data, n), use_tuple);
        if (write_ec) co_return;
    }
}

awaitable<void> listener(tcp::acceptor acceptor, std::chrono::steady_clock::duration timeout) {
    for (;;) {
        tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
        co_spawn(acceptor.get_executor(), echo(std::move(socket), timeout), asio::detached);
    }
}

int main(int argc, char** argv) {
    auto args = bench::parse_server_args(argc, argv);
    if (args.timeout <= 0) bench::usage_error(argv[0], "--timeout S is required");
    auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(args.timeout));
    asio::io_context context(1);
    asio::signal_set signals(context, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { context.stop(); });
    tcp::acceptor acceptor(context, {asio::ip::make_address(args.host), args.port});
    bench::announce(args.host, acceptor.local_endpoint().port());
    co_spawn(context, listener(std::move(acceptor), timeout), asio::detached);
    context.run();
    return 0;
}
