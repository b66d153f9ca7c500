// cosock/error.hpp — the error model: every failure is a std::system_error that says what was tried.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>

#include <cosock/export.hpp>

namespace cosock {

/// Errors that cosock itself detects (the operating system's come as `std::errc` / errno values).
enum class errc {
    bad_address = 1,   ///< an address string or port that cannot be parsed
    concurrent_read,   ///< a second read started while one is pending on the same socket
    concurrent_write,  ///< a second write started while one is pending on the same socket
    line_too_long,     ///< `read_line` / `read_until` found no delimiter within the maximum
    end_of_stream,     ///< the peer closed before `read_exact` got all the bytes it asked for
    no_event_loop,     ///< a socket was created outside `cosock::run` without an executor
    not_open,          ///< an operation on a closed or moved-from socket
    /// a datagram longer than the buffer of `udp_endpoint::recv_from` / `recv` (not silently cut)
    datagram_truncated,
    /// a host name that resolves to no address (of the family asked for)
    no_addresses,
};

/// The category of `cosock::errc`; its name is "cosock".
COSOCK_EXPORT const std::error_category& category() noexcept;

/// Makes `std::error_code(e)` work for `cosock::errc`.
COSOCK_EXPORT std::error_code make_error_code(errc e) noexcept;

/// The exception of every failed cosock operation. `what()` reads "<operation> <address>:
/// <reason>", for example `connect to 127.0.0.1:7777: Connection refused`; `code()` holds the
/// errno or `cosock::errc`. Python: `OSError` with `errno`. A cancellation (Ctrl-C, a cancelled
/// scope) may also surface as Asio's `boost::system::system_error` with `operation_aborted`, from
/// Asio operations and from `sleep`/`join`/`serve`: `cosock::is_cancellation(e)` recognises both.
class COSOCK_EXPORT error : public std::system_error {
public:
    /// `what()`: "<context>: <code's message>".
    error(std::error_code code, const std::string& context);
    /// `what()`: "<context>: <reason>", for errors whose reason says more than the code.
    error(std::error_code code, const std::string& context, const std::string& reason);
    const char* what() const noexcept override { return message_.c_str(); }

private:
    std::string message_;
};

/// `read_exact` met the end of the stream: `received()` holds the bytes that did arrive, so nothing
/// is lost. Python: `asyncio.IncompleteReadError` and its `partial`.
class COSOCK_EXPORT end_of_stream_error : public error {
public:
    end_of_stream_error(const std::string& context, std::string received)
        : error(make_error_code(errc::end_of_stream), context), received_(std::move(received)) {}
    const std::string& received() const noexcept { return received_; }

private:
    std::string received_;
};

/// An operation did not finish within its timeout (per operation, per socket, the process
/// default) or a deadline passed. `code()` is `std::errc::timed_out`, distinct from a cancellation
/// and from end of stream; `what()` reads "recv from 127.0.0.1:7777: timed out after 3 s".
/// `transferred()` counts the bytes a `send` had sent or a `read_exact` had received before it,
/// and `received()` holds the bytes of a `read_exact`, so nothing is lost.
/// Python: `socket.timeout` (`TimeoutError`).
class COSOCK_EXPORT timeout_error : public error {
public:
    timeout_error(const std::string& context, std::chrono::steady_clock::duration timeout,
                  std::size_t transferred = 0, std::string received = {});
    std::chrono::steady_clock::duration timeout() const noexcept { return timeout_; }
    std::size_t transferred() const noexcept { return transferred_; }
    const std::string& received() const noexcept { return received_; }

private:
    std::chrono::steady_clock::duration timeout_;
    std::size_t transferred_;
    std::string received_;
};

/// True when `e` holds the error of a cancelled operation (Ctrl-C through `run`, a cancelled
/// `task_scope`): a `cosock::error`, `std::system_error` or Boost `system_error` whose code is
/// ECANCELED (`operation_aborted`). Cancellation unwinds coroutines; it is not a failure to report.
COSOCK_EXPORT bool is_cancellation(std::exception_ptr e) noexcept;

/// Throws `cosock::error` with the message "<context>: <reason of code>".
[[noreturn]] COSOCK_EXPORT void throw_error(std::error_code code, std::string_view context);

}  // namespace cosock

template <>
struct std::is_error_code_enum<cosock::errc> : std::true_type {};
