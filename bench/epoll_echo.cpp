// epoll_echo: the one-thread ceiling of the benchmark. TCP and UDP echo on one port with plain
// non-blocking sockets and one level-triggered epoll: per readiness one read and one write, no
// coroutine, no callback, no per-operation allocation, one buffer for every connection.
// --mmsg: per UDP readiness one recvmmsg and one sendmmsg of up to 32 datagrams instead.
// Run: epoll_echo [--host H] [--port 0] [--mmsg]   Prints: "listening on 127.0.0.1:PORT";
// SIGINT/SIGTERM end it.
// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "server_args.hpp"

namespace {

volatile std::sig_atomic_t stop = 0;

// A connection: its descriptor and the bytes a full send buffer did not take. While `pending`
// is not empty the connection waits for EPOLLOUT and reads nothing (the peer is not reading).
struct connection {
    int fd;
    std::string pending;
};

char buffer[64 * 1024];  // every read goes here: the echo is written before the next read

// --mmsg: a batch of datagrams, each with its own buffer and sender (2 MiB, touched only as used).
constexpr unsigned batch = 32;
char batch_buffers[batch][64 * 1024];
sockaddr_storage batch_senders[batch];
iovec batch_iov[batch];
mmsghdr batch_messages[batch];

// Receives up to `batch` datagrams in one call and sends each back to its sender in one more.
void echo_batch(int udp) {
    for (unsigned i = 0; i < batch; ++i) {
        batch_iov[i] = {batch_buffers[i], sizeof batch_buffers[i]};
        batch_messages[i] = {};
        batch_messages[i].msg_hdr.msg_name = &batch_senders[i];
        batch_messages[i].msg_hdr.msg_namelen = sizeof batch_senders[i];
        batch_messages[i].msg_hdr.msg_iov = &batch_iov[i];
        batch_messages[i].msg_hdr.msg_iovlen = 1;
    }
    int got = ::recvmmsg(udp, batch_messages, batch, MSG_DONTWAIT, nullptr);
    if (got <= 0) return;
    for (int i = 0; i < got; ++i) batch_iov[i].iov_len = batch_messages[i].msg_len;  // what came
    ::sendmmsg(udp, batch_messages, static_cast<unsigned>(got), 0);  // what cannot go is dropped
}

[[noreturn]] void fail(const char* what) {
    std::perror(what);
    std::exit(1);
}

int open_socket(int type, const sockaddr_storage& at, socklen_t len) {
    int fd = ::socket(at.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    int one = 1;
    if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&at), len) < 0) fail("bind");
    return fd;
}

void watch(int epfd, int op, int fd, std::uint32_t events, void* tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = tag;
    if (::epoll_ctl(epfd, op, fd, &ev) < 0) fail("epoll_ctl");
}

void close_connection(connection* c) {
    ::close(c->fd);  // also leaves the epoll set
    delete c;
}

// Writes what is pending; true when all of it went.
bool flush(connection* c) {
    while (!c->pending.empty()) {
        ssize_t n = ::send(c->fd, c->pending.data(), c->pending.size(), MSG_NOSIGNAL);
        if (n < 0) return false;
        c->pending.erase(0, static_cast<std::size_t>(n));
    }
    return true;
}

void on_connection(int epfd, connection* c, std::uint32_t events) {
    if (!c->pending.empty()) {  // waiting for room to write
        if (!flush(c)) {
            if (errno != EAGAIN) close_connection(c);
            return;
        }
        watch(epfd, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    ssize_t n = ::recv(c->fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) return close_connection(c);  // end of stream or error
    ssize_t sent = ::send(c->fd, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    if (sent == n) return;
    if (sent < 0 && errno != EAGAIN) return close_connection(c);
    c->pending.assign(buffer + (sent < 0 ? 0 : sent), buffer + n);
    watch(epfd, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
}

}  // namespace

int main(int argc, char** argv) {
    auto args = bench::parse_server_args(argc, argv);
    // SIGINT/SIGTERM stay blocked except inside epoll_pwait, which then fails with EINTR: a
    // signal cannot slip in between the test of `stop` and the wait.
    struct sigaction sa {};
    sa.sa_handler = [](int) { stop = 1; };
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    sigset_t blocked, waiting;
    ::sigemptyset(&blocked);
    ::sigaddset(&blocked, SIGINT);
    ::sigaddset(&blocked, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &blocked, &waiting);
    ::sigdelset(&waiting, SIGINT);
    ::sigdelset(&waiting, SIGTERM);

    sockaddr_storage at{};
    socklen_t len;
    if (args.host.find(':') != std::string::npos) {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&at);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(args.port);
        if (::inet_pton(AF_INET6, args.host.c_str(), &a6->sin6_addr) != 1)
            bench::usage_error(argv[0], "bad host");
        len = sizeof(sockaddr_in6);
    } else {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&at);
        a4->sin_family = AF_INET;
        a4->sin_port = htons(args.port);
        if (::inet_pton(AF_INET, args.host.c_str(), &a4->sin_addr) != 1)
            bench::usage_error(argv[0], "bad host");
        len = sizeof(sockaddr_in);
    }
    int listener = open_socket(SOCK_STREAM, at, len);
    if (::listen(listener, SOMAXCONN) < 0) fail("listen");
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &len);  // the real port
    int udp = open_socket(SOCK_DGRAM, at, len);
    bench::announce(args.host, ntohs(reinterpret_cast<sockaddr_in*>(&at)->sin_port));

    int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) fail("epoll_create1");
    int listener_tag = 0, udp_tag = 0;  // their addresses tell the two apart from connections
    watch(epfd, EPOLL_CTL_ADD, listener, EPOLLIN, &listener_tag);
    watch(epfd, EPOLL_CTL_ADD, udp, EPOLLIN, &udp_tag);

    epoll_event events[256];
    while (!stop) {
        int n = ::epoll_pwait(epfd, events, 256, -1, &waiting);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("epoll_pwait");
        }
        for (int i = 0; i < n; ++i) {
            void* tag = events[i].data.ptr;
            if (tag == &listener_tag) {
                int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno == EMFILE || errno == ENFILE) ::usleep(100'000);  // no busy loop
                    continue;
                }
                watch(epfd, EPOLL_CTL_ADD, fd, EPOLLIN, new connection{fd, {}});
            } else if (tag == &udp_tag && args.mmsg) {
                echo_batch(udp);
            } else if (tag == &udp_tag) {
                sockaddr_storage from;
                socklen_t from_len = sizeof from;
                ssize_t got =
                    ::recvfrom(udp, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
                if (got >= 0)
                    ::sendto(udp, buffer, static_cast<std::size_t>(got), 0,
                             reinterpret_cast<sockaddr*>(&from), from_len);
            } else {
                on_connection(epfd, static_cast<connection*>(tag), events[i].events);
            }
        }
    }
    return 0;
}
