/*
 * lock.c - debug-build lock-order checking.
 *
 * Owns: the per-thread record of held lock ranks (debug builds only).
 * Locking: thread-local state only.
 */
#include "lock.h"
#include "report.h"

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

void frg_lock_debug_release(frg_lock_t *l) {
    (void)l;
    if (held_depth > 0)
        held_depth--;
}
#endif
