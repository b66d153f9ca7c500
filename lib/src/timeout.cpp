// timeout.cpp — the process default timeout and the non-template deadline scope of timeout.hpp.
// SPDX-License-Identifier: MIT
#include <cosock/timeout.hpp>

#include <atomic>

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
