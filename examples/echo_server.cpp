// echo_server: TCP and UDP echo on one port, one event loop per thread; cosock's server in bench/.
// Python: none in the blog post (the benchmark's program)   Peer: bench/loadgen, or `nc 127.0.0.1 PORT`
// Run: echo_server [--host H] [--port 0] [--threads N] [--timeout S] [--unix PATH] [--tls CERT KEY]
//      [--mmsg]
// Prints: "listening on 127.0.0.1:PORT", then sends every TCP byte and every UDP datagram back.
// An idle connection holds no buffer (wait_readable, then try_recv_into into the loop's buffer).
// --tls CERT KEY speaks TLS on each TCP connection (certificate chain and key: PEM files); the
// echo is the same, UDP stays plain. A client that fails its handshake fails alone.
// --unix PATH echoes over a Unix-domain stream socket at PATH ("@name": an abstract name) instead
// of TCP and UDP, and prints "listening on PATH"; the socket file is removed when it stops.
// --threads N runs N event loops, each with its own listener and UDP socket on the port
// (SO_REUSEPORT: the kernel spreads connections and datagrams over them). --timeout S closes a
// TCP connection whose next message takes more than S seconds (every read has a deadline on the
// stream's one lazy timer); UDP has no connection to close, so its receives wait forever.
// --mmsg receives and sends UDP datagrams in batches of up to 32 per system call.
// SIGTERM (asked to stop) closes every connection at once and exits 0; Ctrl-C exits 130.
// SPDX-License-Identifier: MIT
#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <cosock/cosock.hpp>
#include <cosock/tls.hpp>

#include "support/cli.hpp"

namespace asio = boost::asio;

// tag::echo[]
// What a slow peer could not take at once: copied before the first co_await (the loop's buffer
// is another connection's as soon as we wait), sent from a string of this connection's own.
template <class Stream>
cosock::task<void> send_rest(Stream& conn, std::span<const char> bytes) {
    std::string rest(bytes.begin(), bytes.end());
    co_await conn.send(asio::buffer(rest));  // conn.sendall(rest)
}

// Reads in a row without a wait. A wait that finds bytes completes inline, 16 times before the
// loop runs the others, so with 4 a busy connection reads at most 64 x 64 KiB (a few ms) before
// another connection is served.
constexpr int reads_per_wait = 4;

// One connection: every byte goes back, until the peer closes. While it waits it holds no
// buffer: `buf` belongs to the event loop, lent to whichever connection has bytes to read.
template <class Stream>  // cosock::tcp_stream or unix_stream: the same operations
cosock::task<void> echo(Stream conn, std::chrono::steady_clock::duration timeout, std::span<char> buf) {
    conn.set_timeout(timeout);  // conn.settimeout(S); 0: none
    for (;;) {
        co_await conn.wait_readable();  // select([conn], [], [])
        // A read that fills `buf` leaves more behind, most likely: read again without asking
        // (a stream of 64 KiB reads then costs a recv and a send each, no poll), but at most
        // `reads_per_wait` times, so that the other connections get their turn.
        for (int reads = 0; reads < reads_per_wait; ++reads) {
            auto n = conn.try_recv_into(asio::buffer(buf));           // n = conn.recv_into(buf), non-blocking
            if (!n) break;                                            // nothing there after all: wait again
            if (*n == 0) co_return;                                   // end of stream
            auto sent = conn.try_send(asio::buffer(buf.data(), *n));  // before any co_await: buf is ours
            if (sent < *n) {
                co_await send_rest(conn, buf.subspan(sent, *n - sent));
                break;
            }
            if (*n < buf.size()) break;  // a short read took all there was
        }
    }
}

// --tls: the handshake first (under the same timeout: a client that stalls in it goes), then the
// echo. A TLS socket being readable does not mean decrypted bytes are (tls_stream has no
// wait_readable), so each TLS connection reads into a buffer of its own.
cosock::task<void> echo_tls(cosock::tcp_stream conn, cosock::tls_context tls,
                            std::chrono::steady_clock::duration timeout) {
    conn.set_timeout(timeout);
    auto secure = co_await cosock::tls_stream::accept(std::move(conn), std::move(tls));
    std::array<char, 64 * 1024> buf;                               // buf = bytearray(65536), not zeroed
    while (auto n = co_await secure.recv_into(asio::buffer(buf)))  // while n := conn.recv_into(buf):
        co_await secure.send(asio::buffer(buf.data(), n));         //     conn.sendall(buf[:n])
    co_await secure.shutdown();                                    // close_notify: a clean end
}

// Every datagram goes back to its sender; one that cannot go back is dropped, as UDP drops.
cosock::task<void> echo_datagrams(cosock::udp_endpoint sk) {
    std::array<char, 64 * 1024> buf;  // the largest datagram fits: nothing is truncated
    for (;;) {
        auto got = co_await sk.recv_from_into(asio::buffer(buf));  // n, addr = sk.recvfrom_into(buf)
        co_await cosock::nothrow(sk.send_to(asio::buffer(buf.data(), got.size), got.sender));
    }
}

// --mmsg: the same, a batch of datagrams per system call (recvmmsg, sendmmsg).
cosock::task<void> echo_datagram_batches(cosock::udp_endpoint sk) {
    constexpr std::size_t batch = 32, largest = 64 * 1024;                 // no datagram is truncated
    auto bytes = std::make_unique_for_overwrite<char[]>(batch * largest);  // untouched pages cost nothing
    std::array<cosock::datagram_slot, batch> slots;
    for (std::size_t i = 0; i < batch; ++i)
        slots[i].buffer = asio::buffer(bytes.get() + i * largest, largest);
    std::array<cosock::outgoing_datagram, batch> replies;
    for (;;) {
        auto n = co_await sk.recv_many_into(slots);  // 1 to 32 datagrams, each with its sender
        for (std::size_t i = 0; i < n; ++i)
            replies[i] = {asio::buffer(slots[i].buffer.data(), slots[i].info.size), slots[i].info.sender};
        for (auto rest = std::span(replies).first(n); !rest.empty();) {  // one that cannot go is dropped
            auto [ec, sent] = co_await cosock::nothrow(sk.send_many(rest));
            rest = rest.subspan(std::min(rest.size(), sent + (ec ? 1 : 0)));
        }
    }
}

// One event loop: a listener and a UDP socket on the same port, and the one buffer its
// connections share. `bound(address)` hears the port (port 0 becomes a real one), where the first
// loop starts the others.
cosock::task<int> serve(examples::options opt, std::optional<cosock::tls_context> tls, bool shared, bool mmsg,
                        std::function<void(cosock::address)> bound) {
    auto sk = cosock::tcp_listener::bind(opt.address, {.reuse_port = shared});
    auto udp = cosock::udp_endpoint::bind(sk.local_address(), {.reuse_port = shared});
    bound(sk.local_address());
    auto timeout = examples::seconds(opt.timeout);
    auto buf = std::make_unique_for_overwrite<char[]>(64 * 1024);  // lent to each connection in turn
    cosock::serve_options stop;
    stop.grace = std::chrono::seconds(0);  // asked to stop: no echo is worth waiting for
    cosock::task_scope both;               // an error in one ends the other
    both.spawn(sk.serve(
        [timeout, tls, shared_buf = std::span(buf.get(), 64 * 1024)](cosock::tcp_stream conn,
                                                                     cosock::address) {
            return tls ? echo_tls(std::move(conn), *tls, timeout)
                       : echo(std::move(conn), timeout, shared_buf);
        },
        stop));
    both.spawn(mmsg ? echo_datagram_batches(std::move(udp)) : echo_datagrams(std::move(udp)));
    co_await both.join();
    co_return 0;
}
// end::echo[]

// --unix PATH: one event loop, one Unix-domain listener.
cosock::task<int> serve_unix(std::string path, std::chrono::steady_clock::duration timeout) {
    auto sk = cosock::unix_listener::bind(path);
    fmt::print("listening on {}\n", sk.path());
    std::fflush(stdout);
    auto buf = std::make_unique_for_overwrite<char[]>(64 * 1024);
    cosock::unix_serve_options stop;
    stop.grace = std::chrono::seconds(0);
    co_await sk.serve(
        [timeout, shared_buf = std::span(buf.get(), 64 * 1024)](cosock::unix_stream conn, std::string) {
            return echo(std::move(conn), timeout, shared_buf);
        },
        stop);
    co_return 0;
}

// A flag with `count` values that examples::parse does not know ("--threads N"), taken out of argv.
std::optional<std::vector<std::string>> take_flag(int& argc, char** argv, std::string_view flag,
                                                  int count = 1) {
    std::optional<std::vector<std::string>> values;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) != flag) continue;
        if (i + count >= argc) {
            fmt::print(stderr, "echo_server: {} needs {} value{} (see --help)\n", flag, count,
                       count > 1 ? "s" : "");
            std::exit(2);
        }
        values.emplace(argv + i + 1, argv + i + 1 + count);
        for (int j = i; j + count + 1 <= argc; ++j) argv[j] = argv[j + count + 1];
        argc -= count + 1;
        --i;
    }
    return values;
}

/// --threads N: a number from 1 to 256.
int take_threads(int& argc, char** argv) {
    auto value = take_flag(argc, argv, "--threads");
    if (!value) return 1;
    auto& text = value->front();
    char* end = nullptr;
    long threads = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || threads < 1 || threads > 256) {
        fmt::print(stderr, "echo_server: --threads needs a number from 1 to 256, not \"{}\" (see --help)\n",
                   text);
        std::exit(2);
    }
    return static_cast<int>(threads);
}

int main(int argc, char** argv) {
    int threads = take_threads(argc, argv);
    auto unix_path = take_flag(argc, argv, "--unix");
    auto tls_files = take_flag(argc, argv, "--tls", 2);
    bool mmsg = take_flag(argc, argv, "--mmsg", 0).has_value();
    auto opt = examples::parse(argc, argv,
                               {.about = "TCP and UDP echo on one port; --threads N: N event loops; "
                                         "--unix PATH: echo on a Unix-domain socket instead; "
                                         "--tls CERT KEY: TLS on each TCP connection; "
                                         "--mmsg: UDP in batches (recvmmsg, sendmmsg)",
                                .timeout = 0.0});
    auto stopped_cleanly = [](int code) { return code == 128 + SIGTERM ? 0 : code; };  // asked to stop: 0
    if (unix_path)
        return stopped_cleanly(cosock::run(serve_unix(unix_path->front(), examples::seconds(opt.timeout))));
    std::optional<cosock::tls_context> tls;
    if (tls_files) {
        try {
            tls = cosock::tls_context::server((*tls_files)[0], (*tls_files)[1]);
        } catch (const cosock::error& e) {
            fmt::print(stderr, "echo_server: {}\n", e.what());
            return 1;
        }
    }
    // --threads N: N event loops, one per thread, each with its own listener on the port (reuse_port:
    // the kernel spreads the clients). Loop 0 binds first, so port 0 becomes a real one that the
    // others then bind. A signal stops every loop; one that fails stops the others.
    int code = cosock::run_parallel(threads, [&](int index) {
        return serve(opt, tls, threads > 1, mmsg, [&, index](cosock::address bound) {
            if (index != 0) return;
            opt.address = bound;  // what loops 1..N-1 bind: they start after loop 0 waits
            examples::announce(bound);
        });
    });
    return stopped_cleanly(code);
}
