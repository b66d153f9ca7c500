// asio_hello_server: examples/tcp_hello_server.cpp written with raw Asio coroutines, for
// bench/compile_time.sh only (what a program costs to compile without cosock). Same behaviour:
// --host/--port, "listening on HOST:PORT", one exchange, Ctrl-C ends it with 130.
// Headers as in Asio's own C++20 examples: the ones used, not <boost/asio.hpp>.
// SPDX-License-Identifier: MIT
#include <csignal>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;

asio::awaitable<int> serve(tcp::endpoint at) {
    auto executor = co_await asio::this_coro::executor;
    tcp::acceptor sk(executor, at);  // sk.bind(('127.0.0.1', 8898)); sk.listen()
    auto bound = sk.local_endpoint();
    fmt::print("listening on {}:{}\n", bound.address().to_string(), bound.port());
    std::fflush(stdout);
    auto conn = co_await sk.async_accept(asio::use_awaitable);  // conn, addr = sk.accept()
    std::string ret(1024, '\0');
    auto n = co_await conn.async_read_some(asio::buffer(ret), asio::use_awaitable);
    ret.resize(n);
    fmt::print("{}\n", ret);  // print(ret)
    co_await asio::async_write(conn, asio::buffer(std::string_view("hi")), asio::use_awaitable);
    co_return 0;
}

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned short port = 8898;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view flag = argv[i];
        if (flag == "--host") host = argv[i + 1];
        if (flag == "--port") port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    }
    asio::io_context io;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    int status = 1;
    signals.async_wait([&](auto, int signal) {
        status = 128 + signal;
        io.stop();
    });
    asio::co_spawn(io, serve({asio::ip::make_address(host), port}), [&](std::exception_ptr e, int code) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                fmt::print(stderr, "asio_hello_server: {}\n", x.what());
            }
        } else {
            status = code;
        }
        io.stop();
    });
    io.run();
    return status;
}
