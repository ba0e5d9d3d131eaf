/*
 * percpu.h - per-CPU caches of free objects: the fast path of malloc and
 * free.
 *
 * Each CPU caches, per size class, a bounded stack of free objects (layout
 * in rseq.h): small objects, and free runs of the large classes
 * (sizeclass.h) up to `large_cache_max`.  Four modes, chosen at start-up (option `percpu`):
 *  - rseq: pop and push are restartable sequences on glibc's rseq
 *    registration (or frgmalloc's own): no lock, no atomic instruction;
 *  - lease: where rseq cannot be used (GLIBC_TUNABLES=glibc.pthread.rseq=0,
 *    kernels before 5.10, other architectures) but membarrier can: up to
 *    `leases` threads at once hold a cache region of their own and pop and
 *    push with plain loads and stores (lease.h); other threads use the CPU
 *    caches as in lock mode;
 *  - lock: the same caches, indexed by sched_getcpu() and guarded by a
 *    per-CPU mutex (kernels without membarrier, --enable-valgrind builds);
 *  - off:  no cache; every call goes to the central lists.
 * The bytes each cache may hold are bounded by `cache_max` for small
 * classes and `large_cache_max` for large ones; capacity moves between
 * classes of a kind on demand (a miss grows a class, taking unused
 * capacity from others when the budget is spent; a large class grows only
 * on a free, and within the dirty budget).  Memory held in caches is bounded
 * by the number of CPUs (plus as many leases), never by the number of
 * threads.
 */
#ifndef FRG_PERCPU_H
#define FRG_PERCPU_H

#include "lease.h"
#include "rseq.h"
#include "sizeclass.h"

/* The caches hold objects of every size class (FRG_NCACHE_CLASSES): the
 * small classes' objects and the large classes' free runs (sizeclass.h). */
FRG_INLINE bool frg_cache_class_is_large(unsigned c) { return c >= FRG_NCLASSES; }
/* The cache class of a large request of n pages (n <= 256): its large
 * class, if the caches take runs of it (up to large_cache_max); 0 if not,
 * without caches (percpu:off) and before initialisation.  One load where
 * the class's arithmetic took 30 instructions: with fewer instructions in
 * flight, a loop's own work overlaps the allocator's (bench/RESULTS.md
 * section 4). */
FRG_HIDDEN extern uint8_t frg_percpu_large_class[FRG_LARGE_MAX / FRG_PAGE + 1];

enum frg_cache_mode { FRG_CACHE_OFF, FRG_CACHE_LOCK, FRG_CACHE_RSEQ, FRG_CACHE_LEASE };
#define FRG_MAX_LEASES 1024

FRG_HIDDEN void *frg_cache_alloc_slow(uintptr_t cls);
FRG_HIDDEN void frg_cache_free_slow(uintptr_t cls, void *p);

/* An object of class cls whose word 1 (where free leaves its key) is
 * cleared, or NULL with errno = ENOMEM. */
FRG_INLINE void *frg_cache_alloc(uintptr_t cls) {
#if FRG_HAVE_RSEQ
    if (FRG_LIKELY(frg_fastpath.cache_mode == FRG_CACHE_RSEQ)) {
        void *p = frg_rseq_pop(cls);
        if (FRG_LIKELY(p != NULL)) {
            ((uint64_t *)p)[1] = 0;
            return p;
        }
    } else
#endif
    /* a second load, not the rseq test's register: keeps that path short */
    if (__atomic_load_n(&frg_fastpath.cache_mode, __ATOMIC_RELAXED) == FRG_CACHE_LEASE) {
        void *p = frg_lease_pop(cls);
        if (FRG_LIKELY(p != NULL)) {
            ((uint64_t *)p)[1] = 0;
            return p;
        }
    }
    return frg_cache_alloc_slow(cls);
}

FRG_HIDDEN void *frg_cache_take_cached_slow(uintptr_t cls);
/* An object of class cls that the calling thread's cache holds, without
 * a refill, word 1 cleared; else NULL.  (Shaped as frg_cache_alloc: with
 * more paths merging after the pop, gcc 12 tested the pop's output
 * register on its miss path, where the asm leaves it unset.) */
FRG_INLINE void *frg_cache_take_cached(uintptr_t cls) {
#if FRG_HAVE_RSEQ
    if (FRG_LIKELY(frg_fastpath.cache_mode == FRG_CACHE_RSEQ)) {
        void *p = frg_rseq_pop(cls);
        if (p)
            ((uint64_t *)p)[1] = 0;
        return p;
    }
#endif
    return frg_cache_take_cached_slow(cls);
}

/* p is a validated live object of class cls. */
FRG_INLINE void frg_cache_free(uintptr_t cls, void *p) {
#if FRG_HAVE_RSEQ
    if (FRG_LIKELY(frg_fastpath.cache_mode == FRG_CACHE_RSEQ)) {
        if (FRG_LIKELY(frg_rseq_push(cls, p)))
            return;
    } else
#endif
    if (__atomic_load_n(&frg_fastpath.cache_mode, __ATOMIC_RELAXED) == FRG_CACHE_LEASE &&
        FRG_LIKELY(frg_lease_push(cls, p)))
        return;
    frg_cache_free_slow(cls, p);
}

/* Bytes of capacity the large classes have on all caches (read without
 * a lock): an upper bound on the free runs they hold. */
FRG_HIDDEN size_t frg_percpu_large_capacity(void);

/* Set up the caches for the chosen mode; returns the mode in force. */
FRG_HIDDEN int frg_percpu_init(void);
FRG_HIDDEN unsigned frg_percpu_ncpus(void);
/* The CPU the caller runs on, below frg_percpu_ncpus() (0 before
 * initialisation): rseq's cpu_id where the thread has it, else
 * sched_getcpu(); the thread may have moved on by the time it is used. */
FRG_HIDDEN unsigned frg_percpu_current_cpu(void);
/* Caches in use: one per CPU, plus the leases in lease mode. */
FRG_HIDDEN unsigned frg_percpu_ncaches(void);
/* Return every cached object of every CPU to the central lists; with
 * `reset_capacity` also give up the capacity (it regrows on demand).
 * Returns bytes of objects flushed. */
FRG_HIDDEN size_t frg_percpu_drain_all(bool reset_capacity);
/* Drain every CPU cache; false if some CPU was skipped (a drain that
 * cannot fence its CPU leaves it alone). */
FRG_HIDDEN bool frg_percpu_drain_all_exact(void);
/* Flush the cache of the CPU the caller runs on. */
FRG_HIDDEN size_t frg_percpu_flush_current(void);
/* Purger hook: drain CPUs whose caches have not changed for `idle_ns`;
 * returns the bytes of objects moved to the central lists.  *all_idle:
 * no CPU's cache changed for `idle_ns`. */
FRG_HIDDEN size_t frg_percpu_decay(uint64_t now_ns, uint64_t idle_ns, bool *all_idle);

struct frg_percpu_stats {
    size_t cached_bytes;                    /* objects sitting in caches */
    size_t capacity_bytes;                  /* sum of capacities */
    size_t capacity_slots;                  /* slots those capacities use */
    size_t cached_objs[FRG_NCACHE_CLASSES]; /* per class, all CPUs */
    uint64_t misses, overflows, drains;     /* slow-path events */
};
FRG_HIDDEN void frg_percpu_stats(struct frg_percpu_stats *out);
FRG_HIDDEN size_t frg_percpu_cpu_cached_bytes(unsigned cpu);

FRG_HIDDEN void frg_percpu_lock_all(void);
FRG_HIDDEN void frg_percpu_unlock_all(void);
FRG_HIDDEN void frg_percpu_after_fork_child(void);

#endif
