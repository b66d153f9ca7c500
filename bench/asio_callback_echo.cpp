// asio_callback_echo: raw Asio with completion callbacks, in the idiom of Asio's own
// async_tcp_echo_server.cpp and async_udp_echo_server.cpp examples: a session object kept alive by
// shared_ptr, async_read_some -> async_write -> async_read_some ...; UDP on the same port.
// Run: asio_callback_echo [--host H] [--port 0]   Prints: "listening on 127.0.0.1:PORT".
// SPDX-License-Identifier: MIT
#include <array>
#include <csignal>
#include <cstddef>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>

#include "server_args.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(tcp::socket socket) : socket_(std::move(socket)) {}
    void start() { do_read(); }

private:
    void do_read() {
        socket_.async_read_some(asio::buffer(data_),
                                [this, self = shared_from_this()](error_code ec, std::size_t n) {
                                    if (!ec) do_write(n);
                                });
    }
    void do_write(std::size_t n) {
        asio::async_write(socket_, asio::buffer(data_, n),
                          [this, self = shared_from_this()](error_code ec, std::size_t) {
                              if (!ec) do_read();
                          });
    }

    tcp::socket socket_;
    std::array<char, 64 * 1024> data_;  // not zero-filled
};

class server {
public:
    server(asio::io_context& context, const asio::ip::address& host, unsigned short port)
        : acceptor_(context, {host, port}), udp_(context, {host, acceptor_.local_endpoint().port()}) {
        do_accept();
        do_receive();
    }
    unsigned short port() const { return acceptor_.local_endpoint().port(); }

private:
    void do_accept() {
        acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
            if (!ec) std::make_shared<session>(std::move(socket))->start();
            do_accept();
        });
    }
    void do_receive() {
        udp_.async_receive_from(asio::buffer(datagram_), sender_, [this](error_code ec, std::size_t n) {
            if (ec) return do_receive();
            udp_.async_send_to(asio::buffer(datagram_, n), sender_,
                               [this](error_code, std::size_t) { do_receive(); });
        });
    }

    tcp::acceptor acceptor_;
    udp::socket udp_;
    udp::endpoint sender_;
    std::array<char, 64 * 1024> datagram_;
};

int main(int argc, char** argv) {
    auto args = bench::parse_server_args(argc, argv);
    asio::io_context context(1);
    asio::signal_set signals(context, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { context.stop(); });
    server s(context, asio::ip::make_address(args.host), args.port);
    bench::announce(args.host, s.port());
    context.run();
    return 0;
}
