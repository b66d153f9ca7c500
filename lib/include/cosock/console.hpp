// cosock/console.hpp — console input: `co_await cosock::input(">>> ")` reads one line of stdin
// without blocking the event loop, whether stdin is a terminal, a pipe or a file.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/operation.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>

namespace cosock {

/// Prints `prompt` on stdout (flushed) and reads the next line of stdin. Operation yielding
/// `std::optional<std::string>`: the line without its "\n" (and without a "\r" just before it), or
/// `std::nullopt` at end of stdin; a last line without "\n" comes first as a line. Python:
/// `input(prompt)`, with `None` where Python raises `EOFError`.
///
/// The event loop keeps running while it waits, whether stdin is a terminal, a pipe or a regular
/// file (`prog < file`), and the flags of stdin are left alone (no O_NONBLOCK leaks to the shell).
/// Lines may be of any length; their bytes pass through unchanged (no decoding, invalid UTF-8 and
/// NUL included). Bytes after the line stay buffered for the next `input()`, and so does a partial
/// line when the input is cancelled (Ctrl-C through `cosock::run`, a cancelled `task_scope`): it
/// then fails with `operation_aborted`. One `input()` at a time: a second one while the first is
/// pending fails at once with `errc::concurrent_read`. Other errors come from read(2), as
/// "input from stdin:0: Input/output error". `cosock::nothrow(cosock::input(p))` yields
/// `(error_code, std::optional<std::string>)` instead of throwing. No timeout by default (neither
/// `set_default_timeout` nor a socket's applies); `cosock::timeout(30s, cosock::input(p))` throws
/// `timeout_error` ("input from stdin:0: timed out after 30 s") and keeps the partial line too.
///
/// cosock keeps its own buffer: do not mix `input()` with other readers of stdin (`std::cin`,
/// `fgets`), whose buffers do not see each other's bytes.
///
/// Example:
///     while (auto line = co_await cosock::input(">>> "))   // until end of stdin
///         fmt::print("you said {}\n", *line);
auto input(std::string_view prompt = {});

}  // namespace cosock

namespace cosock::detail {

/// The completion handler of one input, type-erased so that the work lives in console.cpp.
using input_handler = boost::asio::any_completion_handler<void(error_code, std::optional<std::string>)>;

/// console.cpp: the descriptor, the read-ahead buffer and the pending input of one console.
struct console_state;

/// Reads lines from one file descriptor: `cosock::input` uses `stdin_console()`, tests make their
/// own on a pipe, a terminal or a file. Works on its own duplicate of `fd` (the caller keeps and
/// closes `fd`), whose flags it never changes. Prompts go to `prompt_out` (nullptr: nowhere).
/// Destroying the console cancels a pending input. Use it from one thread at a time.
class COSOCK_EXPORT console {
public:
    explicit console(int fd, std::FILE* prompt_out = stdout);
    console(const console&) = delete;
    console& operator=(const console&) = delete;
    ~console();

    /// The operation behind `cosock::input`, its Asio work done on `executor`.
    auto input(boost::asio::any_io_executor executor, std::string_view prompt);

private:
    static void start(std::shared_ptr<console_state> state, boost::asio::any_io_executor executor,
                      std::string prompt, std::chrono::steady_clock::duration timeout, input_handler handler);

    std::shared_ptr<console_state> state_;  // shared with the pending input, which may outlive us
    address where_;                         // "stdin:0" or "fd:N", for error messages
};

/// The console of file descriptor 0 that `cosock::input` reads, created at first use and never
/// destroyed (an input may still be pending when the program exits).
COSOCK_EXPORT console& stdin_console();

inline auto console::input(boost::asio::any_io_executor executor, std::string_view prompt) {
    return make_operation<std::optional<std::string>>(
        "input from", where_, std::chrono::steady_clock::duration::zero(),  // no default timeout
        [state = state_, executor = std::move(executor), prompt = std::string(prompt)](
            auto handler, std::chrono::steady_clock::duration timeout) mutable {
            start(std::move(state), std::move(executor), std::move(prompt), timeout,
                  input_handler(std::move(handler)));
        });
}

}  // namespace cosock::detail

namespace cosock {

inline auto input(std::string_view prompt) {
    return detail::stdin_console().input(detail::current_executor(), prompt);
}

}  // namespace cosock
