// socket_families: walks the blog post's table of socket() parameters, one row per line.
// Python: socket.socket(family=AF_INET, type=SOCK_STREAM, proto=0, fileno=None)   Peer: itself
// Run: socket_families [--host 127.0.0.1] [--port 0]
// Prints one line per row of the table: the family and type, the cosock call, and what went
// over the socket when it talked to itself:
//   AF_INET   SOCK_STREAM  tcp_listener + tcp_stream   127.0.0.1:40123  "ping" -> "ping"
// The raw row (SOCK_RAW, an ICMP echo) needs CAP_NET_RAW: without it the line says so. Exits 0
// when every row worked (or was skipped for lack of privilege), 1 otherwise.
// SPDX-License-Identifier: MIT
#include <unistd.h>
#include <optional>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cosock/cosock.hpp>

#include "support/cli.hpp"

namespace {

// One row: what it is, and what happened ("-> ..." or the error).
void print_row(std::string_view family, std::string_view type, std::string_view call,
               std::string_view result) {
    fmt::print("{:<9} {:<12} {:<30} {}\n", family, type, call, result);
}

// AF_INET / AF_INET6, SOCK_STREAM: a listener, a client, one message each way.
cosock::task<std::string> stream_row(cosock::address at) {
    auto sk = cosock::tcp_listener::bind(at);                                // sk.bind(addr); sk.listen()
    auto client = co_await cosock::tcp_stream::connect(sk.local_address());  // client.connect(addr)
    auto [conn, addr] = co_await sk.accept();                                // conn, addr = sk.accept()
    co_await client.send("ping");
    co_await conn.send(co_await conn.recv(1024));  // echo
    co_return fmt::format("{}  \"ping\" -> \"{}\"", sk.local_address(), co_await client.recv(1024));
}

// AF_INET / AF_INET6, SOCK_DGRAM: one datagram to itself.
cosock::task<std::string> datagram_row(cosock::address at) {
    auto sk = cosock::udp_endpoint::bind(at);         // sk = socket(type=SOCK_DGRAM); sk.bind(addr)
    co_await sk.send_to("ping", sk.local_address());  // sk.sendto(b'ping', addr)
    auto [msg, from] = co_await cosock::timeout(std::chrono::seconds(2), sk.recv_from(1024));
    co_return fmt::format("{}  \"ping\" -> \"{}\" from {}", sk.local_address(), msg, from);
}

// AF_UNIX, SOCK_STREAM: a listener on an abstract name (no file to clean up).
cosock::task<std::string> unix_stream_row(std::string name) {
    auto sk = cosock::unix_listener::bind(name);
    auto client = co_await cosock::unix_stream::connect(name);
    auto [conn, peer] = co_await sk.accept();
    co_await client.send("ping");
    co_await conn.send(co_await conn.recv(1024));
    auto cred = conn.credentials();
    co_return fmt::format("{}  \"ping\" -> \"{}\" (peer pid {})", sk.path(), co_await client.recv(1024),
                          cred.pid);
}

// AF_UNIX, SOCK_DGRAM: a connected pair (socket.socketpair(AF_UNIX, SOCK_DGRAM)).
cosock::task<std::string> unix_datagram_row() {
    auto [a, b] = cosock::unix_datagram::pair();
    co_await a.send("ping");
    co_return fmt::format("socketpair  \"ping\" -> \"{}\"", co_await b.recv(1024));
}

// fileno=: a descriptor made the C way, adopted by cosock, which asks the kernel what it is.
cosock::task<std::string> fileno_row(cosock::address at) {
    auto d = cosock::socket(AF_INET, SOCK_DGRAM);  // socket.socket(AF_INET, SOCK_DGRAM)
    int fd = d.get();
    auto kind = d.kind();
    auto sk = cosock::udp_endpoint::from_fd(d.release());  // socket.socket(fileno=fd)
    auto target = cosock::udp_endpoint::bind(at);
    co_await sk.send_to("ping", target.local_address());
    auto [msg, from] = co_await cosock::timeout(std::chrono::seconds(2), target.recv_from(1024));
    co_return fmt::format("fd {} is ({})  \"ping\" -> \"{}\"", fd, kind.to_string(), msg);
}

// SOCK_RAW: an ICMP echo to itself, which only a privileged process may send.
cosock::task<std::string> raw_row(cosock::address at) {
    std::optional<cosock::icmp_socket> sk;
    try {
        sk = cosock::icmp_socket::open();  // socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
    } catch (const cosock::error& e) {
        if (e.code() != std::errc::operation_not_permitted) throw;
        co_return "skipped: needs CAP_NET_RAW (run as root, or setcap cap_net_raw+ep)";
    }
    auto rtt = co_await cosock::timeout(std::chrono::seconds(2), sk->ping(at, 1));
    co_return fmt::format("{} icmp_seq=1 time={:.2f} ms", at.host(),
                          std::chrono::duration<double, std::milli>(rtt).count());
}

cosock::task<int> walk(examples::options opt) {
    int failures = 0;
    auto row = [&](std::string_view family, std::string_view type, std::string_view call,
                   auto make) -> cosock::task<void> {
        try {
            print_row(family, type, call, co_await make());
        } catch (const std::exception& e) {
            print_row(family, type, call, fmt::format("FAILED: {}", e.what()));
            ++failures;
        }
    };
    auto v4 = opt.address;
    cosock::address v6{"::1", opt.address.port()};
    auto name = fmt::format("@cosock-families-{}", ::getpid());
    co_await row("AF_INET", "SOCK_STREAM", "tcp_listener + tcp_stream", [&] { return stream_row(v4); });
    co_await row("AF_INET6", "SOCK_STREAM", "tcp_listener + tcp_stream", [&] { return stream_row(v6); });
    co_await row("AF_INET", "SOCK_DGRAM", "udp_endpoint", [&] { return datagram_row(v4); });
    co_await row("AF_INET6", "SOCK_DGRAM", "udp_endpoint", [&] { return datagram_row(v6); });
    co_await row("AF_UNIX", "SOCK_STREAM", "unix_listener + unix_stream",
                 [&] { return unix_stream_row(name); });
    co_await row("AF_UNIX", "SOCK_DGRAM", "unix_datagram::pair", [] { return unix_datagram_row(); });
    co_await row("fileno=", "SOCK_DGRAM", "socket + udp_endpoint::from_fd", [&] { return fileno_row(v4); });
    co_await row("AF_INET", "SOCK_RAW", "icmp_socket::ping", [&] { return raw_row(v4); });
    co_return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    return cosock::run(
        walk(examples::parse(argc, argv, {.about = "the socket() table, row by row", .port = 0})));
}
