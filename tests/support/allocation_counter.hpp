// tests/support/allocation_counter.hpp — counts heap allocations made through operator new, so
// tests can show that a hot path allocates nothing in steady state.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>

namespace cosock_test {
/// Allocations made by this thread since the program started.
std::size_t allocations() noexcept;
}  // namespace cosock_test
