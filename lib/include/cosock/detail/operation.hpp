// cosock/detail/operation.hpp — how every cosock operation is built: an Asio async operation object
// that completes with a contextual exception (the default) or with an error code (`nothrow`).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/version.hpp>
#include <boost/system/error_code.hpp>

#include <cosock/address.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>

namespace cosock::detail {

using boost::system::error_code;

/// A completion handler with a function that sees the results before the handler does. This is
/// the one handler adapter of cosock: the wrapped handler's executor, allocator and cancellation
/// slot pass through (the associator below), so per-operation cancellation reaches the Asio op.
template <class Handler, class Fn>
struct intercept {
    Handler handler;
    Fn fn;

    template <class... Args>
    void operator()(Args&&... args) {
        std::move(fn)(std::move(handler), std::forward<Args>(args)...);
    }
};
template <class Handler, class Fn>
intercept(Handler, Fn) -> intercept<Handler, Fn>;

/// Builds the exception for a failed operation: "<what> <where>: <reason>"; a timeout becomes a
/// `timeout_error` (with the duration and what was transferred), end of stream an
/// `end_of_stream_error` (with the bytes received).
COSOCK_EXPORT std::exception_ptr make_error(error_code ec, const char* what, std::string_view where);
COSOCK_EXPORT std::exception_ptr make_end_of_stream_error(const char* what, std::string_view where,
                                                          std::string received);
COSOCK_EXPORT std::exception_ptr make_timeout_error(const char* what, std::string_view where,
                                                    std::chrono::steady_clock::duration timeout,
                                                    std::size_t transferred, std::string received);

/// The timeout_error of an operation that yields `value`: what was transferred before it.
template <class T>
std::exception_ptr make_timeout_error(const char* what, std::string_view where,
                                      std::chrono::steady_clock::duration timeout, T& value) {
    if constexpr (std::is_same_v<T, std::size_t>)
        return make_timeout_error(what, where, timeout, value, {});
    else if constexpr (std::is_same_v<T, std::string>) {
        auto size = value.size();
        return make_timeout_error(what, where, timeout, size, std::move(value));
    } else
        return make_timeout_error(what, where, timeout, 0, {});
}

/// The place an operation names in its error message ("recv from 127.0.0.1:7777"), formatted
/// only when it fails. A socket's operations hold a pointer to their socket's address: no copy
/// per operation, and the socket's core outlives the completion (socket_core::launch releases it
/// after the handler has run). Others (connect, send_to, the console) hold a value of their own.
template <class Where>
std::string describe(const Where& where) {
    if constexpr (std::is_pointer_v<Where>)
        return fmt::format("{}", *where);
    else
        return fmt::format("{}", where);
}

/// One operation: `start(handler, timeout)` begins it and calls `handler(error_code, T)` exactly
/// once, with `std::errc::timed_out` when `timeout` (zero: none) passed first. Awaited (or given
/// any Asio completion token), it completes with `(exception_ptr, T)`, so `co_await` returns `T`
/// or throws a `cosock::error` naming `what` and `where`. `nothrow(op)` gives `(error_code, T)`
/// instead, and `timeout(d, op)` the same operation with another timeout.
template <class T, class Start, class Where = address>
class operation {
public:
    using value_type = T;
    using duration = std::chrono::steady_clock::duration;

    operation(Start start, const char* what, Where where, duration timeout)
        : start_(std::move(start)), what_(what), where_(std::move(where)), timeout_(timeout) {}

    /// The timeout this operation will run with (zero: none).
    duration timeout() const noexcept { return timeout_; }
    /// The same operation with `timeout` instead (zero: none).
    operation with_timeout(duration timeout) && {
        timeout_ = timeout;
        return std::move(*this);
    }

    template <boost::asio::completion_token_for<void(std::exception_ptr, T)> Token>
    auto operator()(Token&& token) && {
        return boost::asio::async_initiate<Token, void(std::exception_ptr, T)>(
            [](auto&& handler, Start&& start, const char* what, Where&& where, duration timeout) {
                auto done = [what, where = std::move(where), timeout](auto&& h, error_code ec, T value) {
                    if (!ec) return std::move(h)(std::exception_ptr{}, std::move(value));
                    if (ec == std::errc::timed_out && timeout > duration::zero())
                        return std::move(h)(make_timeout_error(what, describe(where), timeout, value), T{});
                    if constexpr (std::is_same_v<T, std::string>) {
                        if (ec == make_error_code(errc::end_of_stream))
                            return std::move(h)(
                                make_end_of_stream_error(what, describe(where), std::move(value)), T{});
                    }
                    std::move(h)(make_error(ec, what, describe(where)), T{});
                };
                std::move(start)(intercept{std::move(handler), std::move(done)}, timeout);
            },
            token, std::move(start_), what_, std::move(where_), timeout_);
    }

    /// Starts the operation with a handler taking `(error_code, T)`: the non-throwing form.
    template <class Handler>
    void start(Handler handler) && {
        std::move(start_)(std::move(handler), timeout_);
    }

private:
    Start start_;
    const char* what_;
    Where where_;
    duration timeout_;
};

template <class T, class Where, class Start>
auto make_operation(const char* what, Where where, std::chrono::steady_clock::duration timeout, Start start) {
    return operation<T, Start, Where>(std::move(start), what, std::move(where), timeout);
}

template <class T, class Op>
struct nothrow_operation {
    Op op;
    template <boost::asio::completion_token_for<void(std::tuple<error_code, T>)> Token>
    auto operator()(Token&& token) && {
        return boost::asio::async_initiate<Token, void(std::tuple<error_code, T>)>(
            [](auto handler, Op op) {
                std::move(op).start(intercept{std::move(handler), [](auto&& h, error_code ec, T value) {
                                                  std::move(h)(
                                                      std::tuple<error_code, T>(ec, std::move(value)));
                                              }});
            },
            token, std::move(op));
    }
};

}  // namespace cosock::detail

namespace cosock {

/// The non-throwing form of any cosock operation: `co_await nothrow(op)` returns
/// `std::tuple<boost::system::error_code, T>` instead of throwing (end of stream on `recv` is
/// still not an error: it is an empty result, as in Python).
///
/// Example:
///     auto [ec, n] = co_await cosock::nothrow(conn.recv_into(buf));
///     if (ec) fmt::print("recv failed: {}\n", ec.message());
template <class T, class Start, class Where>
auto nothrow(detail::operation<T, Start, Where> op) {
    return detail::nothrow_operation<T, detail::operation<T, Start, Where>>{std::move(op)};
}

}  // namespace cosock

template <template <class, class> class Associator, class Handler, class Fn, class Default>
struct boost::asio::associator<Associator, cosock::detail::intercept<Handler, Fn>, Default>
    : Associator<Handler, Default> {
    static typename Associator<Handler, Default>::type get(
        const cosock::detail::intercept<Handler, Fn>& h) noexcept {
        return Associator<Handler, Default>::get(h.handler);
    }
    static auto get(const cosock::detail::intercept<Handler, Fn>& h, const Default& d) noexcept
        -> decltype(Associator<Handler, Default>::get(h.handler, d)) {
        return Associator<Handler, Default>::get(h.handler, d);
    }
};

#if BOOST_ASIO_VERSION < 102800
// Asio 1.26 and 1.27 (Boost 1.81, 1.82) cannot co_await an async operation whose signature is
// (exception_ptr, T): the resume step tests the result struct instead of its exception pointer and
// does not compile (chriskohlhoff/asio issues 1190 and 1205). cosock's operations have exactly that
// signature, so this partial specialization, more specialized than Asio's (it names the executor
// cosock::task uses), stands in for the broken one with the test corrected.
namespace boost::asio::detail {
template <typename R, typename T>
class awaitable_async_op_handler<R(std::exception_ptr, T), any_io_executor>
    : public awaitable_thread<any_io_executor> {
public:
    struct result_type {
        std::exception_ptr* error;
        T* value;
    };

    awaitable_async_op_handler(awaitable_thread<any_io_executor>* thread, result_type& result)
        : awaitable_thread<any_io_executor>(std::move(*thread)), result_(result) {}

    void operator()(std::exception_ptr error, T value) {
        result_.error = &error;  // both live until pump() has resumed the coroutine
        result_.value = &value;
        auto* top = this->entry_point()->top_of_stack_;
        top->attach_thread(this);
        top->clear_cancellation_slot();
        this->pump();
    }

    static T resume(result_type& result) {
        if (*result.error) std::rethrow_exception(std::exchange(*result.error, nullptr));
        return std::move(*result.value);
    }

private:
    result_type& result_;
};
}  // namespace boost::asio::detail
#endif
