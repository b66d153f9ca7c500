// timeout.cpp — the process default timeout, the non-template deadline scope of timeout.hpp, and
// the clock's hook for virtual time (watchdog.hpp).
// SPDX-License-Identifier: MIT
#include <cosock/timeout.hpp>

#include <algorithm>
#include <atomic>
#include <functional>

#include "virtual_time.hpp"

namespace cosock {
namespace {
std::atomic<std::chrono::steady_clock::duration::rep> default_ticks{0};
}

void set_default_timeout(std::chrono::steady_clock::duration timeout) noexcept {
    default_ticks.store(std::max(timeout, std::chrono::steady_clock::duration::zero()).count(),
                        std::memory_order_relaxed);
}

std::chrono::steady_clock::duration default_timeout() noexcept {
    return std::chrono::steady_clock::duration(default_ticks.load(std::memory_order_relaxed));
}

namespace detail {
std::chrono::steady_clock::duration default_timeout() noexcept {
    return cosock::default_timeout();
}

thread_local const std::chrono::steady_clock::time_point* virtual_now = nullptr;
thread_local virtual_clock* current_virtual_clock = nullptr;

void note_virtual_deadline(clock::time_point at) {
    if (auto* v = current_virtual_clock) {
        v->deadlines.push_back(at);
        std::push_heap(v->deadlines.begin(), v->deadlines.end(), std::greater<>());
    }
}
}  // namespace detail

task<bool> move_on_after(std::chrono::steady_clock::duration timeout, task<void> body) {
    int scope = 0;
    auto op = detail::deadline_operation(co_await boost::asio::this_coro::executor, std::move(body), timeout,
                                         &scope);
    try {
        co_await std::move(op);
        co_return true;
    } catch (const detail::deadline_exceeded& e) {
        if (e.scope() != &scope) throw;
    }
    co_return false;
}

}  // namespace cosock
