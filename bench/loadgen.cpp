// loadgen: the benchmark's load generator. Plain non-blocking sockets and one epoll: no cosock, no
// Asio, so that it measures every server the same way.
//
//   loadgen pingpong --conns N --size S   N TCP connections; each sends S bytes, waits for them back
//   loadgen bulk                          one TCP connection: 64 KiB writes, echo read concurrently
//   loadgen udp --conns N --size S        N UDP sockets, each a ping-pong of S-byte datagrams
//   loadgen churn --conns N               N flows of: connect, send 64 B, read them back, close
//   loadgen idle --conns N                opens N connections, one 64 B echo on each, holds them
//
// Common: --host H --port P, --duration SEC (measured phase), --warmup SEC (first, not counted),
// --count OPS (stop issuing after OPS operations: exact counts for callgrind), --handshake.
// An operation is a round trip (pingpong, udp), 64 KiB echoed (bulk), a connection (churn, idle).
// A phase ends by issuing nothing more and waiting for the operations in flight ("draining"), so
// every counted operation completed inside the phase and the server is idle at its end.
// With --handshake, after the warm-up it prints "ready" and waits for a line on stdin, so that the
// runner can sample the server right before the measured phase. It always ends with one line:
//   result ops=N seconds=T bytes=B lost=L
// and, in idle mode with --handshake, holds the connections until stdin has another line or ends.
// Exit status 1 with one line on stderr when the server misbehaves (wrong echo, stall, refusal).
// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct options {
    std::string mode;
    std::string host = "127.0.0.1";
    int port = 0;
    int conns = 1;
    std::size_t size = 64;
    double duration = 2;
    double warmup = 0.3;
    long long count = -1;  // -1: no limit
    bool handshake = false;
};

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "loadgen: %s: %s\n", what, errno ? std::strerror(errno) : "failed");
    std::exit(1);
}

double now() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

sockaddr_storage server;
socklen_t server_len;
// Connections come from 127.0.0.2 .. 127.0.0.33 in turn when the server is on 127.0.0.1: churn
// opens hundreds of thousands, and one source address has only ~28k ports (TIME_WAIT holds them).
bool rotate_source = false;
unsigned source_index = 0;

void resolve(const options& o) {
    std::memset(&server, 0, sizeof server);
    if (o.host.find(':') != std::string::npos) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&server);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<std::uint16_t>(o.port));
        if (::inet_pton(AF_INET6, o.host.c_str(), &a->sin6_addr) != 1) die("bad host");
        server_len = sizeof(sockaddr_in6);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&server);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<std::uint16_t>(o.port));
        if (::inet_pton(AF_INET, o.host.c_str(), &a->sin_addr) != 1) die("bad host");
        server_len = sizeof(sockaddr_in);
        rotate_source = o.host == "127.0.0.1";
    }
}

/// A non-blocking socket connecting (TCP) or connected (UDP) to the server.
int open_to_server(int type) {
    int fd = ::socket(server.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (type == SOCK_STREAM) {
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (rotate_source) {
            ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            sockaddr_in from{};
            from.sin_family = AF_INET;
            from.sin_addr.s_addr = htonl(0x7f000002u + (source_index++ % 32));
            if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) < 0) die("bind source address");
        }
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&server), server_len) < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

int epfd;

void watch(int op, int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(epfd, op, fd, &ev) < 0) die("epoll_ctl");
}

// --- TCP request/response flows: pingpong, churn, idle ----------------------------------------

// open: connected, nothing in flight (pingpong between phases); held: idle mode's end state.
enum class state { connecting, sending, receiving, open, held, closed };

struct flow {
    int fd = -1;
    state st = state::closed;
    std::size_t done = 0;  // bytes of the current message sent, then received
    double started = 0;    // when the current operation began (stall detection)
};

struct engine {
    options o;
    std::vector<flow> flows;
    std::vector<char> message, reply;
    bool issuing = false;       // new operations may start
    long long issued = 0;       // operations started in this phase
    long long completed = 0;    // operations finished in this phase
    long long outstanding = 0;  // operations in flight
    std::uint64_t bytes = 0;    // payload bytes received in this phase
    std::size_t next = 0;       // idle mode: the next flow to open

    bool may_issue() { return issuing && (o.count < 0 || issued < o.count); }

    void begin(std::size_t i) {  // starts an operation on flow i (connecting first for churn/idle)
        auto& f = flows[i];
        ++issued;
        ++outstanding;
        f.started = now();
        f.done = 0;
        if (f.fd < 0) {
            f.fd = open_to_server(SOCK_STREAM);
            f.st = state::connecting;
            watch(EPOLL_CTL_ADD, f.fd, EPOLLOUT, i);
            return;
        }
        f.st = state::sending;
        send_some(i);
    }

    void send_some(std::size_t i) {
        auto& f = flows[i];
        while (f.done < o.size) {
            ssize_t n = ::send(f.fd, message.data() + f.done, o.size - f.done, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno != EAGAIN) die("send");
                watch(EPOLL_CTL_MOD, f.fd, EPOLLOUT, i);
                return;
            }
            f.done += static_cast<std::size_t>(n);
        }
        f.st = state::receiving;
        f.done = 0;
        watch(EPOLL_CTL_MOD, f.fd, EPOLLIN, i);
    }

    void finish(std::size_t i) {  // the whole echo arrived
        auto& f = flows[i];
        ++completed;
        --outstanding;
        bytes += o.size;
        if (o.mode == "idle") {
            f.st = state::held;
            watch(EPOLL_CTL_DEL, f.fd, 0, i);
            if (next < flows.size() && may_issue()) begin(next++);
            return;
        }
        f.st = state::open;
        if (o.mode == "churn") {
            ::close(f.fd);  // we close first: TIME_WAIT stays on our side, as for real clients
            f.fd = -1;
            f.st = state::closed;
        }
        if (may_issue()) begin(i);
    }

    void on_event(std::size_t i, std::uint32_t events) {
        auto& f = flows[i];
        if (f.st == state::connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(f.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                errno = err;
                die("connect");
            }
            f.st = state::sending;
            send_some(i);
        } else if (f.st == state::sending) {
            send_some(i);
        } else if (f.st == state::receiving) {
            ssize_t n = ::recv(f.fd, reply.data() + f.done, o.size - f.done, 0);
            if (n < 0 && errno == EAGAIN) return;
            if (n < 0) die("recv");
            if (n == 0) {
                errno = 0;
                die("server closed a connection");
            }
            f.done += static_cast<std::size_t>(n);
            if (f.done == o.size) {
                if (std::memcmp(reply.data(), message.data(), o.size) != 0) {
                    errno = 0;
                    die("wrong echo");
                }
                finish(i);
            }
        }
        (void)events;
    }

    /// Runs until `until` (or `count` operations), then drains. Returns the phase's seconds.
    double phase(double seconds) {
        issued = completed = 0;
        bytes = 0;
        double start = now();
        double until = start + seconds;
        issuing = true;
        // Idle mode opens at most 200 at a time, the rest as those complete: the server's accept
        // queue (SOMAXCONN) would overflow, and the kernel would retry the dropped SYNs after 1 s.
        next = o.mode == "idle" ? std::min<std::size_t>(flows.size(), 200) : flows.size();
        for (std::size_t i = 0; i < next && may_issue(); ++i)
            if (flows[i].st != state::held) begin(i);
        std::vector<epoll_event> events(512);
        double drain_deadline = 0;
        while (outstanding > 0 || (issuing && may_issue())) {
            double t = now();
            if (issuing && (t >= until || !may_issue())) {
                issuing = false;
                drain_deadline = t + 10;
            }
            if (!issuing && t > drain_deadline) {
                errno = 0;
                die("server stalled: operations still in flight 10 s after the phase");
            }
            int wait_ms = issuing ? static_cast<int>(std::max(0.0, until - t) * 1000) + 1 : 100;
            int n =
                ::epoll_wait(epfd, events.data(), static_cast<int>(events.size()), std::min(wait_ms, 100));
            if (n < 0 && errno != EINTR) die("epoll_wait");
            for (int k = 0; k < n; ++k) on_event(events[k].data.u64, events[k].events);
            if (n == 0 && outstanding > 0) {
                for (auto& f : flows)  // nothing at all for 5 s on a flow that waits: a stall
                    if ((f.st == state::receiving || f.st == state::connecting) && now() - f.started > 5) {
                        errno = 0;
                        die("server stalled: no echo for 5 s");
                    }
            }
            if (outstanding == 0 && !may_issue()) break;
        }
        return now() - start;
    }
};

// --- UDP ping-pong --------------------------------------------------------------------------

struct udp_engine {
    options o;
    std::vector<int> fds;
    std::vector<double> sent_at;  // 0: nothing in flight on that socket
    std::vector<char> message, reply;
    long long issued = 0, completed = 0, outstanding = 0, lost = 0;
    std::uint64_t bytes = 0;
    bool issuing = false;

    bool may_issue() { return issuing && (o.count < 0 || issued < o.count); }

    void send_one(std::size_t i) {
        ssize_t n = ::send(fds[i], message.data(), o.size, 0);
        if (n < 0 && errno != EAGAIN && errno != ECONNREFUSED) die("send");
        sent_at[i] = now();
    }
    void begin(std::size_t i) {
        ++issued;
        ++outstanding;
        send_one(i);
    }

    double phase(double seconds) {
        issued = completed = lost = 0;
        bytes = 0;
        double start = now(), until = start + seconds;
        issuing = true;
        for (std::size_t i = 0; i < fds.size() && may_issue(); ++i) begin(i);
        epoll_event events[64];
        while (outstanding > 0) {
            double t = now();
            if (issuing && (t >= until || !may_issue())) issuing = false;
            int n = ::epoll_wait(epfd, events, 64, 20);
            if (n < 0 && errno != EINTR) die("epoll_wait");
            for (int k = 0; k < n; ++k) {
                auto i = events[k].data.u64;
                ssize_t got = ::recv(fds[i], reply.data(), reply.size(), 0);
                if (got < 0) {
                    if (errno == EAGAIN || errno == ECONNREFUSED) continue;
                    die("recv");
                }
                if (sent_at[i] == 0) continue;  // a late duplicate of a datagram given up on
                if (static_cast<std::size_t>(got) != o.size ||
                    std::memcmp(reply.data(), message.data(), o.size)) {
                    errno = 0;
                    die("wrong echo");
                }
                sent_at[i] = 0;
                ++completed;
                --outstanding;
                bytes += o.size;
                if (may_issue()) begin(i);
            }
            t = now();
            for (std::size_t i = 0; i < fds.size(); ++i) {
                if (sent_at[i] != 0 && t - sent_at[i] > 0.2) {  // lost (UDP may drop): give up on it
                    ++lost;
                    --outstanding;
                    sent_at[i] = 0;
                    if (lost > 1000) {
                        errno = 0;
                        die("server lost more than 1000 datagrams");
                    }
                    if (may_issue()) begin(i);
                }
            }
        }
        return now() - start;
    }
};

// --- bulk -----------------------------------------------------------------------------------

struct bulk_engine {
    static constexpr std::size_t chunk = 64 * 1024;
    options o;
    int fd = -1;
    std::vector<char> out = std::vector<char>(chunk, 'x'), in = std::vector<char>(256 * 1024);
    std::uint64_t sent = 0, received = 0;  // in this phase
    std::size_t offset = 0;                // into the current 64 KiB write
    bool writing_interest = false;

    void interest(bool want_write) {
        if (want_write == writing_interest) return;
        writing_interest = want_write;
        watch(EPOLL_CTL_MOD, fd, EPOLLIN | (want_write ? EPOLLOUT : 0u), 0);
    }

    double phase(double seconds) {
        sent = received = 0;
        double start = now(), until = start + seconds;
        std::uint64_t limit = o.count < 0 ? UINT64_MAX : static_cast<std::uint64_t>(o.count) * chunk;
        bool issuing = true;
        interest(true);
        epoll_event events[4];
        double last_progress = start;
        while (issuing || received < sent) {
            double t = now();
            if (issuing && (t >= until || sent >= limit) && offset == 0) {
                issuing = false;
                interest(false);
            }
            if (t - last_progress > 5) {
                errno = 0;
                die("server stalled: no echo for 5 s");
            }
            int n = ::epoll_wait(epfd, events, 4, 20);
            if (n < 0 && errno != EINTR) die("epoll_wait");
            for (int k = 0; k < n; ++k) {
                if (events[k].events & EPOLLIN) {
                    ssize_t got = ::recv(fd, in.data(), in.size(), 0);
                    if (got == 0) {
                        errno = 0;
                        die("server closed the connection");
                    }
                    if (got < 0 && errno != EAGAIN) die("recv");
                    if (got > 0) {
                        received += static_cast<std::uint64_t>(got);
                        last_progress = now();
                    }
                }
                if ((events[k].events & EPOLLOUT) && issuing) {
                    ssize_t n2 = ::send(fd, out.data() + offset, chunk - offset, MSG_NOSIGNAL);
                    if (n2 < 0 && errno != EAGAIN) die("send");
                    if (n2 > 0) {
                        sent += static_cast<std::uint64_t>(n2);
                        offset = (offset + static_cast<std::size_t>(n2)) % chunk;
                    }
                }
            }
        }
        return now() - start;
    }
};

void wait_for_line() {
    char line[64];
    if (!std::fgets(line, sizeof line, stdin)) return;  // end of input counts as the signal too
}

void ready(const options& o) {
    if (!o.handshake) return;
    std::printf("ready\n");
    std::fflush(stdout);
    wait_for_line();
}

void report(long long ops, double seconds, std::uint64_t bytes, long long lost) {
    std::printf("result ops=%lld seconds=%.6f bytes=%llu lost=%lld\n", ops, seconds,
                static_cast<unsigned long long>(bytes), lost);
    std::fflush(stdout);
}

options parse(int argc, char** argv) {
    options o;
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: loadgen pingpong|bulk|udp|churn|idle [--host H] --port P [--conns N] "
                     "[--size S] [--duration SEC] [--warmup SEC] [--count OPS] [--handshake]\n");
        std::exit(2);
    }
    o.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string_view f = argv[i];
        if (f == "--handshake") {
            o.handshake = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "loadgen: %s needs a value\n", argv[i]);
            std::exit(2);
        }
        const char* v = argv[++i];
        if (f == "--host")
            o.host = v;
        else if (f == "--port")
            o.port = std::atoi(v);
        else if (f == "--conns")
            o.conns = std::max(1, std::atoi(v));
        else if (f == "--size")
            o.size = static_cast<std::size_t>(std::max(1, std::atoi(v)));
        else if (f == "--duration")
            o.duration = std::atof(v);
        else if (f == "--warmup")
            o.warmup = std::atof(v);
        else if (f == "--count")
            o.count = std::atoll(v);
        else {
            std::fprintf(stderr, "loadgen: unknown option %s\n", argv[i - 1]);
            std::exit(2);
        }
    }
    bool known =
        o.mode == "pingpong" || o.mode == "bulk" || o.mode == "udp" || o.mode == "churn" || o.mode == "idle";
    if (!known || o.port <= 0) {
        std::fprintf(stderr, "loadgen: need a mode (pingpong|bulk|udp|churn|idle) and --port\n");
        std::exit(2);
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    resolve(o);
    epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");

    if (o.mode == "udp") {
        udp_engine e;
        e.o = o;
        e.message.assign(o.size, 'u');
        e.reply.resize(64 * 1024);
        for (int i = 0; i < o.conns; ++i) {
            e.fds.push_back(open_to_server(SOCK_DGRAM));
            e.sent_at.push_back(0);
            watch(EPOLL_CTL_ADD, e.fds.back(), EPOLLIN, static_cast<std::uint64_t>(i));
        }
        if (o.warmup > 0) e.phase(o.warmup);
        ready(o);
        double s = e.phase(o.duration);
        report(e.completed, s, e.bytes, e.lost);
        return 0;
    }
    if (o.mode == "bulk") {
        bulk_engine e;
        e.o = o;
        e.fd = open_to_server(SOCK_STREAM);
        watch(EPOLL_CTL_ADD, e.fd, EPOLLIN, 0);
        if (o.warmup > 0) e.phase(o.warmup);
        ready(o);
        double s = e.phase(o.duration);
        report(static_cast<long long>(e.received / bulk_engine::chunk), s, e.received, 0);
        return 0;
    }

    engine e;
    e.o = o;
    e.message.resize(o.size);
    for (std::size_t i = 0; i < o.size; ++i) e.message[i] = static_cast<char>('a' + i % 26);
    e.reply.resize(o.size);
    e.flows.resize(static_cast<std::size_t>(o.conns));
    if (o.mode == "idle") {  // the measured phase is the opening of every connection
        e.o.count = o.conns;
        ready(o);
        double s = e.phase(1e9);
        report(e.completed, s, e.bytes, 0);
        if (o.handshake) wait_for_line();  // hold them while the runner reads the server's memory
        return 0;
    }
    if (o.warmup > 0) e.phase(o.warmup);
    ready(o);
    double s = e.phase(o.duration);
    report(e.completed, s, e.bytes, 0);
    return 0;
}
