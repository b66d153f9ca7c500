// cosock/detail/tcp_operations.hpp — the inline body of tcp_stream::connect (the operations TCP
// shares with Unix-domain streams are in basic_stream.hpp). Read tcp.hpp first.
// SPDX-License-Identifier: MIT
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>

#include <cosock/detail/watchdog.hpp>
#include <cosock/export.hpp>

namespace cosock::detail {

/// What a failed connect names: the target and, after a host name's connect failed, the addresses
/// it tried before the last one with their errors ("[::1]:80: Connection refused; 127.0.0.1:80"):
/// the operation's message adds the last one's error. Null `tried` for a numeric address.
struct connect_target {
    address to;
    std::shared_ptr<std::string> tried;
};

/// Connects to a host name the Happy Eyeballs way (tcp.cpp); on failure after attempts, fills
/// `tried` and yields the last attempt's error.
COSOCK_EXPORT task<std::tuple<error_code, tcp_stream>> connect_by_name(boost::asio::any_io_executor executor,
                                                                       address to, connect_options options,
                                                                       std::shared_ptr<std::string> tried);

/// Connects `to` (numeric or a name) and completes `handler(error_code, tcp_stream)`.
template <class Handler>
void start_connect(const boost::asio::any_io_executor& executor, const connect_target& target,
                   const connect_options& options, Handler handler) {
    const auto& to = target.to;
    if (!to.is_numeric()) {
        auto done = [](auto&& h, std::exception_ptr e, std::tuple<error_code, tcp_stream> result) {
            auto& [ec, stream] = result;
            if (e) ec = boost::asio::error::operation_aborted;  // cancelled before it began
            std::move(h)(ec, std::move(stream));
        };
        boost::asio::co_spawn(executor, connect_by_name(executor, to, options, target.tried),
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

/// "example.test:80", or "example.test:80: [::1]:80: Connection refused; 127.0.0.1:80" once a
/// host name's attempts have failed.
template <>
struct fmt::formatter<cosock::detail::connect_target> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(const cosock::detail::connect_target& t, FormatContext& ctx) const {
        auto text = t.tried && !t.tried->empty() ? t.to.to_string() + ": " + *t.tried : t.to.to_string();
        return fmt::formatter<std::string_view>::format(text, ctx);
    }
};

namespace cosock {

inline auto tcp_stream::connect(boost::asio::any_io_executor executor, address to, connect_options options) {
    detail::connect_target target{to, to.is_numeric() ? nullptr : std::make_shared<std::string>()};
    return detail::make_operation<tcp_stream>(
        "connect to", target, detail::default_timeout(),
        [executor, target, options](auto handler, detail::clock::duration timeout) {
            detail::start_with_timer(executor, timeout, std::move(handler), [&](auto h) {
                detail::start_connect(executor, target, options, std::move(h));
            });
        });
}

inline auto tcp_stream::connect(address to, connect_options options) {
    return connect(detail::current_executor(), std::move(to), options);
}

}  // namespace cosock
