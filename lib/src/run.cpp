// run.cpp — the runtime of task.hpp: run() with graceful shutdown on signals, sleep(), task_scope.
// SPDX-License-Identifier: MIT
#include <cosock/task.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <optional>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cosock/detail/socket_core.hpp>
#include <cosock/error.hpp>

namespace cosock {

namespace asio = boost::asio;
using boost::system::error_code;

namespace detail {

int& inline_depth() noexcept {
    thread_local int depth = 0;  // one event loop per thread: the coroutines nested on its stack
    return depth;
}

namespace {
thread_local asio::any_io_executor current;
}

asio::any_io_executor current_executor() {
    if (!current) throw_error(make_error_code(errc::no_event_loop), "cosock");
    return current;
}

executor_scope::executor_scope(asio::any_io_executor executor) : previous_(std::move(current)) {
    current = std::move(executor);
}

executor_scope::~executor_scope() {
    current = std::move(previous_);
}

const char* program_name() noexcept {
    return program_invocation_short_name;
}

void print_error(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", program_name(), e.what());
    } catch (...) {
        fmt::print(stderr, "{}: unknown exception\n", program_name());
    }
}

namespace {

/// The body of both run() overloads: `main` completes with (exception_ptr, int).
template <class Spawn>
int run_main(Spawn spawn) {
    std::signal(SIGPIPE, SIG_IGN);
    // One thread runs this loop, and every cosock socket is used only from the thread of its
    // loop: the reactor needs no per-descriptor lock (two lock/unlock pairs per round trip).
    // Posting from other threads stays safe: the scheduler keeps its lock.
    asio::io_context context(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
    executor_scope scope(context.get_executor());

    // The first SIGINT/SIGTERM cancels main (its pending operation fails with operation_aborted,
    // so it unwinds through every co_await); a second one ends the process at once, for a main
    // that does not unwind.
    asio::signal_set signals(context, SIGINT, SIGTERM);
    asio::cancellation_signal cancel_main;
    int signal_number = 0;
    bool main_ended = false;
    std::function<void(error_code, int)> on_signal = [&](error_code ec, int number) {
        if (ec) return;
        if (signal_number != 0) std::_Exit(128 + number);
        signal_number = number;
        // The signal may be handled after main has ended (both were ready in the same turn of
        // the loop): then there is nothing to cancel, and waiting for a second signal would keep
        // the loop running for ever.
        if (main_ended) return;
        cancel_main.emit(asio::cancellation_type::terminal);
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    std::optional<int> code;
    std::exception_ptr error;
    spawn(context, asio::bind_cancellation_slot(cancel_main.slot(), [&](std::exception_ptr e, int rc) {
              main_ended = true;
              error = e;
              code = rc;
              error_code ignored;
              signals.cancel(ignored);
          }));
    context.run();

    if (signal_number != 0) return 128 + signal_number;
    if (error) {
        print_error(error);
        return 1;
    }
    return code.value_or(1);
}

}  // namespace
}  // namespace detail

int run(task<int> main) {
    return detail::run_main([&](asio::io_context& context, auto handler) {
        asio::co_spawn(context, std::move(main), std::move(handler));
    });
}

int run(task<void> main) {
    return detail::run_main([&](asio::io_context& context, auto handler) {
        // Keep the handler's cancellation slot: it is how a signal reaches main.
        auto slot = asio::get_associated_cancellation_slot(handler);
        asio::co_spawn(context, std::move(main),
                       asio::bind_cancellation_slot(
                           slot, [h = std::move(handler)](std::exception_ptr e) mutable { h(e, 0); }));
    });
}

task<void> sleep(std::chrono::steady_clock::duration duration) {
    detail::timer timer(co_await asio::this_coro::executor);
    detail::expire_after(timer, duration);
    co_await timer.async_wait(asio::use_awaitable);
}

// --- task_scope -------------------------------------------------------------------------------

/// Shared by the scope and its running children, so that a child finishing after the scope
/// object is gone touches nothing freed. Lives as long as the longest of them.
struct task_scope::state {
    explicit state(asio::any_io_executor ex, error_handler handler)
        : executor(ex), on_error(std::move(handler)), idle(ex) {}

    asio::any_io_executor executor;
    error_handler on_error;  // empty: keep the first error for join() and cancel the rest
    std::exception_ptr first_error;
    std::list<asio::cancellation_signal> children;  // one per running child: how to cancel it
    detail::timer idle;                             // join() waits on it; cancelled when `children` empties

    void cancel_all() {
        for (auto& child : children) child.emit(asio::cancellation_type::terminal);
    }
};

task_scope::task_scope() : task_scope(detail::current_executor()) {}

task_scope::task_scope(error_handler on_error)
    : task_scope(detail::current_executor(), std::move(on_error)) {}

task_scope::task_scope(asio::any_io_executor executor, error_handler on_error)
    : state_(std::make_shared<state>(std::move(executor), std::move(on_error))) {}

task_scope::~task_scope() {
    state_->cancel_all();
}

void task_scope::spawn(task<void> child) {
    auto& signal = state_->children.emplace_back();
    auto where = std::prev(state_->children.end());
    asio::co_spawn(state_->executor, std::move(child),
                   asio::bind_cancellation_slot(signal.slot(), [s = state_, where](std::exception_ptr e) {
                       s->children.erase(where);
                       if (e && !is_cancellation(e)) {
                           if (s->on_error) {
                               s->on_error(e);
                           } else if (!s->first_error) {
                               s->first_error = e;
                               s->cancel_all();
                           }
                       }
                       if (s->children.empty()) s->idle.cancel();
                   }));
}

std::size_t task_scope::size() const noexcept {
    return state_->children.size();
}

void task_scope::cancel() {
    state_->cancel_all();
}

task<void> task_scope::join() {
    co_await join(std::chrono::steady_clock::duration::max());
}

task<void> task_scope::join(std::chrono::steady_clock::duration grace) {
    auto s = state_;  // the scope object may go away while we wait; the state may not
    using clock = detail::clock;
    auto now = clock::now();
    auto deadline = grace < clock::time_point::max() - now ? now + grace : clock::time_point::max();
    bool cancelled = false;
    while (!s->children.empty()) {
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
            // Our caller is being cancelled: cancel the children and still wait for them (they
            // unwind quickly), so that none outlives the join.
            cancelled = true;
            co_await asio::this_coro::reset_cancellation_state();
            s->cancel_all();
            deadline = clock::time_point::max();
        }
        detail::expire_at(s->idle, deadline);
        auto [ec] = co_await s->idle.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!ec && !s->children.empty()) {  // grace is over
            s->cancel_all();
            deadline = clock::time_point::max();
        }
    }
    if (cancelled) throw boost::system::system_error(asio::error::operation_aborted, "join");
    if (auto e = std::exchange(s->first_error, nullptr)) std::rethrow_exception(e);
}

}  // namespace cosock
