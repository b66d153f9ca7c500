// tls_loadgen: the load generator of the TLS scenario: N TLS connections (Asio's ssl::stream, the
// same client for every server), each sending S bytes and waiting for them back. It speaks the
// protocol of loadgen (see loadgen.cpp) for its pingpong mode:
//   tls_loadgen pingpong --port P [--host H] [--conns N] [--size S] [--duration SEC] [--warmup SEC]
//                        [--count OPS] [--handshake]
// The handshakes are made before the warm-up, so that the measured phase holds round trips only.
// It ends with one line "result ops=N seconds=T bytes=B lost=0"; exit 1 with one line on stderr
// when the server misbehaves. Certificates are not checked: the server is our own, on loopback.
// SPDX-License-Identifier: MIT
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::use_awaitable;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
    std::string host = "127.0.0.1";
    int port = 0;
    int conns = 1;
    std::size_t size = 64;
    double duration = 2;
    double warmup = 0.3;
    long long count = -1;  // -1: no limit
    bool handshake = false;
};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "tls_loadgen: %s\n", what.c_str());
    std::exit(1);
}

options parse(int argc, char** argv) {
    if (argc < 2 || std::string_view(argv[1]) != "pingpong") die("the only mode is pingpong");
    options o;
    for (int i = 2; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--handshake") {
            o.handshake = true;
            continue;
        }
        if (i + 1 >= argc) die(std::string(flag) + " needs a value");
        const char* v = argv[++i];
        if (flag == "--host")
            o.host = v;
        else if (flag == "--port")
            o.port = std::atoi(v);
        else if (flag == "--conns")
            o.conns = std::atoi(v);
        else if (flag == "--size")
            o.size = std::strtoul(v, nullptr, 10);
        else if (flag == "--duration")
            o.duration = std::atof(v);
        else if (flag == "--warmup")
            o.warmup = std::atof(v);
        else if (flag == "--count")
            o.count = std::atoll(v);
        else
            die("unknown option " + std::string(flag));
    }
    if (o.port <= 0 || o.conns < 1 || o.size < 1) die("bad --port, --conns or --size");
    return o;
}

using stream = ssl::stream<tcp::socket>;

// A phase: every connection does round trips while `running`, which the timer (or the count of
// round trips) ends; the phase's time includes the draining of the last round trip of each, so
// every counted one completed inside it.
struct phase {
    explicit phase(asio::io_context& io) : timer(io) {}
    asio::steady_timer timer;
    bool running = true;
    long long ops = 0;
    long long limit = -1;  // -1: none
};

asio::awaitable<void> round_trips(stream& s, phase& p, std::size_t size) {
    std::string out(size, 'x'), in(size, '\0');
    while (p.running) {
        co_await asio::async_write(s, asio::buffer(out), use_awaitable);
        co_await asio::async_read(s, asio::buffer(in), use_awaitable);
        if (in != out) die("the echo differs from what was sent");
        if (++p.ops == p.limit) p.timer.cancel();
    }
}

// Runs one phase of `seconds` (or until `limit` round trips); returns its length in seconds.
double run_phase(asio::io_context& io, std::vector<std::unique_ptr<stream>>& streams, phase& p,
                 double seconds, std::size_t size) {
    auto began = clock_type::now();
    p.timer.expires_after(
        std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds)));
    p.timer.async_wait([&p](auto) { p.running = false; });
    for (auto& s : streams)
        asio::co_spawn(io, round_trips(*s, p, size), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& error) {
                die(std::string("round trip: ") + error.what());
            }
        });
    io.run();
    io.restart();
    return std::chrono::duration<double>(clock_type::now() - began).count();
}

}  // namespace

int main(int argc, char** argv) {
    auto o = parse(argc, argv);
    asio::io_context io(1);
    ssl::context tls(ssl::context::tls_client);
    tls.set_verify_mode(ssl::verify_none);
    std::vector<std::unique_ptr<stream>> streams;
    for (int i = 0; i < o.conns; ++i) streams.push_back(std::make_unique<stream>(io, tls));
    tcp::endpoint server(asio::ip::make_address(o.host), static_cast<unsigned short>(o.port));
    for (auto& s : streams) {
        asio::co_spawn(
            io,
            [&s, server]() -> asio::awaitable<void> {
                co_await s->lowest_layer().async_connect(server, use_awaitable);
                s->lowest_layer().set_option(tcp::no_delay(true));
                co_await s->async_handshake(ssl::stream_base::client, use_awaitable);
            },
            [](std::exception_ptr e) {
                if (e) die("connect and handshake failed");
            });
    }
    io.run();
    io.restart();

    if (o.warmup > 0) {
        phase warm(io);
        run_phase(io, streams, warm, o.warmup, o.size);
    }
    if (o.handshake) {
        std::printf("ready\n");
        std::fflush(stdout);
        std::string line;
        if (!std::getline(std::cin, line)) return 1;
    }
    phase measured(io);
    measured.limit = o.count;
    double seconds = run_phase(io, streams, measured, o.count >= 0 ? 1e6 : o.duration, o.size);
    std::printf("result ops=%lld seconds=%.6f bytes=%lld lost=0\n", measured.ops, seconds,
                measured.ops * static_cast<long long>(o.size) * 2);
    std::fflush(stdout);
    return 0;
}
