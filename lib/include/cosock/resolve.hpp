// cosock/resolve.hpp — name resolution: the addresses a host name stands for, looked up off the
// event loop's thread, cancellable at once.
// SPDX-License-Identifier: MIT
#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/operation.hpp>
#include <cosock/detail/watchdog.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>
#include <cosock/timeout.hpp>

namespace cosock {

/// Looks `host` up and yields its numeric addresses, each with `port`, each once, in the order
/// the system prefers (RFC 6724; /etc/gai.conf); only IPv4 or only IPv6 ones when `family` says
/// so. Operation yielding `std::vector<cosock::address>`, never empty. Python:
/// `socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)`; asyncio's `loop.getaddrinfo`.
///
/// A numeric host yields itself at once. A name is looked up by getaddrinfo (the hosts file, then
/// DNS, as the system is set up) on a helper thread of its own, never on the event loop's thread,
/// so the loop keeps running meanwhile. Like every operation it obeys `timeout(d, op)`, the
/// process default timeout, deadlines and cancellation: cancelled or timed out, it completes at
/// once, even while getaddrinfo is still waiting for a DNS server; the lookup's late answer is
/// then dropped. Uses the event loop of `cosock::run`.
/// Errors: "resolve nosuch.invalid:80: Host not found (authoritative)", "resolve example.test:80:
/// the name resolves to no address" (`errc::no_addresses`), "resolve example.test:80: timed out
/// after 3 s".
///
/// Example:
///     auto addresses = co_await cosock::timeout(3s, cosock::resolve("localhost", 8898));
///     auto conn = co_await cosock::tcp_stream::connect(addresses.front());
auto resolve(const address& name, std::optional<address_family> family = std::nullopt);
auto resolve(std::string_view host, int port, std::optional<address_family> family = std::nullopt);

}  // namespace cosock

namespace cosock::detail {

/// How a lookup completes: with its addresses, or with an error and none.
using resolve_handler = boost::asio::any_completion_handler<void(error_code, std::vector<address>)>;

/// Starts looking `name` up (resolve.cpp) and completes `handler` through `executor`, never inline:
/// at once for a numeric `name`, else when the helper thread answers or when the handler's
/// cancellation slot fires, whichever comes first.
COSOCK_EXPORT void start_resolve(const boost::asio::any_io_executor& executor, const address& name,
                                 std::optional<address_family> family, resolve_handler handler);

}  // namespace cosock::detail

namespace cosock {

inline auto resolve(const address& name, std::optional<address_family> family) {
    return detail::make_operation<std::vector<address>>(
        "resolve", name, detail::default_timeout(),
        [executor = detail::current_executor(), name, family](auto handler, detail::clock::duration timeout) {
            detail::start_with_timer(executor, timeout, std::move(handler), [&](auto h) {
                detail::start_resolve(executor, name, family, std::move(h));
            });
        });
}

inline auto resolve(std::string_view host, int port, std::optional<address_family> family) {
    return resolve(address(host, port), family);
}

}  // namespace cosock
