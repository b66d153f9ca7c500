// tests/support/loopback.hpp — a connected TCP pair over 127.0.0.1, for the unit and fault tests.
// SPDX-License-Identifier: MIT
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cosock/tcp.hpp>

namespace cosock_test {

/// A connected pair over loopback; `client_address` is the client as the server sees it.
struct tcp_pair {
    cosock::tcp_listener listener;
    cosock::tcp_stream client;
    cosock::tcp_stream server;
    cosock::address client_address;
};

/// Connects a pair on a fresh listener (port 0). With `client_rcvbuf` > 0 the client's receive
/// buffer is set to that many bytes before connecting, so that the window it announces stays
/// small (a slow reader); otherwise the client comes from `tcp_stream::connect`.
inline cosock::task<tcp_pair> connect_pair(int client_rcvbuf = 0) {
    namespace asio = boost::asio;
    tcp_pair p;
    p.listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    if (client_rcvbuf > 0) {
        asio::ip::tcp::socket raw(co_await asio::this_coro::executor);
        raw.open(asio::ip::tcp::v4());
        raw.set_option(asio::socket_base::receive_buffer_size(client_rcvbuf));
        co_await raw.async_connect(p.listener.local_address().tcp_endpoint(), asio::use_awaitable);
        p.client = cosock::tcp_stream(std::move(raw));
    } else {
        p.client = co_await cosock::tcp_stream::connect(p.listener.local_address());
    }
    auto [server, peer] = co_await p.listener.accept();
    p.server = std::move(server);
    p.client_address = peer;
    co_return p;
}

}  // namespace cosock_test
