// cosock/detail/unix_operations.hpp — the inline body of unix_stream::connect (the other
// operations are shared with TCP and UDP: basic_stream.hpp, datagram_operations.hpp).
// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <cosock/detail/basic_stream.hpp>
#include <cosock/detail/datagram_operations.hpp>
#include <cosock/detail/watchdog.hpp>

namespace cosock {

inline auto unix_stream::connect(boost::asio::any_io_executor executor, std::string path) {
    auto endpoint = socket_type::endpoint_type(detail::unix_name(path, "connect to"));
    return detail::make_operation<unix_stream>(
        "connect to", std::move(path), detail::default_timeout(),
        [executor, endpoint](auto handler, detail::clock::duration timeout) {
            auto start = [&](auto h) {
                auto socket = std::make_unique<socket_type>(executor);
                auto& s = *socket;
                auto done = [socket = std::move(socket)](auto&& h, detail::error_code ec) {
                    if (ec) return std::move(h)(ec, unix_stream());
                    std::move(h)(ec, unix_stream(std::move(*socket)));
                };
                s.async_connect(endpoint, detail::intercept{std::move(h), std::move(done)});
            };
            if (timeout <= detail::clock::duration::zero()) return start(std::move(handler));
            detail::start_with_timer(executor, timeout, std::move(handler), start);
        });
}

inline auto unix_stream::connect(std::string path) {
    return connect(detail::current_executor(), std::move(path));
}

}  // namespace cosock
