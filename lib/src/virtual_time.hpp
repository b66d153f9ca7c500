// virtual_time.hpp (private) — the state of a thread's virtual clock, shared by timeout.cpp (which
// hears of every deadline) and testing.cpp (whose loop makes time jump).
// SPDX-License-Identifier: MIT
#pragma once

#include <vector>

#include <cosock/detail/watchdog.hpp>

namespace cosock::detail {

struct virtual_clock {
    clock::time_point now;
    std::vector<clock::time_point> deadlines;  // a min-heap; some are stale (timers since cancelled)
    std::vector<timer*> blocked_waiters;       // wait_all_tasks_blocked: woken when all else waits
};

/// The virtual clock of this thread's event loop, or null (timeout.cpp).
extern thread_local virtual_clock* current_virtual_clock;

}  // namespace cosock::detail
