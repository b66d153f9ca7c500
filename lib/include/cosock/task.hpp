// cosock/task.hpp — coroutines and their runtime: task<T>, run(), sleep(), task_scope.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cosock/export.hpp>

namespace cosock {

/// A coroutine returning `T`. It is `boost::asio::awaitable<T>`, so every Asio operation and every
/// Asio coroutine composes with cosock ones. Python: an `async def`.
template <class T = void>
using task = boost::asio::awaitable<T>;

/// Runs `main` on a fresh event loop until it finishes and returns the process exit code:
/// - `main`'s own `co_return` value (0 for a `task<void>`);
/// - 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM) when SIGINT or SIGTERM arrived: the
///   signal cancels `main` (every pending operation fails with `operation_aborted`, so every
///   coroutine unwinds and every socket closes); a second signal ends the process at once;
/// - 1 when `main` throws: `what()` goes to stderr as one line, "PROGRAM: what".
/// SIGPIPE is ignored, so writing to a closed peer is an error (`Broken pipe`), not a death.
///
/// Example:
///     int main() { return cosock::run(serve()); }
COSOCK_EXPORT int run(task<int> main);
COSOCK_EXPORT int run(task<void> main);

/// Waits for `duration` (Python: `await asyncio.sleep(s)`). Cancellable.
COSOCK_EXPORT task<void> sleep(std::chrono::steady_clock::duration duration);

/// Owns child coroutines so that none outlives its owner (Trio's nursery, Cobalt's wait_group).
/// `spawn()` starts a child; `join()` waits until every child has finished. When a child throws,
/// the error handler given at construction decides; without one, the first error cancels the other
/// children and `join()` rethrows it. A child that ends by cancellation is not an error.
/// The destructor cancels children still running; they finish unwinding on the event loop, never
/// touching the scope. Not thread-safe: use it from the event loop's thread.
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
    ~task_scope();

    /// Starts `child` now; it runs concurrently with the caller.
    void spawn(task<void> child);

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

}  // namespace cosock
