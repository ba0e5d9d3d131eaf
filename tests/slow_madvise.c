/*
 * slow_madvise.c - an LD_PRELOAD shim for tests/stash_race.sh: every
 * madvise(MADV_DONTNEED) sleeps 100 ms after the kernel has done it, so
 * that other threads run while the caller holds pages the kernel has
 * already zeroed.  slow_madvise_last() tells the test which range that is.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static uintptr_t last_start, last_end; /* the range whose caller is sleeping */
static int (*real_madvise)(void *, size_t, int);

/* Resolved before main: a lookup inside madvise could allocate while the
 * allocator holds a lock. */
__attribute__((constructor)) static void resolve(void) {
    real_madvise = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "madvise");
}

void slow_madvise_last(uintptr_t *start, uintptr_t *end) {
    *end = __atomic_load_n(&last_end, __ATOMIC_ACQUIRE);
    *start = __atomic_load_n(&last_start, __ATOMIC_ACQUIRE);
}

int madvise(void *addr, size_t len, int advice) {
    int r = real_madvise(addr, len, advice);
    if (advice == MADV_DONTNEED) {
        __atomic_store_n(&last_end, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&last_start, (uintptr_t)addr, __ATOMIC_RELEASE);
        __atomic_store_n(&last_end, (uintptr_t)addr + len, __ATOMIC_RELEASE);
        usleep(100000);
    }
    return r;
}
