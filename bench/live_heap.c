// bench/live_heap.c — an LD_PRELOAD library that keeps the server's live heap blocks by size, so
// that bench/idle_heap.py can say what one idle connection holds (docs/performance.md, "What an
// idle connection holds"). On SIGUSR2 it writes "SIZE COUNT" lines, one per requested size still
// allocated, to $LIVE_HEAP_OUT.N (N = 0, 1, ...). A measuring tool, not for production: one lock,
// a fixed table of 4 Mi blocks, and a signal handler that writes a file while the server is idle.
//
//   cc -O2 -shared -fPIC -o live_heap.so bench/live_heap.c
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

enum { slots = 1u << 22, largest = 1 << 17 };
static uintptr_t* blocks;  // open addressing by address; 0 empty, 1 deleted
static uint32_t* sizes;
static volatile int busy;

static void lock(void) {
    while (__sync_lock_test_and_set(&busy, 1)) {
    }
}
static void unlock(void) {
    __sync_lock_release(&busy);
}

static void* table(size_t bytes) {
    return mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
static uint32_t home(uintptr_t p) {
    return (uint32_t)((p >> 4) * 2654435761u) & (slots - 1);
}

static void remember(void* p, size_t n) {
    if (!p) return;
    lock();
    if (!blocks) blocks = table(slots * sizeof *blocks), sizes = table(slots * sizeof *sizes);
    uint32_t i = home((uintptr_t)p);
    while (blocks[i] > 1) i = (i + 1) & (slots - 1);
    blocks[i] = (uintptr_t)p;
    sizes[i] = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    unlock();
}

static void forget(void* p) {
    if (!p || !blocks) return;
    lock();
    for (uint32_t i = home((uintptr_t)p); blocks[i]; i = (i + 1) & (slots - 1))
        if (blocks[i] == (uintptr_t)p) {
            blocks[i] = 1;
            break;
        }
    unlock();
}

void* malloc(size_t n) {
    void* p = __libc_malloc(n);
    remember(p, n);
    return p;
}
void* calloc(size_t count, size_t n) {
    void* p = __libc_calloc(count, n);
    remember(p, count * n);
    return p;
}
void* realloc(void* old, size_t n) {
    forget(old);
    void* p = __libc_realloc(old, n);
    remember(p, n);
    return p;
}
void* aligned_alloc(size_t alignment, size_t n) {  // Asio's coroutine frames come from here
    void* p = __libc_memalign(alignment, n);
    remember(p, n);
    return p;
}
int posix_memalign(void** out, size_t alignment, size_t n) {
    void* p = __libc_memalign(alignment, n);
    if (!p) return 12;  // ENOMEM
    remember(p, n);
    *out = p;
    return 0;
}
void free(void* p) {
    forget(p);
    __libc_free(p);
}

static void write_counts(int signo) {
    (void)signo;
    static int dumps;
    static uint32_t count[largest];
    uint64_t larger = 0;
    memset(count, 0, sizeof count);
    lock();
    for (uint32_t i = 0; blocks && i < slots; ++i)
        if (blocks[i] > 1) {
            if (sizes[i] < largest)
                ++count[sizes[i]];
            else
                larger += sizes[i];
        }
    unlock();
    char name[512];
    const char* out = getenv("LIVE_HEAP_OUT");
    snprintf(name, sizeof name, "%s.%d", out ? out : "live_heap", dumps++);
    FILE* f = fopen(name, "w");
    if (!f) return;
    for (int n = 0; n < largest; ++n)
        if (count[n]) fprintf(f, "%d %u\n", n, count[n]);
    fprintf(f, "larger %llu\n", (unsigned long long)larger);
    fclose(f);
}

__attribute__((constructor)) static void start(void) {
    signal(SIGUSR2, write_counts);
}
