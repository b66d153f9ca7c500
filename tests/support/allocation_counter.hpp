// tests/support/allocation_counter.hpp — counts heap allocations made through operator new, so
// tests can show that a hot path allocates nothing in steady state, and the bytes still allocated,
// so that soak tests can show that memory does not grow.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>

namespace cosock_test {
/// Allocations made by this thread since the program started.
std::size_t allocations() noexcept;

/// Bytes allocated through operator new and not yet freed, by every thread of the process
/// (as malloc_usable_size counts them, so slightly more than was asked for).
std::ptrdiff_t live_bytes() noexcept;
}  // namespace cosock_test
