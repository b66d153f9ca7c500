// tests/support/allocation_counter.cpp — replaces the global operator new to count allocations
// and the bytes still allocated.
// SPDX-License-Identifier: MIT
#include "allocation_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

#include <malloc.h>

namespace {
thread_local std::size_t count = 0;
// Process-wide: a block may be freed by another thread than the one that allocated it. Sizes
// come from malloc_usable_size on both sides, so an allocation and its release always match.
std::atomic<std::ptrdiff_t> live{0};

void* allocate(std::size_t size) noexcept {
    ++count;
    void* p = std::malloc(size ? size : 1);
    if (p) live.fetch_add(static_cast<std::ptrdiff_t>(::malloc_usable_size(p)), std::memory_order_relaxed);
    return p;
}

void release(void* p) noexcept {
    if (!p) return;
    live.fetch_sub(static_cast<std::ptrdiff_t>(::malloc_usable_size(p)), std::memory_order_relaxed);
    std::free(p);
}
}  // namespace

std::size_t cosock_test::allocations() noexcept {
    return count;
}

std::ptrdiff_t cosock_test::live_bytes() noexcept {
    return live.load(std::memory_order_relaxed);
}

void* operator new(std::size_t size) {
    if (void* p = allocate(size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
    return ::operator new(size);
}
void operator delete(void* p) noexcept {
    release(p);
}
void operator delete[](void* p) noexcept {
    release(p);
}
void operator delete(void* p, std::size_t) noexcept {
    release(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    release(p);
}
// The other forms too, so that memory from one form is never released by another's partner
// (Asio allocates with the nothrow form; ASan checks that new and delete match).
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return allocate(size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
    return ::operator new(size, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    release(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    release(p);
}
