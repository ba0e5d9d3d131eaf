/*
 * lock.c - the contended paths of frg_lock, the fork handlers' walks over
 * arrays of locks, and debug-build lock-order checking.
 *
 * Owns: the futex sleep and wake of frg_lock_t, the per-thread record of
 * held lock ranks (debug builds only).  Locking: this is the lock; the
 * array walks take same-rank locks in a row, which the order check allows
 * only inside fork's prepare handler (frg_lock_order_relaxed).
 */
#define _GNU_SOURCE
#include "lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "report.h"

#define SPINS 100

void frg_lock_slow(frg_lock_t *l) {
    int saved = errno; /* free() must keep errno, and may get here */
    /* The holder is likely running on the other CPU: spin a little. */
    for (int i = 0; i < SPINS; i++) {
        int expected = 0;
        if (__atomic_load_n(&l->state, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&l->state, &expected, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            errno = saved;
            return;
        }
        frg_cpu_relax();
    }
    /* Then sleep: mark the lock contended so the holder wakes us. */
    while (__atomic_exchange_n(&l->state, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    errno = saved;
}

void frg_unlock_wake(frg_lock_t *l) {
    int saved = errno;
    syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}

static frg_lock_t *nth(frg_lock_t *first, size_t i, size_t stride) {
    return (frg_lock_t *)((char *)first + i * stride);
}
void frg_lock_each(frg_lock_t *first, size_t n, size_t stride) {
    for (size_t i = 0; i < n; i++)
        frg_lock(nth(first, i, stride));
}
void frg_unlock_each(frg_lock_t *first, size_t n, size_t stride) {
    for (size_t i = n; i-- > 0;)
        frg_unlock(nth(first, i, stride));
}
void frg_lock_reinit_each(frg_lock_t *first, size_t n, size_t stride) {
    for (size_t i = 0; i < n; i++)
        frg_lock_reinit(nth(first, i, stride));
}

#ifdef FRG_DEBUG
#define MAX_HELD 16
static __thread int held_rank[MAX_HELD];
static __thread int held_depth;
/* Set while the fork handler takes every lock (same-rank locks in a row). */
FRG_HIDDEN int frg_lock_order_relaxed;

void frg_lock_debug_acquire(frg_lock_t *l) {
    if (held_depth > 0 && !frg_lock_order_relaxed && l->rank <= held_rank[held_depth - 1])
        frg_fatal("lock order violation: rank %d taken while holding rank %d", l->rank,
                  held_rank[held_depth - 1]);
    if (held_depth < MAX_HELD)
        held_rank[held_depth] = l->rank;
    held_depth++;
}

void frg_lock_debug_forget_all(void) { held_depth = 0; }

void frg_lock_debug_release(frg_lock_t *l) {
    (void)l;
    if (held_depth > 0)
        held_depth--;
}
#endif
