// run.cpp — the runtime of task.hpp: run() with graceful shutdown on signals, sleep(), task_scope.
// SPDX-License-Identifier: MIT
#include <cosock/task.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

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

inline_completions& this_thread_completions() noexcept {
    thread_local inline_completions completions;
    return completions;
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

/// Runs the loop, reporting an exception that escapes one of its handlers: false then.
template <class Run>
bool run_reporting(Run run) {
    try {
        run();
        return true;
    } catch (...) {
        print_error(std::current_exception());
        return false;
    }
}

/// After main has ended: runs the stopped `context` again for at most `grace`, so that what main
/// left running may finish, and says so on stderr when some of it is still running then (the
/// caller's destruction of the context destroys it). False when a handler threw.
bool run_grace_period(asio::io_context& context, std::chrono::steady_clock::duration grace) {
    context.restart();
    bool ok = run_reporting([&] { context.run_for(grace); });
    if (ok && !context.stopped())
        fmt::print(stderr, "{}: coroutines still running {} ms after main ended: stopping them\n",
                   program_name(), std::chrono::duration_cast<std::chrono::milliseconds>(grace).count());
    return ok;
}

/// The body of both run() overloads: `main` completes with (exception_ptr, int).
template <class Spawn>
int run_main(Spawn spawn, const run_options& options) {
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
        // the loop): then there is nothing to cancel.
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
              context.stop();  // what main left running gets the grace period below
          }));
    bool ok = run_reporting([&] { context.run(); });

    // Main has ended (or a handler threw). Signals get their default action back: a process
    // whose strays do not end can be stopped with Ctrl-C. The strays get the grace period.
    error_code ignored;
    signals.cancel(ignored);
    signals.clear(ignored);
    if (ok) {
        ok = run_grace_period(context, options.grace);
    }

    if (signal_number != 0) return 128 + signal_number;
    if (error) {
        print_error(error);
        return 1;
    }
    if (!ok) return 1;
    return code.value_or(1);
}

}  // namespace
}  // namespace detail

int run(task<int> main, run_options options) {
    return detail::run_main(
        [&](asio::io_context& context, auto handler) {
            asio::co_spawn(context, std::move(main), std::move(handler));
        },
        options);
}

int run(task<void> main, run_options options) {
    return detail::run_main(
        [&](asio::io_context& context, auto handler) {
            // Keep the handler's cancellation slot: it is how a signal reaches main.
            auto slot = asio::get_associated_cancellation_slot(handler);
            asio::co_spawn(context, std::move(main),
                           asio::bind_cancellation_slot(
                               slot, [h = std::move(handler)](std::exception_ptr e) mutable { h(e, 0); }));
        },
        options);
}

// --- run_parallel: one event loop per thread ------------------------------------------------------

namespace {

/// One of run_parallel's loops: its context, how to cancel its main, and how its main ended.
struct parallel_loop {
    asio::io_context context{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    asio::cancellation_signal cancel_main;
    bool main_ended = false;  // these three: touched by this loop's thread only
    std::exception_ptr error;
    int code = 0;
};

/// Cancels a loop's main from its own thread. A signal may come before that loop has launched its
/// main, which then has no operation to cancel yet: try again once the launch (queued before the
/// retry) has run main to its first wait. A few retries, not a loop: a main waiting on an operation
/// that cannot be cancelled is not cancelled, as with `run`.
void cancel_main_of(parallel_loop& loop, int retries = 4) {
    asio::post(loop.context, [&loop, retries] {
        if (loop.main_ended) return;
        if (!loop.cancel_main.slot().has_handler() && retries > 0) return cancel_main_of(loop, retries - 1);
        loop.cancel_main.emit(asio::cancellation_type::terminal);
    });
}

}  // namespace

int run_parallel(int threads, std::function<task<int>(int index)> main, run_options options) {
    using namespace detail;
    if (threads < 1)
        throw error(make_error_code(std::errc::invalid_argument), "run_parallel",
                    fmt::format("threads must be at least 1, not {}", threads));
    std::signal(SIGPIPE, SIG_IGN);
    std::vector<std::unique_ptr<parallel_loop>> loops;
    for (int i = 0; i < threads; ++i) loops.push_back(std::make_unique<parallel_loop>());
    auto& first = *loops.front();

    std::atomic<int> signal_number = 0;
    std::atomic<bool> failed = false;  // a main threw, or a handler did
    std::atomic<int> running = threads;
    auto cancel_all = [&] {
        for (auto& loop : loops) cancel_main_of(*loop);
    };

    // Signals are caught on the first loop and reach every loop's main; a second one ends the
    // process at once. When the last main has ended they get their default action back.
    asio::signal_set signals(first.context, SIGINT, SIGTERM);
    std::function<void(error_code, int)> on_signal = [&](error_code ec, int number) {
        if (ec) return;
        int none = 0;
        if (!signal_number.compare_exchange_strong(none, number)) std::_Exit(128 + number);
        cancel_all();
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);
    auto all_ended = [&] {
        error_code ignored;
        signals.cancel(ignored);
        signals.clear(ignored);
        for (auto& loop : loops) loop->context.stop();  // what the mains left gets the grace below
    };

    auto start = [&](int index) {
        auto* loop = loops[static_cast<std::size_t>(index)].get();
        executor_scope scope(loop->context.get_executor());
        asio::co_spawn(
            loop->context, main(index),
            asio::bind_cancellation_slot(loop->cancel_main.slot(), [&, loop](std::exception_ptr e, int rc) {
                loop->main_ended = true;
                loop->error = e;
                loop->code = rc;
                bool threw = e && !is_cancellation(e);  // cancelled by a signal or a sibling: not a failure
                if (threw) failed = true;
                if (threw || rc != 0) cancel_all();  // one loop failing stops the service
                if (--running == 0) asio::post(first.context, all_ended);
            }));
    };
    // One thread per loop; the caller's thread runs the first. A handler that throws is reported
    // and stops every main; its loop runs on so that they can unwind.
    auto run_loop = [&](int index) {
        auto& loop = *loops[static_cast<std::size_t>(index)];
        executor_scope scope(loop.context.get_executor());
        while (!run_reporting([&] { loop.context.run(); })) {
            failed = true;
            cancel_all();
        }
        run_grace_period(loop.context, options.grace);
    };

    // main(0) runs first, until it first waits: it can bind a port (0: any) that the others then
    // bind too, with reuse_port.
    start(0);
    {
        executor_scope scope(first.context.get_executor());
        if (!run_reporting([&] { first.context.poll(); })) {
            failed = true;
            cancel_all();
        }
    }
    std::vector<std::jthread> others;
    for (int i = 1; i < threads; ++i) {
        start(i);
        others.emplace_back(run_loop, i);
    }
    run_loop(0);
    others.clear();  // joins

    if (int number = signal_number) return 128 + number;
    int code = 0;
    for (auto& loop : loops) {
        if (loop->error && !is_cancellation(loop->error)) print_error(loop->error);
        if (code == 0) code = loop->code;
    }
    if (failed) return 1;
    return code;
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
    std::list<std::shared_ptr<detail::child_state>> children;  // the running ones
    detail::timer idle;  // join() waits on it; cancelled when `children` empties
    // with_scope's body: when it fails, the other children get a grace period (run_body).
    detail::child_state* body = nullptr;

    void cancel_all() {
        for (auto& child : children) child->cancel.emit(asio::cancellation_type::terminal);
    }
};

task_scope::task_scope() : task_scope(detail::current_executor()) {}

task_scope::task_scope(error_handler on_error)
    : task_scope(detail::current_executor(), std::move(on_error)) {}

task_scope::task_scope(asio::any_io_executor executor, error_handler on_error)
    : state_(std::make_shared<state>(std::move(executor), std::move(on_error))) {}

namespace {
/// False while the event loop is being torn down (its pending coroutine frames are destroyed,
/// not resumed): children then go with their owner, and there is nothing to report.
bool loop_is_running(const asio::any_io_executor& executor) {
    if (auto* io = executor.target<asio::io_context::executor_type>()) return io->running_in_this_thread();
    return true;
}
}  // namespace

void task_scope::destroy(bool abort_if_running) noexcept {
    if (state_->children.empty() || !loop_is_running(state_->executor)) {
        state_->cancel_all();
        return;
    }
    fmt::print(stderr,
               "{}: task_scope destroyed with {} {} still running: they may refer to the frame being "
               "destroyed; co_await join() before the scope ends, or use cosock::with_scope\n",
               detail::program_name(), state_->children.size(),
               state_->children.size() == 1 ? "child" : "children");
    if (abort_if_running) std::abort();
    state_->cancel_all();
}

asio::any_io_executor task_scope::executor() const {
    return state_->executor;
}

void task_scope::start(task<void> child, std::shared_ptr<detail::child_state> child_state) {
    auto& slot = state_->children.emplace_back(std::move(child_state));
    auto where = std::prev(state_->children.end());
    asio::co_spawn(
        state_->executor, std::move(child),
        asio::bind_cancellation_slot(slot->cancel.slot(), [s = state_, where](std::exception_ptr e) {
            auto child = std::move(*where);
            s->children.erase(where);
            child->done = true;
            child->error = e;
            if (child->waiters) static_cast<detail::timer*>(child->waiters.get())->cancel();
            if (e && !is_cancellation(e)) {
                if (child.get() == s->body) {
                    if (!s->first_error) s->first_error = e;
                } else if (auto left = child->report(e)) {  // none when serve reported it with the peer
                    if (s->on_error) {
                        s->on_error(left);
                    } else if (!s->first_error) {
                        s->first_error = left;
                        s->cancel_all();
                    }
                }
            }
            if (s->children.empty() || child.get() == s->body) s->idle.cancel();  // wake join/run_body
        }));
}

namespace detail {
task<void> wait_for(std::shared_ptr<child_state> child) {
    while (!child->done) {
        if (!child->waiters) {
            auto executor = co_await asio::this_coro::executor;
            auto t = std::make_shared<timer>(executor);
            expire_at(*t, clock::time_point::max());  // woken by cancel() when the child ends
            child->waiters = t;
        }
        auto waiters = std::static_pointer_cast<timer>(child->waiters);
        co_await waiters->async_wait(asio::as_tuple(asio::use_awaitable));
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
            throw boost::system::system_error(asio::error::operation_aborted, "wait for child");
    }
}
}  // namespace detail

std::size_t task_scope::size() const noexcept {
    return state_->children.size();
}

void task_scope::cancel() {
    state_->cancel_all();
}

void detail::scope_access::start(task_scope& scope, task<void> child, std::shared_ptr<child_state> state) {
    scope.start(std::move(child), std::move(state));
}

task<void> detail::scope_access::run_body(task_scope& scope, task<void> body, scope_grace grace) {
    return scope.run_body(std::move(body), grace);
}

task<void> task_scope::run_body(task<void> body, detail::scope_grace grace) {
    auto s = state_;
    auto body_state = std::make_shared<detail::child_state>();
    s->body = body_state.get();
    start(std::move(body), body_state);
    using clock = detail::clock;
    auto deadline = clock::time_point::max();
    bool grace_started = false;
    auto start_grace = [&](clock::duration d) {
        if (std::exchange(grace_started, true)) return;
        auto now = clock::now();
        deadline = d < clock::time_point::max() - now ? now + d : clock::time_point::max();
    };
    bool cancelled = false;
    while (!s->children.empty()) {
        if (!cancelled &&
            (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
            // Our caller is being cancelled: the body stops now, the children get their grace.
            cancelled = true;
            co_await asio::this_coro::reset_cancellation_state();
            body_state->cancel.emit(asio::cancellation_type::terminal);
            start_grace(grace.after_failure);
        }
        if (body_state->done) start_grace(s->first_error ? grace.after_failure : grace.after_return);
        detail::expire_at(s->idle, deadline);
        auto [ec] = co_await s->idle.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!ec && !s->children.empty()) {  // grace is over
            s->cancel_all();
            deadline = clock::time_point::max();
        }
    }
    s->body = nullptr;
    if (auto e = std::exchange(s->first_error, nullptr)) std::rethrow_exception(e);
    if (cancelled) throw boost::system::system_error(asio::error::operation_aborted, "with_scope");
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
