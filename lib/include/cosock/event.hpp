// cosock/event.hpp — an event: one coroutine says "it happened", every coroutine waiting for it
// goes on (Trio's Event, asyncio's Event).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <string_view>
#include <variant>

#include <cosock/detail/operation.hpp>
#include <cosock/detail/wait_list.hpp>

namespace cosock {

/// A flag that coroutines can wait for: `set()` raises it and wakes every waiter, `wait()`
/// returns at once while it is raised, and `clear()` lowers it again, so the same event can
/// announce the next time too (a wake-up: "a message arrived", cleared by whoever handles it).
/// Python: `asyncio.Event`; Trio: `trio.Event` (which cannot be cleared).
///
/// `wait()` is an operation like a socket's: cancellable (Ctrl-C through `cosock::run`, a
/// cancelled `task_scope`, a deadline), then failing with `operation_aborted`;
/// `cosock::timeout(d, ev.wait())` throws `timeout_error` ("wait for event: timed out after
/// 3 s"); `cosock::nothrow(ev.wait())` returns the error code instead. Destroying the event
/// completes the waits still pending with `operation_aborted`.
///
/// Single-threaded, like every cosock object: use it from the event loop's thread. Neither
/// copyable nor movable (waiters refer to it).
///
/// Example:
///     cosock::event ready;
///     scope.spawn(worker(ready));   // worker: ...; ready.set();
///     co_await ready.wait();        // goes on once the worker has called set()
class event {
public:
    event() = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;
    /// Completes pending waits with `operation_aborted`.
    ~event() = default;

    /// Raises the flag and wakes every pending `wait()` (they resume from the event loop, in
    /// the order they started). Setting a raised event does nothing.
    void set() {
        set_ = true;
        while (!waiters_.empty()) static_cast<waiter*>(waiters_.front())->complete({}, {});
    }

    /// Lowers the flag: later waits wait for the next `set()`. A wait already woken still
    /// completes.
    void clear() noexcept { set_ = false; }

    /// Whether the flag is raised.
    bool is_set() const noexcept { return set_; }

    /// Operation: completes at once while the flag is raised, else when `set()` is next called.
    /// `co_await` yields an empty `std::monostate`. No timeout unless given one with
    /// `cosock::timeout`.
    auto wait() {
        return detail::make_operation<std::monostate>(
            "wait for", std::string_view("event"), std::chrono::steady_clock::duration::zero(),
            [this](auto handler, std::chrono::steady_clock::duration timeout) {
                detail::start_wait(std::move(handler), timeout, [this](auto h) {
                    if (set_) return detail::complete_wait_now(std::move(h), {}, std::monostate{});
                    detail::waiter_for<std::monostate, std::monostate, decltype(h)>::park(waiters_,
                                                                                          std::move(h), {});
                });
            });
    }

private:
    using waiter = detail::waiter<std::monostate, std::monostate>;

    bool set_ = false;
    detail::wait_list waiters_;
};

}  // namespace cosock
