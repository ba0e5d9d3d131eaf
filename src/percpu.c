/*
 * percpu.c - the caches' capacity balancing and slow paths.
 *
 * Owns: the capacities within the regions (each class's `end`, and the
 * byte counts of struct cache_state), and the refills and flushes of all
 * three modes (rseq, lease, lock).  The mode, the budget and the layout
 * are set up by percpu_init.c; draining and statistics are
 * percpu_drain.c's.
 * Locking (percpu_internal.h): caches[i].lock (rank CPU) serialises every
 * change of cache i's capacities (`end`); in lock mode it also guards
 * every pop and push of a CPU's cache, and in lease mode a holder's slow
 * paths take it for its lease.  In rseq mode, and for a lease's holder,
 * pops and pushes take no lock.  Refills and flushes go through the
 * transfer cache (rank TRANSFER) for small classes and large.c's shards
 * (rank LARGE_CACHE) and the page heap for large ones, in lock and lease
 * mode with the cache's lock held.  Eager purging
 * (frg_pageheap_enforce_budget, which may madvise) runs only after the
 * lock is released.
 */
#define _GNU_SOURCE
#include "percpu_internal.h"

#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "central.h"
#include "init.h"
#include "large.h"
#include "lease.h"
#include "lock.h"
#include "pageheap.h"
#include "options.h"
#include "purge.h"
#include "transfer.h"
#include "vg.h"

size_t frg_large_capacity_total; /* percpu_internal.h */

/* ---- helpers shared by the modes ---------------------------------------- */

unsigned frg_percpu_current_cpu(void) {
#if FRG_HAVE_RSEQ
    if (frg_fastpath.cache_mode == FRG_CACHE_RSEQ) {
        int c = frg_rseq_cpu();
        if (c >= 0)
            return (unsigned)c;
    }
#endif
    int c = sched_getcpu();
    return c >= 0 && (unsigned)c < frg_ncpus ? (unsigned)c : 0;
}

/* Set a class's end on `cpu` (caller holds the CPU lock). */
static bool set_end(unsigned cpu, unsigned cls, unsigned new_end) {
#if FRG_HAVE_RSEQ
    if (frg_fastpath.cache_mode == FRG_CACHE_RSEQ)
        return frg_rseq_set_end(cpu, cls, new_end);
#endif
    struct frg_cache_hdr *h = frg_cpu_hdr(cpu, cls);
    if (h->current > new_end)
        return false;
    store16(&h->end, (uint16_t)new_end);
    return true;
}

/* Take up to `need` bytes of unused capacity from other classes of the
 * same kind (small or large: their budgets are separate), looking at a
 * few classes from a rotating cursor. */
#define STEAL_SCAN 8
static size_t steal_capacity(struct cache_state *st, unsigned cpu, unsigned cls, size_t need) {
    size_t got = 0;
    bool large = frg_cache_class_is_large(cls);
    unsigned first = large ? FRG_NCLASSES : 0, count = large ? FRG_NLARGE_CLASSES : FRG_NCLASSES;
    for (unsigned i = 0; i < STEAL_SCAN && got < need; i++) {
        unsigned v = first + (st->steal_cursor + i) % count;
        if (v == cls)
            continue;
        struct frg_cache_hdr *h = frg_cpu_hdr(cpu, v);
        unsigned cur = load16(&h->current), end = load16(&h->end);
        if (end <= cur)
            continue;
        size_t size = frg_class_size(v);
        size_t take = (need - got + size - 1) / size;
        if (take > end - cur)
            take = end - cur;
        if (set_end(cpu, v, end - (unsigned)take)) {
            frg_capacity_add(st, v, -(take * size));
            got += take * size;
        }
    }
    st->steal_cursor = (st->steal_cursor + STEAL_SCAN) % FRG_NCLASSES;
    return got;
}

/* Grow a class's capacity by up to one batch, within the CPU's budget.
 * When the budget is spent, capacity is taken from other classes, but only
 * on one miss in STEAL_EVERY: classes taking capacity back and forth on
 * every miss would cost more than the misses.  The checks that most calls
 * end at are inline (grow_capacity); the rest is grow_capacity_now.
 * `locked`: the caller already holds the CPU lock (lock mode). */
#define STEAL_EVERY 16
static FRG_NOINLINE void grow_capacity_now(unsigned cpu, unsigned cls, bool locked);

/* The capacity budget class cls's capacity counts against on a CPU. */
FRG_INLINE size_t capacity_budget(unsigned cls) {
    return frg_cache_class_is_large(cls) ? frg_opt.large_cache_max : frg_opt.cache_max;
}

FRG_INLINE void grow_capacity(unsigned cpu, unsigned cls, bool locked) {
    struct cache_state *st = &frg_caches[cpu];
    const struct frg_cache_hdr *h = frg_cpu_hdr(cpu, cls);
    if (load16(&h->end) - load16(&h->begin) >= frg_max_slots[cls])
        return; /* already as large as it may be (or stopped) */
    size_t budget = capacity_budget(cls);
    if (__atomic_load_n(frg_capacity_of(st, cls), __ATOMIC_RELAXED) +
            frg_batch[cls] * frg_class_size(cls) > budget) {
        /* a racy count is fine: it only spaces out the turns */
        unsigned tick = __atomic_load_n(&st->steal_tick, __ATOMIC_RELAXED) + 1;
        __atomic_store_n(&st->steal_tick, tick, __ATOMIC_RELAXED);
        if (tick % STEAL_EVERY)
            return; /* budget spent and not our turn to take from others */
    }
    grow_capacity_now(cpu, cls, locked);
}

static FRG_NOINLINE void grow_capacity_now(unsigned cpu, unsigned cls, bool locked) {
    struct cache_state *st = &frg_caches[cpu];
    struct frg_cache_hdr *h = frg_cpu_hdr(cpu, cls);
    size_t *capacity = frg_capacity_of(st, cls);
    size_t budget = capacity_budget(cls);
    if (!locked && !frg_trylock(&st->lock))
        return; /* someone is busy with this CPU: skip growing this time */
    unsigned begin = load16(&h->begin), end = load16(&h->end);
    if (begin != FRG_STOPPED_BEGIN && end - begin < frg_max_slots[cls]) {
        size_t size = frg_class_size(cls);
        unsigned want = frg_batch[cls];
        if (want > frg_max_slots[cls] - (end - begin))
            want = frg_max_slots[cls] - (end - begin);
        size_t need = want * size;
        /* A large class's capacity holds free pages: the dirty budget
         * must have room for it (large.c counts it there); asked first,
         * so that no other class gives up capacity for nothing. */
        if (frg_cache_class_is_large(cls) && frg_purge_keep_room() < (int64_t)need)
            want = 0, need = 0;
        if (want && *capacity + need > budget)
            steal_capacity(st, cpu, cls, *capacity + need - budget);
        if (want && *capacity + need > budget) {
            size_t room = budget > *capacity ? budget - *capacity : 0;
            want = (unsigned)(room / size);
        }
        if (want && set_end(cpu, cls, end + want)) {
            frg_capacity_add(st, cls, want * size);
            frg_purge_notify(); /* the purger decays idle caches */
        }
    }
    if (!locked)
        frg_unlock(&st->lock);
}

/* A miss of malloc grows a small class: its refill fills the room.  A
 * large class grows only when a free finds it full: a refill brings one
 * run, for the caller, and the CPU of a thread that only allocates runs
 * (a producer) would hold capacity nothing fills, which the dirty budget
 * counts against the shards. */
static void grow_on_alloc_miss(unsigned cpu, unsigned cls, bool locked) {
    if (!frg_cache_class_is_large(cls))
        grow_capacity(cpu, cls, locked);
}

/* ---- where a cache's objects come from and go ----------------------------- */

/* How many objects a miss of class cls fetches when its cache has room
 * for `room`: one for the caller and a batch of small objects; for a large
 * class, as many runs as fit (large.c gives more than one only from its
 * own shard, where a full class gave them in one call). */
_Static_assert(MAX_LARGE_SLOTS + 1 <= MAX_BATCH, "a large refill or flush fits a batch buffer");
FRG_INLINE unsigned refill_want(unsigned cls, unsigned room) {
    unsigned most = frg_cache_class_is_large(cls) ? MAX_LARGE_SLOTS + 1u : frg_batch[cls];
    return room + 1 < most ? room + 1 : most;
}

/* Up to n objects of class c for a cache: small ones from the transfer
 * cache, large runs from large.c. */
static unsigned refill(unsigned c, void **out, unsigned n) {
    if (frg_cache_class_is_large(c))
        return frg_large_cache_refill(c, out, n);
    return frg_transfer_alloc_batch(c, out, n);
}

bool frg_percpu_flush_objects(unsigned c, void **objs, unsigned n, bool draining) {
    if (frg_cache_class_is_large(c))
        return frg_large_cache_flush(objs, n, draining);
    return draining ? frg_central_free_batch(c, objs, n) : frg_transfer_free_batch(c, objs, n);
}

/* Objects a full cache of class c on CPU `cpu` gives back with the one
 * that did not fit: a batch of small ones, so that the next frees fit.
 * Large runs go one at a time (each is kept whole in large.c's shard, and
 * the cache's runs are the newest), except from a class that holds all
 * the runs it may (frg_max_slots, 8 at the default): there, half of them go
 * with it, so that a CPU that only frees a class (a consumer) takes the
 * shard's lock once every few frees, not at each, and the CPU that
 * allocates them (the producer) finds them in the shard without meeting
 * it there on every call (bigblocks 128 KiB producer + consumer
 * 1.35-1.39x mimalloc -> 1.09-1.18x; a refill takes them back as a
 * batch, refill_want).  A class held below max_slots by the capacity
 * budget (random sizes, many classes) keeps flushing one at a time:
 * halving it there cost bigblocks 64-512 KiB at 8 threads 23-31 %. */
static unsigned flush_batch(unsigned c, unsigned cpu) {
    if (!frg_cache_class_is_large(c))
        return frg_batch[c];
    const struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
    unsigned half = frg_max_slots[c] / 2u;
    return half > 1 && (unsigned)(load16(&h->end) - load16(&h->begin)) >= frg_max_slots[c] ? half - 1 : 0;
}

/* ---- lock and lease modes -------------------------------------------------- */

/* Pop an object of class cls from cache idx, refilling it from the
 * transfer cache on a miss; caller holds the cache's lock.  *released:
 * pages may have gone over the dirty budget (purge after unlocking). */
/* Pop an object of class cls off cache idx if it holds one, else NULL;
 * caller holds the cache's lock. */
FRG_INLINE void *pop_cached_locked(unsigned idx, unsigned cls) {
    struct frg_cache_hdr *h = frg_cpu_hdr(idx, cls);
    if (h->current <= h->begin)
        return NULL;
    void **slots = frg_cpu_slots(idx);
    store16(&h->current, h->current - 1);
    void *p = slots[h->current];
    if (FRG_VG_ENABLED)
        slots[h->current] = NULL; /* memcheck's leak scan must not find it here */
    return p;
}

FRG_INLINE void *pop_locked(unsigned idx, unsigned cls, bool *released) {
    struct cache_state *st = &frg_caches[idx];
    void **slots = frg_cpu_slots(idx);
    struct frg_cache_hdr *h = frg_cpu_hdr(idx, cls);
    void *p = pop_cached_locked(idx, cls);
    if (p)
        return p;
    __atomic_fetch_add(&st->misses, 1, __ATOMIC_RELAXED);
    frg_note_activity();
    grow_on_alloc_miss(idx, cls, true);
    void *buf[MAX_BATCH];
    unsigned room = h->end - h->current;
    unsigned got = refill(cls, buf, refill_want(cls, room));
    if (got) {
        p = buf[0];
        unsigned i = 1;
        while (i < got && h->current < h->end) {
            slots[h->current] = buf[i++];
            store16(&h->current, h->current + 1);
        }
        if (i < got)
            *released |= frg_percpu_flush_objects(cls, buf + i, got - i, false);
    }
    return p;
}

/* Push p onto cache idx, flushing a batch to the transfer cache when it is
 * full; caller holds the cache's lock. */
FRG_INLINE void push_locked(unsigned idx, unsigned cls, void *p, bool *released) {
    struct cache_state *st = &frg_caches[idx];
    void **slots = frg_cpu_slots(idx);
    struct frg_cache_hdr *h = frg_cpu_hdr(idx, cls);
    if (h->current >= h->end) {
        __atomic_fetch_add(&st->overflows, 1, __ATOMIC_RELAXED);
        frg_note_activity();
        grow_capacity(idx, cls, true);
    }
    if (h->current >= h->end) {
        void *buf[MAX_BATCH + 1];
        unsigned n = 0, want = flush_batch(cls, idx);
        while (n < want && h->current > h->begin) {
            store16(&h->current, h->current - 1);
            buf[n++] = slots[h->current];
        }
        buf[n++] = p;
        *released |= frg_percpu_flush_objects(cls, buf, n, false);
    } else {
        slots[h->current] = p;
        store16(&h->current, h->current + 1);
    }
}

/* The cache the calling thread uses in lock or lease mode, locked: its
 * lease (taking a free one if it has none), else its CPU's. */
FRG_INLINE unsigned lock_my_cache(void) {
    if (frg_fastpath.cache_mode == FRG_CACHE_LEASE) {
        /* The lease this thread holds or last held: still its own?  A new
         * one only once that lock says no, so that a thread is never the
         * holder of two.  That lock taken by someone else means a drain
         * is taking the lease back: use the CPU's cache this time rather
         * than wait. */
        int idx = frg_lease_last();
        bool mine_known = idx < 0;
        if (idx >= 0 && frg_trylock(&frg_caches[idx].lock)) {
            if (frg_lease_held_by_me((unsigned)idx))
                return (unsigned)idx;
            frg_unlock(&frg_caches[idx].lock); /* taken back meanwhile */
            mine_known = true;
        }
        if (mine_known && (idx = frg_lease_take()) >= 0) {
            frg_lock(&frg_caches[idx].lock);
            frg_lease_bind((unsigned)idx, (uintptr_t)frg_cpu_slots((unsigned)idx));
            return (unsigned)idx;
        }
    }
    unsigned cpu = frg_percpu_current_cpu();
    frg_lock(&frg_caches[cpu].lock);
    return cpu;
}

static void *locked_alloc(unsigned cls) {
    bool released = false;
    unsigned idx = lock_my_cache();
    void *p = pop_locked(idx, cls, &released);
    frg_unlock(&frg_caches[idx].lock);
    if (released)
        frg_pageheap_enforce_budget();
    return p;
}

/* Clear word 1 of an object taken from a cache (see frg_cache_alloc). */
static void clear_free_key(void *p) {
    FRG_VG_OWN((uint64_t *)p + 1, 8); /* memcheck: still a freed block */
    ((uint64_t *)p)[1] = 0;
}

void *frg_cache_take_cached_slow(uintptr_t cls) {
    if (frg_fastpath.cache_mode == FRG_CACHE_OFF)
        return NULL;
    void *p = frg_fastpath.cache_mode == FRG_CACHE_LEASE ? frg_lease_pop(cls) : NULL;
    if (!p) { /* lock mode, or a thread without a lease */
        unsigned idx = lock_my_cache();
        p = pop_cached_locked(idx, (unsigned)cls);
        frg_unlock(&frg_caches[idx].lock);
    }
    if (p)
        clear_free_key(p);
    return p;
}

static void locked_free(unsigned cls, void *p) {
    bool released = false;
    unsigned idx = lock_my_cache();
    push_locked(idx, cls, p, &released);
    frg_unlock(&frg_caches[idx].lock);
    if (released)
        frg_pageheap_enforce_budget();
}

/* ---- rseq mode ------------------------------------------------------------ */

#if FRG_HAVE_RSEQ
/* The CPU this thread runs on, registering frgmalloc's own rseq area for
 * it first if that is the area in use and the thread has not tried yet;
 * negative if the thread has no registration. */
static int rseq_miss_cpu(void) {
    int cpu = frg_rseq_cpu();
    if (cpu < 0 && frg_rseq_own_register())
        cpu = frg_rseq_cpu();
    return cpu;
}

static void *rseq_alloc_miss(unsigned cls) {
    int cpu = rseq_miss_cpu();
    if (cpu < 0) { /* this thread has no rseq registration */
        void *p;
        return refill(cls, &p, 1) ? p : NULL;
    }
    __atomic_fetch_add(&frg_caches[cpu].misses, 1, __ATOMIC_RELAXED);
    frg_note_activity();
    grow_on_alloc_miss((unsigned)cpu, cls, false);
    /* Fetch what the cache has room for (a hint: we may migrate), plus the
     * one to return; fetching more would only send the rest back. */
    struct frg_cache_hdr *h = frg_cpu_hdr((unsigned)cpu, cls);
    unsigned room = load16(&h->end) - load16(&h->current);
    unsigned want = refill_want(cls, room);
    if (room > 0xffff - MAX_BATCH) /* stopped for a drain: end < current */
        want = 1;
    void *buf[MAX_BATCH];
    unsigned got = refill(cls, buf, want);
    if (!got)
        return NULL;
    unsigned pushed = frg_rseq_push_batch(cls, buf + 1, got - 1);
    if (pushed < got - 1 && frg_percpu_flush_objects(cls, buf + 1 + pushed, got - 1 - pushed, false))
        frg_pageheap_enforce_budget();
    return buf[0];
}

static void rseq_free_miss(unsigned cls, void *p) {
    int cpu = rseq_miss_cpu();
    if (cpu >= 0) {
        __atomic_fetch_add(&frg_caches[cpu].overflows, 1, __ATOMIC_RELAXED);
        frg_note_activity();
        grow_capacity((unsigned)cpu, cls, false);
        if (frg_rseq_push(cls, p))
            return;
    }
    void *buf[MAX_BATCH + 1];
    unsigned want = cpu >= 0 ? flush_batch(cls, (unsigned)cpu) : 0;
    unsigned n = want ? frg_rseq_pop_batch(cls, buf, want) : 0;
    buf[n++] = p;
    if (frg_percpu_flush_objects(cls, buf, n, false))
        frg_pageheap_enforce_budget();
}
#endif

/* ---- entry points -------------------------------------------------------- */

static void *cache_alloc_slow(unsigned cls);

void *frg_cache_alloc_slow(uintptr_t cls) {
    void *p = cache_alloc_slow(cls);
    if (p)
        clear_free_key(p);
    return p;
}

static void *cache_alloc_slow(unsigned cls) {
    if (FRG_UNLIKELY(!frg_ensure_init()))
        return NULL;
    switch (frg_fastpath.cache_mode) {
#if FRG_HAVE_RSEQ
    case FRG_CACHE_RSEQ: {
        void *p = frg_rseq_pop(cls); /* the first call lands here before init */
        return p ? p : rseq_alloc_miss(cls);
    }
#endif
    case FRG_CACHE_LEASE: {
        void *p = frg_lease_pop(cls); /* the first call lands here before init */
        return p ? p : locked_alloc(cls);
    }
    case FRG_CACHE_LOCK:
        return locked_alloc(cls);
    default: {
        void *p;
        frg_note_activity();
        return frg_central_alloc_batch(cls, &p, 1) ? p : NULL;
    }
    }
}

size_t frg_percpu_large_capacity(void) {
    return __atomic_load_n(&frg_large_capacity_total, __ATOMIC_RELAXED);
}

void frg_cache_free_slow(uintptr_t cls, void *p) {
    switch (frg_fastpath.cache_mode) {
#if FRG_HAVE_RSEQ
    case FRG_CACHE_RSEQ:
        rseq_free_miss(cls, p);
        return;
#endif
    case FRG_CACHE_LEASE:
    case FRG_CACHE_LOCK:
        locked_free(cls, p);
        return;
    default:
        frg_note_activity();
        if (frg_central_free_batch(cls, &p, 1))
            frg_pageheap_enforce_budget();
    }
}

