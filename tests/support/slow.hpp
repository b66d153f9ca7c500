// tests/support/slow.hpp — the one slow factor of the C++ tests, for what must stay on real time.
// SPDX-License-Identifier: MIT
//
// Most tests judge no time at all (they run on virtual time, cosock/testing.hpp, or wait for
// events). What must stay on real time (the kernel's TCP, a connect that the kernel keeps
// retrying, a raw ICMP round trip, the hang guard of a test) scales its limits by `slow()`:
//
//     build factor x max(1, load average / cores)
//
// The build factor is 1, or 8 under a sanitizer (AddressSanitizer or ThreadSanitizer): measured on
// fault.churn, the most CPU-bound test, against the -O2 dev build on this 2-core machine, ASan ran
// it 4.2 times slower and TSan 8.2 times (docs/robustness.md). The load part covers a machine
// busier than its cores (ctest -j2 beside a build). tests/integration/harness.py holds the same factor for
// the Python tests (SLOW).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace cosock_test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr double build_slowness = 8;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr double build_slowness = 8;
#else
inline constexpr double build_slowness = 1;
#endif
#else
inline constexpr double build_slowness = 1;
#endif

/// How many times longer than on an idle machine, in a build without sanitizers, a real-time
/// limit must be here (read once: the load average of the moment the tests start).
inline double slow() {
    static const double factor = [] {
        double load[1] = {0};
        double cores = std::max(1u, std::thread::hardware_concurrency());
        double busy = ::getloadavg(load, 1) == 1 ? std::max(1.0, load[0] / cores) : 1.0;
        return build_slowness * busy;
    }();
    return factor;
}

/// `d` times the slow factor: a real-time limit (never a virtual-time one).
inline std::chrono::steady_clock::duration scaled(std::chrono::steady_clock::duration d) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(d * slow());
}

}  // namespace cosock_test
