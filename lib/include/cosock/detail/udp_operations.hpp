// cosock/detail/udp_operations.hpp — the inline bodies of udp_endpoint's own operations, resolve
// and connect (those it shares with unix_datagram are in datagram_operations.hpp). Read udp.hpp
// first.
// SPDX-License-Identifier: MIT
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include <cosock/detail/operation.hpp>
#include <cosock/detail/socket_core.hpp>
#include <cosock/detail/watchdog.hpp>
#include <cosock/export.hpp>
#include <cosock/resolve.hpp>

namespace cosock::detail {

/// connect(2) on the endpoint's socket; on success remembers the peer (udp.cpp).
COSOCK_EXPORT error_code connect_datagram(socket_core<boost::asio::ip::udp::socket>& c, const address& to);

/// A resolve handler that completes `handler(error_code, address)` with the first address.
template <class Handler>
auto first_address(Handler handler) {
    return intercept{std::move(handler), [](auto&& h, error_code ec, std::vector<address> found) {
                         std::move(h)(ec, ec ? address() : found.front());
                     }};
}

}  // namespace cosock::detail

namespace cosock {

inline auto udp_endpoint::resolve(const address& a) {
    return detail::make_operation<address>(
        "resolve", a, detail::default_timeout(),
        [executor = detail::current_executor(), a](auto handler, detail::clock::duration timeout) {
            detail::start_with_timer(executor, timeout, std::move(handler), [&](auto h) {
                detail::start_resolve(executor, a, std::nullopt, detail::first_address(std::move(h)));
            });
        });
}

inline auto udp_endpoint::connect(const address& to) {
    auto* c = &core_.core("connect");
    return detail::make_operation<address>("connect to", to, c->timeout, [c, to](auto handler, auto timeout) {
        c->template launch<address>(detail::role::other, timeout, std::move(handler), [c, &to](auto h) {
            auto executor = c->socket.get_executor();
            if (to.is_numeric()) {
                auto ec = detail::connect_datagram(*c, to);
                return detail::complete_now(executor, std::move(h), ec, ec ? address() : to);
            }
            detail::error_code ec;
            bool v6 = c->socket.local_endpoint(ec).protocol() == boost::asio::ip::udp::v6();
            if (ec) return detail::complete_now(executor, std::move(h), ec, address());
            auto connect_first = [c](auto&& h, detail::error_code ec, std::vector<address> found) {
                if (!ec) ec = detail::connect_datagram(*c, found.front());
                std::move(h)(ec, ec ? address() : found.front());
            };
            detail::start_resolve(executor, to, v6 ? address_family::v6 : address_family::v4,
                                  detail::intercept{std::move(h), std::move(connect_first)});
        });
    });
}

}  // namespace cosock
