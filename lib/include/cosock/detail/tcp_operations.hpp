// cosock/detail/tcp_operations.hpp — the inline body of tcp_stream::connect (the operations TCP
// shares with Unix-domain streams are in basic_stream.hpp). Read tcp.hpp first.
// SPDX-License-Identifier: MIT
#pragma once

#include <exception>
#include <memory>
#include <tuple>
#include <utility>

#include <boost/asio/co_spawn.hpp>

#include <cosock/detail/watchdog.hpp>
#include <cosock/export.hpp>

namespace cosock::detail {

/// Resolves a host name and connects to the first address that answers (tcp.cpp).
COSOCK_EXPORT task<std::tuple<error_code, tcp_stream>> resolve_and_connect(
    boost::asio::any_io_executor executor, address to);

/// Connects `to` (numeric or a name) and completes `handler(error_code, tcp_stream)`.
template <class Handler>
void start_connect(const boost::asio::any_io_executor& executor, const address& to, Handler handler) {
    if (!to.is_numeric()) {
        auto done = [](auto&& h, std::exception_ptr e, std::tuple<error_code, tcp_stream> result) {
            auto& [ec, stream] = result;
            if (e) ec = boost::asio::error::operation_aborted;  // cancelled before it began
            std::move(h)(ec, std::move(stream));
        };
        boost::asio::co_spawn(executor, resolve_and_connect(executor, to),
                              intercept{std::move(handler), std::move(done)});
        return;
    }
    auto socket = std::make_unique<tcp_stream::socket_type>(executor);
    auto& s = *socket;
    auto done = [socket = std::move(socket), to](auto&& h, error_code ec) {
        if (ec) return std::move(h)(ec, tcp_stream());
        std::move(h)(ec, tcp_stream(std::move(*socket), to));
    };
    s.async_connect(to.tcp_endpoint(), intercept{std::move(handler), std::move(done)});
}

}  // namespace cosock::detail

namespace cosock {

inline auto tcp_stream::connect(boost::asio::any_io_executor executor, address to) {
    return detail::make_operation<tcp_stream>(
        "connect to", to, detail::default_timeout(),
        [executor, to](auto handler, detail::clock::duration timeout) {
            if (timeout <= detail::clock::duration::zero())
                return detail::start_connect(executor, to, std::move(handler));
            detail::start_with_timer(executor, timeout, std::move(handler),
                                     [&](auto h) { detail::start_connect(executor, to, std::move(h)); });
        });
}

inline auto tcp_stream::connect(address to) {
    return connect(detail::current_executor(), std::move(to));
}

}  // namespace cosock
