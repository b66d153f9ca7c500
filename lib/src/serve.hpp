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

/// One connection as a child of serve's scope: its error goes to on_error with its peer, not to
/// the scope (a cancellation is not an error). A state rather than a coroutine around the
/// handler: an idle connection holds no frame for it (docs/performance.md, "What an idle
/// connection holds").
template <class Peer, class Options>
struct connection_child : child_result<void> {
    connection_child(Peer p, const Options& o) : peer(std::move(p)), options(&o) {}

    std::exception_ptr report(std::exception_ptr error) override {
        try {
            options->on_error(peer, error);
            return nullptr;
        } catch (...) {
            return std::current_exception();  // on_error failed: the scope has that to handle
        }
    }

    Peer peer;
    const Options* options;
};

/// serve's accept loop: returns when the listener is closed, throws on cancellation or a fatal
/// accept error; each connection runs in `connections`.
template <class Stream, class Core, class Handler, class Options>
task<void> accept_loop(Core* core, Handler& handler, Options& options, const std::string& where,
                       task_scope& connections) {
    namespace asio = boost::asio;
    using namespace std::chrono_literals;
    timer backoff_timer(co_await asio::this_coro::executor);
    auto backoff = std::chrono::milliseconds(0);
    for (;;) {
        auto [ec, accepted] = co_await nothrow(accept_on<Stream>(core));
        if (!ec) {
            backoff = 0ms;
            auto& [conn, peer] = accepted;
            task<void> work;
            try {
                work = handler(std::move(conn), peer);
            } catch (...) {  // the handler failed before its coroutine began
                options.on_error(peer, std::current_exception());
                continue;
            }
            scope_access::start(connections, std::move(work),
                                std::make_shared<connection_child<decltype(peer), Options>>(peer, options));
            continue;
        }
        if (is_per_connection(ec)) continue;
        if (!is_resource_shortage(ec)) {
            auto state = co_await asio::this_coro::cancellation_state;
            if (state.cancelled() != asio::cancellation_type::none)
                throw boost::system::system_error(asio::error::operation_aborted, "serve");
            if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
                co_return;  // the listener was closed: stop gracefully
            check(ec, "accept on", where);
        }
        if (backoff == 0ms) options.on_accept_error(ec);
        backoff = std::clamp(backoff * 2, 10ms, 500ms);
        expire_after(backoff_timer, backoff);
        co_await backoff_timer.async_wait(asio::use_awaitable);  // throws when cancelled
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

    // The connections live in a scope that always joins: whatever ends the accept loop (the
    // caller's cancellation, close(), an accept error, a throwing on_accept_error), they get
    // `grace`, are then cancelled, and have ended before serve returns or throws.
    co_await with_scope(options.grace, [&](task_scope& connections) -> task<void> {
        struct stop_on_exit {
            Stop& stop;
            socket_core<Acceptor>& listener;
            ~stop_on_exit() { stop(listener); }  // no new connections from here on
        } stopping{stop, *core.get()};
        co_await accept_loop<Stream>(core.get(), handler, options, where, connections);
    });
}

}  // namespace cosock::detail
