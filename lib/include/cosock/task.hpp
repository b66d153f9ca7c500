// cosock/task.hpp — coroutines and their runtime: task<T>, run(), sleep(), task_scope.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#include <cosock/detail/operation.hpp>
#include <cosock/export.hpp>

namespace cosock {

/// A coroutine returning `T`. It is `boost::asio::awaitable<T>`, so every Asio operation and every
/// Asio coroutine composes with cosock ones. Python: an `async def`.
template <class T = void>
using task = boost::asio::awaitable<T>;

/// How `run` ends.
struct run_options {
    /// After `main` has ended: how long coroutines it left running (spawned without a scope)
    /// may go on. Signals are no longer caught meanwhile (Ctrl-C ends the process at once); when
    /// the time is up their frames are destroyed (destructors run, sockets close) and a line
    /// on stderr says so.
    std::chrono::steady_clock::duration grace = std::chrono::seconds(5);
};

/// Runs `main` on a fresh event loop until it finishes and returns the process exit code:
/// - `main`'s own `co_return` value (0 for a `task<void>`);
/// - 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM) when SIGINT or SIGTERM arrived: the
///   signal cancels `main` (every pending operation fails with `operation_aborted`, so every
///   coroutine unwinds and every socket closes); a second signal ends the process at once;
/// - 1 when `main` throws, or when an exception escapes a completion handler of the loop:
///   `what()` goes to stderr as one line, "PROGRAM: what".
/// SIGPIPE is ignored, so writing to a closed peer is an error (`Broken pipe`), not a death.
/// Coroutines that `main` left running get `options.grace`, then are stopped (run_options).
///
/// Example:
///     int main() { return cosock::run(serve()); }
COSOCK_EXPORT int run(task<int> main, run_options options = {});
COSOCK_EXPORT int run(task<void> main, run_options options = {});

/// Runs `threads` event loops, one per thread (the caller's thread runs the first), each running
/// `main(index)` for index 0 to threads-1: a service on every core, each loop with its own
/// sockets (bind each loop's listener with `{.reuse_port = true}`: the kernel spreads the
/// connections). `main(0)` runs first, until it first waits, before the other loops start: it
/// can bind port 0 and hand the real address to the others. SIGINT and SIGTERM cancel every
/// loop's main; a main that throws or returns non-zero cancels the others. Returns 128 + the
/// signal number after a signal, 1 when a main threw (each error on stderr) or a handler threw,
/// else the first non-zero `co_return` value (by index), else 0. `main(i)` is called once per
/// loop, on the caller's thread just before loop i starts; the task it returns runs on loop i's
/// thread, and its sockets, scopes and timers stay there.
/// Throws `cosock::error` (`std::errc::invalid_argument`) when `threads` < 1.
///
/// Example:
///     return cosock::run_parallel(4, [&](int) { return serve(port); });
COSOCK_EXPORT int run_parallel(int threads, std::function<task<int>(int index)> main,
                               run_options options = {});

/// Waits for `duration` (Python: `await asyncio.sleep(s)`). Cancellable.
COSOCK_EXPORT task<void> sleep(std::chrono::steady_clock::duration duration);

class task_scope;

namespace detail {
/// What a scope and a handle know of one child: how to cancel it, whether it has ended and how.
struct child_state {
    virtual ~child_state() = default;
    /// Called with the child's error (never a cancellation); returns what is left for the scope
    /// to handle: the error itself here, none when a derived state dealt with it (serve() reports
    /// a connection's error with its peer without a coroutine around the handler: serve.hpp).
    virtual std::exception_ptr report(std::exception_ptr error) { return error; }
    boost::asio::cancellation_signal cancel;
    bool done = false;
    std::exception_ptr error;       // the child's exception, cancellation included
    std::shared_ptr<void> waiters;  // the timer that `co_await handle` waits on (run.cpp)
};
template <class T>
struct child_result : child_state {
    std::optional<T> value;
};
template <>
struct child_result<void> : child_state {};

/// with_scope's way into task_scope: runs the body as the scope's first child, then joins.
/// How long a with_scope's children may run on once its body has ended, by returning or by
/// failing (an error, or the caller's cancellation); after that they are cancelled.
struct scope_grace {
    std::chrono::steady_clock::duration after_return;
    std::chrono::steady_clock::duration after_failure;
};
struct COSOCK_EXPORT scope_access {
    static task<void> run_body(task_scope& scope, task<void> body, scope_grace grace);
    /// Starts `child` in `scope` with a state of the caller's making (serve's connections).
    static void start(task_scope& scope, task<void> child, std::shared_ptr<child_state> state);
};

/// How a handle completes: `(exception_ptr)` for a task<void>, `(exception_ptr, T)` otherwise.
template <class T>
struct handle_signature {
    using type = void(std::exception_ptr, T);
};
template <>
struct handle_signature<void> {
    using type = void(std::exception_ptr);
};

/// Resumes when `child` has ended (run.cpp); cancellable without cancelling the child.
COSOCK_EXPORT task<void> wait_for(std::shared_ptr<child_state> child);

/// The coroutine that runs a child with a result: stores the result where its handle finds it.
template <class T>
task<void> store_result(task<T> child, std::shared_ptr<child_result<T>> state) {
    state->value.emplace(co_await std::move(child));
}

/// Calls `f(args...)` and awaits the task it returns. `f` and `args` are this coroutine's
/// parameters, so they live in its frame as long as the child runs: a capturing lambda and the
/// arguments a child refers to cannot die before it.
template <class F, class... Args>
auto invoke_owned(F f, Args... args) -> std::invoke_result_t<F&, Args&...> {
    co_return co_await std::invoke(f, args...);
}

template <class T>
struct task_value;
template <class T>
struct task_value<boost::asio::awaitable<T, boost::asio::any_io_executor>> {
    using type = T;
};
}  // namespace detail

/// One child of a task_scope, from `spawn`. `co_await handle.result()` waits until the child has
/// ended and yields its result, or rethrows its exception. Cancelling that wait (a timeout, the
/// caller's cancellation) does not cancel the child; `cancel()` does. The child's error also
/// reaches the scope as usual. Copyable; the child never depends on its handle.
///
/// Example:
///     auto page = scope.spawn(fetch(url));   // runs concurrently
///     std::string body = co_await page.result();
template <class T>
class task_handle {
public:
    /// True once the child has ended (returned, thrown or been cancelled).
    bool done() const noexcept { return state_->done; }
    /// Cancels this child only (terminal cancellation: its pending operation fails).
    void cancel() { state_->cancel.emit(boost::asio::cancellation_type::terminal); }

    /// Waits for the child's result: an Asio asynchronous operation (any completion token;
    /// `cosock::timeout(d, h.result())` bounds the wait). Every waiter gets a copy of a copyable
    /// result; a move-only one goes to the first.
    task_handle result() const { return *this; }

    /// The handle is itself that operation, awaitable as an rvalue: `co_await scope.spawn(f())`.
    template <boost::asio::completion_token_for<typename detail::handle_signature<T>::type> Token>
    auto operator()(Token&& token) &&;

private:
    friend class task_scope;
    task_handle(std::shared_ptr<detail::child_result<T>> state, boost::asio::any_io_executor executor)
        : state_(std::move(state)), executor_(std::move(executor)) {}

    std::shared_ptr<detail::child_result<T>> state_;
    boost::asio::any_io_executor executor_;  // the scope's, where waiting for the child runs
};

/// Owns child coroutines so that none outlives its owner (Trio's nursery). Prefer `with_scope`,
/// which cannot forget to join. `spawn()` starts a child; `join()` waits until every child has
/// finished. When a child throws, the error handler given at construction decides; without one,
/// the first error cancels the other children and `join()` rethrows it. A child that ends by
/// cancellation is not an error.
/// Destroying a scope whose children still run is a bug (they may refer to the frame that is
/// going away): in a debug build (no NDEBUG) it prints "PROGRAM: task_scope destroyed with N
/// children still running ..." and aborts; with NDEBUG it cancels them. Not thread-safe: use
/// it from the event loop's thread.
///
/// Example:
///     cosock::task_scope scope;
///     scope.spawn(talk(std::move(conn)));
///     co_await scope.join();
class COSOCK_EXPORT task_scope {
public:
    using error_handler = std::function<void(std::exception_ptr)>;

    /// A scope whose children run on `cosock::run`'s event loop (or `executor`).
    task_scope();
    explicit task_scope(boost::asio::any_io_executor executor, error_handler on_error = nullptr);
    explicit task_scope(error_handler on_error);
    task_scope(const task_scope&) = delete;
    task_scope& operator=(const task_scope&) = delete;
    ~task_scope() { destroy(abort_on_running_children); }

    /// Starts `child` now; it runs concurrently with the caller. The handle may be ignored.
    template <class T>
    task_handle<T> spawn(task<T> child);

    /// Starts `f(args...)` as a child, keeping `f` and copies of `args` alive until it ends, so a
    /// capturing lambda is safe: `scope.spawn([&]() -> cosock::task<void> { ... })` (pass the
    /// lambda, do not call it). Use `std::ref(x)` to pass a reference.
    template <class F, class... Args>
    requires std::invocable<F&, Args&...>
    auto spawn(F f, Args... args) { return spawn(detail::invoke_owned(std::move(f), std::move(args)...)); }

    /// How many children are still running.
    std::size_t size() const noexcept;

    /// Asks every running child to stop (terminal cancellation: its pending operation fails).
    void cancel();

    /// Waits until no child is running, then rethrows the first child error (when there is no
    /// error handler). If the caller is cancelled while waiting, the children are cancelled and
    /// still waited for, then the cancellation propagates.
    task<void> join();

    /// Like `join()`, but cancels the children still running after `grace`.
    task<void> join(std::chrono::steady_clock::duration grace);

private:
#ifdef NDEBUG
    static constexpr bool abort_on_running_children = false;
#else
    static constexpr bool abort_on_running_children = true;
#endif
    friend struct detail::scope_access;
    void destroy(bool abort_if_running) noexcept;
    boost::asio::any_io_executor executor() const;
    void start(task<void> child, std::shared_ptr<detail::child_state> state);
    task<void> run_body(task<void> body, detail::scope_grace grace);

    struct state;
    std::shared_ptr<state> state_;
};

namespace detail {
/// The executor of the event loop that `cosock::run` (or a test) is running on this thread.
/// Throws `cosock::error` (`errc::no_event_loop`) when there is none.
COSOCK_EXPORT boost::asio::any_io_executor current_executor();

/// Makes `executor` the current one for this thread while it lives (used by run() and tests).
class COSOCK_EXPORT executor_scope {
public:
    explicit executor_scope(boost::asio::any_io_executor executor);
    ~executor_scope();
    executor_scope(const executor_scope&) = delete;
    executor_scope& operator=(const executor_scope&) = delete;

private:
    boost::asio::any_io_executor previous_;
};

/// The program's short name, for "PROGRAM: message" lines on stderr.
COSOCK_EXPORT const char* program_name() noexcept;
}  // namespace detail

/// Runs `body(scope)` with a new task_scope and returns only when the body and every child it
/// spawned have finished: Trio's `async with open_nursery() as scope:`. After the body returns,
/// the children run to their end. The first error, of the body or of a child, cancels the body
/// and every child, and is rethrown once they have all ended; so does the caller's cancellation.
/// `body` lives as long as the scope, so it may capture by reference. The body must not
/// `join()` its own scope.
///
/// Example:
///     co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
///         scope.spawn(receive(conn));      // ends with the scope
///         co_await send_all(conn);
///     });
template <class Body>
requires std::invocable<Body&, task_scope&> task<void> with_scope(Body body) {
    task_scope scope(co_await boost::asio::this_coro::executor);
    auto none = std::chrono::steady_clock::duration::zero();
    co_await detail::scope_access::run_body(scope, std::invoke(body, scope),
                                            {.after_return = none.max(), .after_failure = none});
}

/// A scope whose children must end within `grace` of its body (a server's connections): when
/// the body ends, by returning, throwing or with the caller's cancellation (the body then at
/// once), the children still running get `grace` to finish on their own, then are cancelled.
/// Errors as for `with_scope(body)`, except that the body's own error also waits for the grace.
template <class Body>
requires std::invocable<Body&, task_scope&> task<void> with_scope(std::chrono::steady_clock::duration grace,
                                                                  Body body) {
    task_scope scope(co_await boost::asio::this_coro::executor);
    co_await detail::scope_access::run_body(scope, std::invoke(body, scope),
                                            {.after_return = grace, .after_failure = grace});
}

// --- templates of task_handle and task_scope ------------------------------------------------------

template <class T>
task_handle<T> task_scope::spawn(task<T> child) {
    auto state = std::make_shared<detail::child_result<T>>();
    if constexpr (std::is_void_v<T>)
        start(std::move(child), state);
    else
        start(detail::store_result(std::move(child), state), state);
    return task_handle<T>(std::move(state), executor());
}

namespace detail {

/// Completes a handle's waiter with the child's result: the error, else the value (a copy when
/// `T` is copyable, so that every waiter gets one; moved to the first waiter otherwise).
template <class T, class Handler>
void complete_with_result(Handler&& h, std::exception_ptr error, child_result<T>& state) {
    if (!error) error = state.error;
    if constexpr (std::is_void_v<T>) {
        std::move(h)(error);
    } else {
        if (!error && !state.value)
            error = std::make_exception_ptr(std::logic_error("task_handle: result already taken"));
        if (error) return std::move(h)(error, T{});
        if constexpr (std::is_copy_constructible_v<T>) {
            std::move(h)(std::exception_ptr(), *state.value);
        } else {
            T value = std::move(*state.value);
            state.value.reset();
            std::move(h)(std::exception_ptr(), std::move(value));
        }
    }
}
}  // namespace detail

template <class T>
template <boost::asio::completion_token_for<typename detail::handle_signature<T>::type> Token>
auto task_handle<T>::operator()(Token&& token) && {
    return boost::asio::async_initiate<Token, typename detail::handle_signature<T>::type>(
        [](auto handler, std::shared_ptr<detail::child_result<T>> state,
           boost::asio::any_io_executor executor) {
            auto wait = detail::wait_for(state);
            auto done = [state](auto&& h, std::exception_ptr cancelled) {
                detail::complete_with_result<T>(std::move(h), cancelled, *state);
            };
            boost::asio::co_spawn(executor, std::move(wait),
                                  detail::intercept{std::move(handler), std::move(done)});
        },
        token, state_, executor_);
}

}  // namespace cosock
