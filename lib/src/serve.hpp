// serve.hpp (private) — the serve loop of every listener type (tcp_listener, unix_listener):
// accept, run each connection in a task_scope, back off on resource shortage, stop gracefully.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cosock/detail/basic_stream.hpp>
#include <cosock/detail/watchdog.hpp>
#include <cosock/task.hpp>

namespace cosock::detail {

/// Accept failures that say "not now" (the system is out of something), not "never": the serve
/// loop backs off and retries instead of spinning (Tokio #3529) or giving up.
inline bool is_resource_shortage(const error_code& ec) {
    namespace asio = boost::asio;
    return ec == asio::error::no_descriptors                  // EMFILE
           || ec == std::errc::too_many_files_open_in_system  // ENFILE
           || ec == asio::error::no_buffer_space              // ENOBUFS
           || ec == asio::error::no_memory;                   // ENOMEM
}

/// Accept failures that concern one connection only: skip it and accept the next.
inline bool is_per_connection(const error_code& ec) {
    return ec == boost::asio::error::connection_aborted || ec == std::errc::protocol_error ||
           ec == std::errc::operation_not_permitted  // EPERM: a firewall rule refused this one
           || ec == std::errc::timed_out;            // the listener's timeout: a server keeps waiting
}

/// One connection's coroutine inside serve's scope: its exception goes to on_error, not up.
template <class Handler, class Stream, class Peer, class Options>
task<void> run_connection(Handler& handler, Stream conn, Peer peer, const Options& options) {
    try {
        co_await handler(std::move(conn), peer);
    } catch (...) {
        auto error = std::current_exception();
        if (is_cancellation(error)) throw;  // stopped by serve: not an error
        options.on_error(peer, error);
    }
}

/// The body of `Listener::serve` (tcp.hpp documents it), accepting `Stream`s. It holds the
/// listener's core, not the listener object, which may be destroyed meanwhile (serve then stops
/// as if the listener had been closed). `stop(core)` closes the listener when serving ends;
/// `where` names it in messages.
template <class Stream, class Acceptor, class Handler, class Options, class Stop>
task<void> serve_loop(core_ref<Acceptor> core, Handler handler, Options options, std::string where,
                      Stop stop) {
    namespace asio = boost::asio;
    if (!options.on_error)
        options.on_error = [](const auto& peer, std::exception_ptr e) {
            auto who = fmt::format("{}", peer);
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& error) {
                fmt::print(stderr, "{}: connection from {}: {}\n", program_name(),
                           who.empty() ? "a client" : who, error.what());
            } catch (...) {
                fmt::print(stderr, "{}: connection from {}: unknown exception\n", program_name(),
                           who.empty() ? "a client" : who);
            }
        };
    if (!options.on_accept_error)
        options.on_accept_error = [where](const std::error_code& ec) {
            fmt::print(stderr, "{}: accept on {}: {}; backing off\n", program_name(), where, ec.message());
        };

    using namespace std::chrono_literals;
    auto executor = co_await asio::this_coro::executor;
    task_scope connections(executor, [](std::exception_ptr) {});  // run_connection reports
    timer backoff_timer(executor);
    auto backoff = std::chrono::milliseconds(0);
    bool cancelled = false;

    for (;;) {
        auto [ec, accepted] = co_await nothrow(accept_on<Stream>(core.get()));
        if (!ec) {
            backoff = 0ms;
            auto& [conn, peer] = accepted;
            connections.spawn(run_connection(handler, std::move(conn), peer, options));
            continue;
        }
        if (is_per_connection(ec)) continue;
        if (!is_resource_shortage(ec)) {
            auto state = co_await asio::this_coro::cancellation_state;
            cancelled =
                ec == asio::error::operation_aborted && state.cancelled() != asio::cancellation_type::none;
            if (cancelled || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
                break;  // cancelled, or the listener was closed: stop gracefully
            co_await connections.join(options.grace);
            check(ec, "accept on", where);
        }
        if (backoff == 0ms) options.on_accept_error(ec);
        backoff = std::clamp(backoff * 2, 10ms, 500ms);
        expire_after(backoff_timer, backoff);
        auto [wait_ec] = co_await backoff_timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (wait_ec) {
            cancelled = true;
            break;
        }
    }

    // Graceful stop: no new connections; the running ones get `grace` to finish.
    stop(*core.get());
    if (cancelled) co_await asio::this_coro::reset_cancellation_state();
    co_await connections.join(options.grace);
    if (cancelled) throw boost::system::system_error(asio::error::operation_aborted, "serve");
}

}  // namespace cosock::detail
