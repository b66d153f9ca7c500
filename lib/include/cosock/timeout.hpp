// cosock/timeout.hpp — timeouts: per operation, per socket, the process default, and deadlines.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include <cosock/detail/operation.hpp>
#include <cosock/detail/watchdog.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>

namespace cosock {

// One model, four faces. Every face ends the same way: the pending operation is cancelled
// through Asio's per-operation cancellation and `cosock::timeout_error` is thrown (or
// `std::errc::timed_out` returned by `nothrow`). An operation that completes at the same moment
// keeps its result: a timeout never loses received bytes, and never reports both.
//
//   per operation   co_await cosock::timeout(3s, conn.recv(1024));
//   per socket      conn.set_timeout(5s);            (Python: conn.settimeout(5))
//   process default cosock::set_default_timeout(10s); (Python: socket.setdefaulttimeout(10))
//   deadline        co_await cosock::fail_after(30s, talk(conn));  (Trio: fail_after)
//
// A zero duration means "no timeout" everywhere.

/// Sets the timeout that sockets created afterwards start with (and `tcp_stream::connect` uses);
/// zero: none, the initial value. Python: `socket.setdefaulttimeout(10)`.
COSOCK_EXPORT void set_default_timeout(std::chrono::steady_clock::duration timeout) noexcept;

/// The current process default; zero: none. Python: `socket.getdefaulttimeout()`.
COSOCK_EXPORT std::chrono::steady_clock::duration default_timeout() noexcept;

namespace detail {
/// The same for the socket types (also declared in detail/socket_core.hpp). Declared here too so
/// that timeout.cpp, which defines it and includes only this header, exports it (COSOCK_EXPORT).
COSOCK_EXPORT std::chrono::steady_clock::duration default_timeout() noexcept;
}  // namespace detail

/// The same cosock operation with its own timeout, replacing the socket's for this one
/// operation. Costs no timer of its own: it uses the socket's lazy timer.
/// Throws `timeout_error`: "recv from 127.0.0.1:7777: timed out after 3 s".
///
/// Example:
///     auto reply = co_await cosock::timeout(3s, conn.recv(4096));
template <class T, class Start, class Where>
auto timeout(std::chrono::steady_clock::duration timeout, detail::operation<T, Start, Where> op) {
    return std::move(op).with_timeout(timeout);
}

namespace detail {
template <class Sig>
struct timed_signature;
}

/// Any Asio async operation (for example `timer.async_wait(asio::deferred)`) with a timeout: one
/// timer for this operation. Its signature must be `(error_code[, T])` or `(exception_ptr[, T])`;
/// awaited it yields the `T` and throws `timeout_error` ("operation: timed out after 3 s") or,
/// for another error, what Asio would throw.
template <class Op>
requires(boost::asio::is_async_operation<Op>::value) auto timeout(std::chrono::steady_clock::duration timeout,
                                                                  Op op);

/// Runs `body` and gives up when `timeout` has passed, however many operations it did meanwhile:
/// `body` is cancelled (its pending operation fails, it unwinds) and `timeout_error` is thrown
/// ("deadline: timed out after 30 s"). Trio: `fail_after`. Cuts off a slow-drip peer that keeps
/// each single read within its timeout. `T` must be default-constructible.
template <class T>
task<T> fail_after(std::chrono::steady_clock::duration timeout, task<T> body);

/// Like `fail_after`, but a passed deadline yields `std::nullopt` (for `task<void>`: false)
/// instead of throwing. Trio: `move_on_after`.
template <class T>
task<std::optional<T>> move_on_after(std::chrono::steady_clock::duration timeout, task<T> body);
COSOCK_EXPORT task<bool> move_on_after(std::chrono::steady_clock::duration timeout, task<void> body);

// --- implementation ---------------------------------------------------------------------------

namespace detail {

/// The `timeout_error` of a deadline scope, marked with its scope so that `move_on_after` catches
/// only its own.
class deadline_exceeded : public timeout_error {
public:
    deadline_exceeded(std::chrono::steady_clock::duration timeout, const void* scope)
        : timeout_error("deadline", timeout), scope_(scope) {}
    const void* scope() const noexcept { return scope_; }

private:
    const void* scope_;
};

/// start_with_timer marks an exception-style operation that its timer aborted with this error.
inline bool is_timer_abort(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const timer_abort&) {
        return true;
    } catch (...) {
        return false;
    }
}

template <class R, class First, class... Ts>
struct timed_signature<R(First, Ts...)> {
    using type = void(std::exception_ptr, Ts...);
};

/// `timeout(d, asio_op)`: a one-shot timer around any Asio operation (start_with_timer), its
/// result turned into (exception_ptr, T...).
template <class Op>
struct timed_asio_operation {
    using signature = typename timed_signature<boost::asio::completion_signature_of_t<Op>>::type;

    Op op;
    std::chrono::steady_clock::duration timeout;
    const void* scope = nullptr;  // set by the deadline scopes: their error is deadline_exceeded

    template <boost::asio::completion_token_for<signature> Token>
    auto operator()(Token&& token) && {
        return boost::asio::async_initiate<Token, signature>(
            [](auto handler, Op op, std::chrono::steady_clock::duration timeout, const void* scope) {
                auto executor = boost::asio::get_associated_executor(handler, current_executor());
                // Completes through post(): the inner operation may complete inline from inside
                // another coroutine (co_spawn dispatches its result), and resuming the awaiting
                // coroutine there, nested, is not safe with Asio 1.81's awaitable.
                auto done = [timeout, scope, executor](auto&& h, auto first, auto... values) {
                    boost::asio::post(executor, [h = std::move(h), e = to_exception(first, timeout, scope),
                                                 ... values = std::move(values)]() mutable {
                        std::move(h)(e, std::move(values)...);
                    });
                };
                start_with_timer(boost::asio::any_io_executor(executor), timeout,
                                 intercept{std::move(handler), std::move(done)},
                                 [&op](auto h) { std::move(op)(std::move(h)); });
            },
            token, std::move(op), timeout, scope);
    }

    static std::exception_ptr timed_out(std::chrono::steady_clock::duration timeout, const void* scope) {
        if (scope) return std::make_exception_ptr(deadline_exceeded(timeout, scope));
        return std::make_exception_ptr(timeout_error("operation", timeout));
    }
    static std::exception_ptr to_exception(const error_code& ec, std::chrono::steady_clock::duration timeout,
                                           const void* scope) {
        if (!ec) return nullptr;
        if (ec == std::errc::timed_out) return timed_out(timeout, scope);
        return std::make_exception_ptr(boost::system::system_error(ec));
    }
    static std::exception_ptr to_exception(std::exception_ptr e, std::chrono::steady_clock::duration timeout,
                                           const void* scope) {
        if (e && is_timer_abort(e)) return timed_out(timeout, scope);
        return e;
    }
};

/// The operation behind fail_after / move_on_after: `body` spawned as its own coroutine (so that
/// it can be cancelled as a whole), under a one-shot timer.
template <class T>
auto deadline_operation(const boost::asio::any_io_executor& executor, task<T> body,
                        std::chrono::steady_clock::duration timeout, const void* scope) {
    using spawned = decltype(boost::asio::co_spawn(executor, std::move(body), boost::asio::deferred));
    return timed_asio_operation<spawned>{
        boost::asio::co_spawn(executor, std::move(body), boost::asio::deferred), timeout, scope};
}

}  // namespace detail

template <class Op>
requires(boost::asio::is_async_operation<Op>::value) auto timeout(std::chrono::steady_clock::duration timeout,
                                                                  Op op) {
    return detail::timed_asio_operation<Op>{std::move(op), timeout};
}

template <class T>
task<T> fail_after(std::chrono::steady_clock::duration timeout, task<T> body) {
    int scope = 0;  // its address names this deadline
    auto op = detail::deadline_operation(co_await boost::asio::this_coro::executor, std::move(body), timeout,
                                         &scope);
    co_return co_await std::move(op);
}

template <class T>
task<std::optional<T>> move_on_after(std::chrono::steady_clock::duration timeout, task<T> body) {
    int scope = 0;
    auto op = detail::deadline_operation(co_await boost::asio::this_coro::executor, std::move(body), timeout,
                                         &scope);
    try {
        co_return co_await std::move(op);
    } catch (const detail::deadline_exceeded& e) {
        if (e.scope() != &scope) throw;
    }
    co_return std::nullopt;
}

}  // namespace cosock
