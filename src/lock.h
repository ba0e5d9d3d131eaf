/*
 * lock.h - the one mutex type the allocator uses.
 *
 * A futex-based lock (Drepper's "mutex 3"): an uncontended lock or unlock
 * is one atomic instruction inlined at the call site, a contended one spins
 * briefly and then sleeps in the kernel.  It allocates nothing, works
 * before libc is initialised, and ThreadSanitizer sees its acquire/release
 * atomics.  The global lock order is written in docs/design.md
 * ("Locking"); debug builds record the rank of the locks each thread holds
 * and assert that locks are taken in increasing rank.
 */
#ifndef FRG_LOCK_H
#define FRG_LOCK_H

#include "util.h"

/* Lock ranks: a thread may only acquire a lock of higher rank than every
 * lock it already holds. */
enum frg_lock_rank {
    FRG_RANK_CTL = 1,    /* mallctl snapshot, stats publication */
    FRG_RANK_PURGER,     /* purger thread control, stats collection */
    FRG_RANK_CPU,        /* per-CPU cache of one CPU (or one lease) */
    FRG_RANK_LEASE,      /* free lease records */
    FRG_RANK_TRANSFER,   /* transfer cache of one size class */
    FRG_RANK_CENTRAL,    /* central list of one size class */
    FRG_RANK_HUGE,       /* huge mappings and their cache */
    FRG_RANK_LARGE_CACHE, /* freed large runs kept for reuse */
    FRG_RANK_PAGE_PURGE, /* one page-heap purge at a time (madvise phase) */
    FRG_RANK_PAGEHEAP,   /* chunks and page runs */
    FRG_RANK_META,       /* descriptor pools, page-map leaf creation */
    FRG_RANK_META_BUMP,  /* the metadata bump allocator */
};

typedef struct {
    int state; /* 0 free, 1 held, 2 held with (possible) sleepers */
    int rank;
} frg_lock_t;

#define FRG_LOCK_INIT(rank) {0, (rank)}

/* A lock that is a global variable of its own, padded to a whole cache
 * line: the threads that take it do not evict a neighbouring variable's
 * line from CPUs that only read that variable (design.md, "Data layout"). */
typedef struct {
    frg_lock_t lock;
} FRG_ALIGNED(FRG_CACHELINE) frg_padded_lock_t;

#define FRG_PADDED_LOCK_INIT(rank) {FRG_LOCK_INIT(rank)}

#ifdef FRG_DEBUG
FRG_HIDDEN void frg_lock_debug_acquire(frg_lock_t *l);
FRG_HIDDEN void frg_lock_debug_release(frg_lock_t *l);
FRG_HIDDEN void frg_lock_debug_forget_all(void);
#else
#define frg_lock_debug_acquire(l) ((void)(l))
#define frg_lock_debug_release(l) ((void)(l))
#define frg_lock_debug_forget_all() ((void)0)
#endif

FRG_HIDDEN void frg_lock_slow(frg_lock_t *l);
FRG_HIDDEN void frg_unlock_wake(frg_lock_t *l);

FRG_INLINE void frg_lock(frg_lock_t *l) {
    int expected = 0;
    if (FRG_UNLIKELY(!__atomic_compare_exchange_n(&l->state, &expected, 1, false,
                                                  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
        frg_lock_slow(l);
    frg_lock_debug_acquire(l);
}
FRG_INLINE bool frg_trylock(frg_lock_t *l) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&l->state, &expected, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return false;
    frg_lock_debug_acquire(l);
    return true;
}
FRG_INLINE void frg_unlock(frg_lock_t *l) {
    frg_lock_debug_release(l);
    if (FRG_UNLIKELY(__atomic_exchange_n(&l->state, 0, __ATOMIC_RELEASE) == 2))
        frg_unlock_wake(l);
}
/* After fork, in the child: the lock is free again whoever held it. */
FRG_INLINE void frg_lock_reinit(frg_lock_t *l) { __atomic_store_n(&l->state, 0, __ATOMIC_RELAXED); }

/* The fork handlers' view of an array of n structures `stride` bytes apart
 * whose lock is at `first` in the first one (one lock per CPU, class or
 * shard): take them all in order, release them in reverse, or (in the
 * child) make them free again. */
#define FRG_LOCK_ARRAY(array, n, member) \
    (&(array)[0].member), (size_t)(n), sizeof((array)[0])
FRG_HIDDEN void frg_lock_each(frg_lock_t *first, size_t n, size_t stride);
FRG_HIDDEN void frg_unlock_each(frg_lock_t *first, size_t n, size_t stride);
FRG_HIDDEN void frg_lock_reinit_each(frg_lock_t *first, size_t n, size_t stride);

#endif
