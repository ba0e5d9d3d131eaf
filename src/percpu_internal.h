/*
 * percpu_internal.h - what percpu_init.c (mode, budget, layout), percpu.c
 * (capacity, slow paths) and percpu_drain.c (draining, idle decay,
 * statistics, fork) share; no other file includes it.
 *
 * A cache index names one region of cached objects: 0 .. ncpus - 1 are
 * the CPUs' caches, ncpus .. ncaches - 1 the leases (lease mode only).
 * Locking: caches[i].lock (rank CPU) serialises everything that changes
 * cache i's capacities (`end`) or drains it; in lock mode it also guards
 * every pop and push of a CPU's cache, and in lease mode it is the
 * lease's lock (the holder takes it in its slow paths, never in its fast
 * path).
 */
#ifndef FRG_PERCPU_INTERNAL_H
#define FRG_PERCPU_INTERNAL_H

#include "lock.h"
#include "percpu.h"

/* slots start after the headers, cache aligned (in 8-byte words) */
#define FIRST_SLOT ((FRG_NCACHE_CLASSES * 8 + 63) / 64 * 8)
#define MAX_SLOTS 640 /* FIRST_SLOT + 80 classes x 640 fit 16-bit indexes */
#define MAX_LARGE_SLOTS 8 /* runs of one large class a cache may hold */
#define MAX_BATCH 32

struct cache_state {
    frg_lock_t lock;
    size_t capacity_bytes; /* sum over small classes of capacity * size */
    size_t large_capacity_bytes; /* the same for large classes */
    unsigned steal_cursor, steal_tick;
    uint64_t signature;    /* purger: cache contents seen last time */
    uint64_t unchanged_since_ns;
    uint64_t misses, overflows, drains;
} FRG_ALIGNED(FRG_CACHELINE);

FRG_HIDDEN extern struct cache_state *frg_caches;
FRG_HIDDEN extern unsigned frg_ncpus, frg_ncaches;
FRG_HIDDEN extern uint16_t frg_slot_begin[FRG_NCACHE_CLASSES];
/* Each class's most slots in a cache, and how many objects move at once
 * between a cache and the transfer cache (percpu_init.c's layout). */
FRG_HIDDEN extern uint16_t frg_max_slots[FRG_NCACHE_CLASSES];
FRG_HIDDEN extern uint8_t frg_batch[FRG_NCACHE_CLASSES];
/* Capacity of the large classes on all caches: counted in the dirty
 * budget with the large runs' other cache (large.c). */
FRG_HIDDEN extern size_t frg_large_capacity_total;

/* The counter of cache class c's capacity in st (small and large classes
 * have separate budgets: cache_max and large_cache_max). */
FRG_INLINE size_t *frg_capacity_of(struct cache_state *st, unsigned c) {
    return frg_cache_class_is_large(c) ? &st->large_capacity_bytes : &st->capacity_bytes;
}
/* Bytes of capacity cache st has, small and large classes together. */
FRG_INLINE size_t frg_capacity_total(const struct cache_state *st) {
    return __atomic_load_n(&st->capacity_bytes, __ATOMIC_RELAXED) +
           __atomic_load_n(&st->large_capacity_bytes, __ATOMIC_RELAXED);
}
/* Change class c's capacity on st by delta bytes (any sign). */
FRG_INLINE void frg_capacity_add(struct cache_state *st, unsigned c, size_t delta) {
    __atomic_fetch_add(frg_capacity_of(st, c), delta, __ATOMIC_RELAXED);
    if (frg_cache_class_is_large(c))
        __atomic_fetch_add(&frg_large_capacity_total, delta, __ATOMIC_RELAXED);
}
/* Give up to n cached objects of class c back: small ones to the central
 * lists or the transfer cache, large runs to large.c.  True: pages may
 * have gone over the dirty budget (purge after unlocking). */
FRG_HIDDEN bool frg_percpu_flush_objects(unsigned c, void **objs, unsigned n, bool draining);

FRG_INLINE uint16_t load16(const uint16_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
FRG_INLINE void store16(uint16_t *p, uint16_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* Cache index i is a lease. */
FRG_INLINE bool frg_is_lease(unsigned i) { return i >= frg_ncpus; }

#endif
