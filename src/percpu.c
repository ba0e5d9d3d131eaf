/*
 * percpu.c - per-CPU cache slow paths, capacity balancing and draining.
 *
 * Owns: the per-CPU regions' contents, struct cpu_state, the cache mode.
 * Locking: cpu_state[c].lock (rank CPU) serialises everything that changes
 * CPU c's capacities (`end`) or drains it; in lock mode it also guards
 * every pop and push.  In rseq mode pops and pushes take no lock (rseq.h).
 * Refills and flushes go through the transfer cache (rank TRANSFER), in
 * lock mode with the CPU lock held; draining calls the central lists (rank
 * CENTRAL) directly, with the CPU lock held.  Eager purging
 * (frg_pageheap_enforce_budget, which may madvise) runs only after the CPU
 * lock is released.
 */
#define _GNU_SOURCE
#include "percpu.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "central.h"
#include "cpufence.h"
#include "init.h"
#include "lock.h"
#include "pageheap.h"
#include "meta.h"
#include "options.h"
#include "os.h"
#include "purge.h"
#include "report.h"
#include "transfer.h"
#include "vg.h"

/* slots start after the headers, cache aligned (in 8-byte words) */
#define FIRST_SLOT ((FRG_NCLASSES * 8 + 63) / 64 * 8)
#define MAX_SLOTS 640 /* FIRST_SLOT + 80 classes x 640 fit 16-bit indexes */
#define MAX_BATCH 32

int frg_cache_mode = FRG_CACHE_OFF;

struct cpu_state {
    frg_lock_t lock;
    size_t capacity_bytes; /* sum over classes of capacity * size */
    unsigned steal_cursor, steal_tick;
    uint64_t signature;    /* purger: cache contents seen last time */
    uint64_t unchanged_since_ns;
    uint64_t misses, overflows, drains;
} FRG_ALIGNED(FRG_CACHELINE);

static struct cpu_state *cpus;
static unsigned ncpus;
static uint16_t slot_begin[FRG_NCLASSES], max_slots[FRG_NCLASSES];
static uint8_t batch[FRG_NCLASSES];

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

unsigned frg_percpu_ncpus(void) { return ncpus; }

/* ---- mode selection ---------------------------------------------------- */

/* Whose rseq area the fast paths can use: glibc's if it registered one;
 * otherwise frgmalloc's own, where glibc has no rseq support at all
 * (before 2.35: no __rseq_offset) or option rseq_own:always asks for it.
 * A glibc that supports rseq but was told not to register
 * (glibc.pthread.rseq=0) is obeyed by default: whoever set that may
 * register an area of their own.  The static archive (an SDK's private
 * heap) registers its own only with rseq_own:always: the area lives in
 * the SDK's static TLS, and an SDK that is dlclose'd would leave every
 * thread's registration pointing at TLS the next library is given (the
 * shared library is linked -z nodelete). */
static int rseq_area_available(void) {
#if FRG_HAVE_RSEQ
    bool glibc_knows_rseq = &__rseq_size && &__rseq_offset;
    if (glibc_knows_rseq && __rseq_size >= 12)
        return FRG_RSEQ_AREA_GLIBC;
#ifdef FRG_OVERRIDE_GLIBC
    bool own_by_default = !glibc_knows_rseq;
#else
    bool own_by_default = false;
#endif
    if ((own_by_default && frg_opt.rseq_own == FRG_RSEQ_OWN_AUTO) ||
        frg_opt.rseq_own == FRG_RSEQ_OWN_ALWAYS)
        return FRG_RSEQ_AREA_OWN;
#endif
    return FRG_RSEQ_AREA_NONE;
}

/* Use rseq if an area is available, drains can fence another CPU
 * (cpufence.c), and the calling thread has the area registered.
 * frgmalloc's own area is registered only after the fence is settled, so
 * that a process left in lock mode keeps no registration of ours. */
static bool rseq_usable(void) {
#if FRG_HAVE_RSEQ
    int area = rseq_area_available();
    if (area != FRG_RSEQ_AREA_NONE && frg_cpu_fence_init(ncpus)) {
        if (area == FRG_RSEQ_AREA_OWN) {
            if (frg_rseq_own_init())
                return true;
        } else {
            frg_rseq_off = (long)__rseq_offset;
            frg_rseq_area = FRG_RSEQ_AREA_GLIBC;
            if (frg_rseq_cpu() >= 0)
                return true; /* else glibc's registration failed for this thread */
        }
    }
#endif
    frg_rseq_area = FRG_RSEQ_AREA_NONE;
    return false;
}

int frg_percpu_init(void) {
    unsigned mode_opt = (unsigned)frg_opt.percpu;
    if (mode_opt == FRG_PERCPU_OFF)
        return frg_cache_mode = FRG_CACHE_OFF;
    ncpus = frg_os_possible_cpus();
    cpus = frg_meta_alloc(sizeof(struct cpu_state) * ncpus, FRG_CACHELINE);
    void *regions = frg_os_reserve((size_t)ncpus << FRG_REGION_SHIFT);
    if (!cpus || !regions) {
        frg_warn("no memory for per-CPU caches at start-up; running without them");
        return frg_cache_mode = FRG_CACHE_OFF;
    }
    frg_regions = (uintptr_t)regions;

    unsigned next = FIRST_SLOT;
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        size_t size = frg_class_size(c);
        /* No class may take more than 1/32 of the CPU's budget.  A miss
         * costs the same whatever the object's size, and with 1/8 a few
         * large classes took the whole budget while busy small ones were
         * left a handful of slots each (batches 8 B-1 KiB: 11.3 -> 6.8
         * ns/op, bench/RESULTS.md).  Large objects that do not fit go
         * through the transfer cache, which is cheap. */
        size_t slots = frg_opt.cache_max / 32 / size;
        slots = slots < 2 ? 2 : slots > MAX_SLOTS ? MAX_SLOTS : slots;
        size_t b = (32u << 10) / size;
        batch[c] = (uint8_t)(b < 2 ? 2 : b > MAX_BATCH ? MAX_BATCH : b);
        slot_begin[c] = (uint16_t)next;
        max_slots[c] = (uint16_t)slots;
        next += (unsigned)slots;
    }
    _Static_assert(FIRST_SLOT + FRG_NCLASSES * MAX_SLOTS <= 65535, "slot index fits u16");
    for (unsigned cpu = 0; cpu < ncpus; cpu++) {
        cpus[cpu].lock = (frg_lock_t)FRG_LOCK_INIT(FRG_RANK_CPU);
        for (unsigned c = 0; c < FRG_NCLASSES; c++) {
            struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
            h->current = h->begin = h->end = slot_begin[c];
        }
    }
    if (mode_opt != FRG_PERCPU_LOCK && rseq_usable())
        return frg_cache_mode = FRG_CACHE_RSEQ;
    if (mode_opt == FRG_PERCPU_RSEQ)
        frg_warn("percpu:rseq requested but rseq is unavailable; using percpu:lock");
    return frg_cache_mode = FRG_CACHE_LOCK;
}

/* ---- helpers shared by the modes ---------------------------------------- */

static unsigned current_cpu(void) {
#if FRG_HAVE_RSEQ
    if (frg_cache_mode == FRG_CACHE_RSEQ) {
        int c = frg_rseq_cpu();
        if (c >= 0)
            return (unsigned)c;
    }
#endif
    int c = sched_getcpu();
    return c >= 0 && (unsigned)c < ncpus ? (unsigned)c : 0;
}

static uint16_t load16(const uint16_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void store16(uint16_t *p, uint16_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* Set a class's end on `cpu` (caller holds the CPU lock). */
static bool set_end(unsigned cpu, unsigned cls, unsigned new_end) {
#if FRG_HAVE_RSEQ
    if (frg_cache_mode == FRG_CACHE_RSEQ)
        return frg_rseq_set_end(cpu, cls, new_end);
#endif
    struct frg_cache_hdr *h = frg_cpu_hdr(cpu, cls);
    if (h->current > new_end)
        return false;
    store16(&h->end, (uint16_t)new_end);
    return true;
}

/* Take up to `need` bytes of unused capacity from other classes, looking
 * at a few classes from a rotating cursor. */
#define STEAL_SCAN 8
static size_t steal_capacity(struct cpu_state *st, unsigned cpu, unsigned cls, size_t need) {
    size_t got = 0;
    for (unsigned i = 0; i < STEAL_SCAN && got < need; i++) {
        unsigned v = (st->steal_cursor + i) % FRG_NCLASSES;
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
            __atomic_fetch_sub(&st->capacity_bytes, take * size, __ATOMIC_RELAXED);
            got += take * size;
        }
    }
    st->steal_cursor = (st->steal_cursor + STEAL_SCAN) % FRG_NCLASSES;
    return got;
}

/* Grow a class's capacity by up to one batch, within the CPU's budget.
 * When the budget is spent, capacity is taken from other classes, but only
 * on one miss in STEAL_EVERY: classes taking capacity back and forth on
 * every miss would cost more than the misses.
 * `locked`: the caller already holds the CPU lock (lock mode). */
#define STEAL_EVERY 16
static void grow_capacity(unsigned cpu, unsigned cls, bool locked) {
    struct cpu_state *st = &cpus[cpu];
    struct frg_cache_hdr *h = frg_cpu_hdr(cpu, cls);
    if (load16(&h->end) - load16(&h->begin) >= max_slots[cls])
        return; /* already as large as it may be (or stopped) */
    if (__atomic_load_n(&st->capacity_bytes, __ATOMIC_RELAXED) + batch[cls] * frg_class_size(cls) >
        frg_opt.cache_max) {
        /* a racy count is fine: it only spaces out the turns */
        unsigned tick = __atomic_load_n(&st->steal_tick, __ATOMIC_RELAXED) + 1;
        __atomic_store_n(&st->steal_tick, tick, __ATOMIC_RELAXED);
        if (tick % STEAL_EVERY)
            return; /* budget spent and not our turn to take from others */
    }
    if (!locked && !frg_trylock(&st->lock))
        return; /* someone is busy with this CPU: skip growing this time */
    unsigned begin = load16(&h->begin), end = load16(&h->end);
    if (begin != FRG_STOPPED_BEGIN && end - begin < max_slots[cls]) {
        size_t size = frg_class_size(cls);
        unsigned want = batch[cls];
        if (want > max_slots[cls] - (end - begin))
            want = max_slots[cls] - (end - begin);
        size_t need = want * size;
        if (st->capacity_bytes + need > frg_opt.cache_max)
            steal_capacity(st, cpu, cls, st->capacity_bytes + need - frg_opt.cache_max);
        if (st->capacity_bytes + need > frg_opt.cache_max) {
            size_t room = frg_opt.cache_max > st->capacity_bytes
                            ? frg_opt.cache_max - st->capacity_bytes : 0;
            want = (unsigned)(room / size);
        }
        if (want && set_end(cpu, cls, end + want)) {
            __atomic_fetch_add(&st->capacity_bytes, want * size, __ATOMIC_RELAXED);
            frg_purge_notify(); /* the purger decays idle caches */
        }
    }
    if (!locked)
        frg_unlock(&st->lock);
}

/* ---- lock mode ------------------------------------------------------------ */

static void *locked_alloc(unsigned cls) {
    unsigned cpu = current_cpu();
    struct cpu_state *st = &cpus[cpu];
    void **slots = frg_cpu_slots(cpu);
    struct frg_cache_hdr *h = frg_cpu_hdr(cpu, cls);
    void *p = NULL;
    bool released = false;
    frg_lock(&st->lock);
    if (h->current > h->begin) {
        store16(&h->current, h->current - 1);
        p = slots[h->current];
        if (FRG_VG_ENABLED)
            slots[h->current] = NULL; /* memcheck's leak scan must not find it here */
    } else {
        __atomic_fetch_add(&st->misses, 1, __ATOMIC_RELAXED);
        frg_note_activity();
        grow_capacity(cpu, cls, true);
        void *buf[MAX_BATCH];
        unsigned room = h->end - h->current;
        unsigned got = frg_transfer_alloc_batch(cls, buf, room + 1 < batch[cls] ? room + 1 : batch[cls]);
        if (got) {
            p = buf[0];
            unsigned i = 1;
            while (i < got && h->current < h->end) {
                slots[h->current] = buf[i++];
                store16(&h->current, h->current + 1);
            }
            if (i < got)
                released = frg_transfer_free_batch(cls, buf + i, got - i);
        }
    }
    frg_unlock(&st->lock);
    if (released)
        frg_pageheap_enforce_budget();
    return p;
}

static void locked_free(unsigned cls, void *p) {
    unsigned cpu = current_cpu();
    struct cpu_state *st = &cpus[cpu];
    void **slots = frg_cpu_slots(cpu);
    struct frg_cache_hdr *h = frg_cpu_hdr(cpu, cls);
    bool released = false;
    frg_lock(&st->lock);
    if (h->current >= h->end) {
        __atomic_fetch_add(&st->overflows, 1, __ATOMIC_RELAXED);
        frg_note_activity();
        grow_capacity(cpu, cls, true);
    }
    if (h->current >= h->end) {
        void *buf[MAX_BATCH + 1];
        unsigned n = 0;
        while (n < batch[cls] && h->current > h->begin) {
            store16(&h->current, h->current - 1);
            buf[n++] = slots[h->current];
        }
        buf[n++] = p;
        released = frg_transfer_free_batch(cls, buf, n);
    } else {
        slots[h->current] = p;
        store16(&h->current, h->current + 1);
    }
    frg_unlock(&st->lock);
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
        return frg_transfer_alloc_batch(cls, &p, 1) ? p : NULL;
    }
    __atomic_fetch_add(&cpus[cpu].misses, 1, __ATOMIC_RELAXED);
    frg_note_activity();
    grow_capacity((unsigned)cpu, cls, false);
    /* Fetch what the cache has room for (a hint: we may migrate), plus the
     * one to return; fetching more would only send the rest back. */
    struct frg_cache_hdr *h = frg_cpu_hdr((unsigned)cpu, cls);
    unsigned room = load16(&h->end) - load16(&h->current);
    unsigned want = room + 1 < batch[cls] ? room + 1 : batch[cls];
    if (room > 0xffff - MAX_BATCH) /* stopped for a drain: end < current */
        want = 1;
    void *buf[MAX_BATCH];
    unsigned got = frg_transfer_alloc_batch(cls, buf, want);
    if (!got)
        return NULL;
    unsigned pushed = frg_rseq_push_batch(cls, buf + 1, got - 1);
    if (pushed < got - 1 && frg_transfer_free_batch(cls, buf + 1 + pushed, got - 1 - pushed))
        frg_pageheap_enforce_budget();
    return buf[0];
}

static void rseq_free_miss(unsigned cls, void *p) {
    int cpu = rseq_miss_cpu();
    if (cpu >= 0) {
        __atomic_fetch_add(&cpus[cpu].overflows, 1, __ATOMIC_RELAXED);
        frg_note_activity();
        grow_capacity((unsigned)cpu, cls, false);
        if (frg_rseq_push(cls, p))
            return;
    }
    void *buf[MAX_BATCH + 1];
    unsigned n = cpu >= 0 ? frg_rseq_pop_batch(cls, buf, batch[cls]) : 0;
    buf[n++] = p;
    if (frg_transfer_free_batch(cls, buf, n))
        frg_pageheap_enforce_budget();
}
#endif

/* ---- entry points -------------------------------------------------------- */

static void *cache_alloc_slow(unsigned cls);

void *frg_cache_alloc_slow(uintptr_t cls) {
    void *p = cache_alloc_slow(cls);
    if (p) {
        FRG_VG_OWN((uint64_t *)p + 1, 8); /* memcheck: still a freed block */
        ((uint64_t *)p)[1] = 0;           /* see frg_cache_alloc */
    }
    return p;
}

static void *cache_alloc_slow(unsigned cls) {
    if (FRG_UNLIKELY(!frg_ensure_init()))
        return NULL;
    switch (frg_cache_mode) {
#if FRG_HAVE_RSEQ
    case FRG_CACHE_RSEQ: {
        void *p = frg_rseq_pop(cls); /* the first call lands here before init */
        return p ? p : rseq_alloc_miss(cls);
    }
#endif
    case FRG_CACHE_LOCK:
        return locked_alloc(cls);
    default: {
        void *p;
        frg_note_activity();
        return frg_central_alloc_batch(cls, &p, 1) ? p : NULL;
    }
    }
}

void frg_cache_free_slow(uintptr_t cls, void *p) {
    switch (frg_cache_mode) {
#if FRG_HAVE_RSEQ
    case FRG_CACHE_RSEQ:
        rseq_free_miss(cls, p);
        return;
#endif
    case FRG_CACHE_LOCK:
        locked_free(cls, p);
        return;
    default:
        frg_note_activity();
        if (frg_central_free_batch(cls, &p, 1))
            frg_pageheap_enforce_budget();
    }
}

/* ---- draining ------------------------------------------------------------- */

/* Empty CPU `cpu`'s caches into the central lists. */
static size_t drain_cpu(unsigned cpu, bool reset_capacity) {
    struct cpu_state *st = &cpus[cpu];
    void **slots = frg_cpu_slots(cpu);
    uint16_t saved_end[FRG_NCLASSES];
    size_t bytes = 0;
    bool released = false;
    frg_lock(&st->lock);
    if (frg_cache_mode == FRG_CACHE_RSEQ) {
        for (unsigned c = 0; c < FRG_NCLASSES; c++) {
            struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
            saved_end[c] = load16(&h->end);
            store16(&h->end, 0);
            store16(&h->begin, FRG_STOPPED_BEGIN);
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!frg_cpu_fence(cpu)) {
            /* Sequences on cpu may still use the old headers: leave its
             * objects alone (only begin and end changed; put them back). */
            for (unsigned c = 0; c < FRG_NCLASSES; c++) {
                struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
                store16(&h->begin, slot_begin[c]);
                store16(&h->end, saved_end[c]);
            }
            frg_unlock(&st->lock);
            return 0;
        }
    } else {
        for (unsigned c = 0; c < FRG_NCLASSES; c++)
            saved_end[c] = frg_cpu_hdr(cpu, c)->end;
    }
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
        unsigned cur = load16(&h->current), begin = slot_begin[c];
        if (cur > begin) {
            released |= frg_central_free_batch(c, slots + begin, cur - begin);
            bytes += (cur - begin) * frg_class_size(c);
        }
        store16(&h->current, (uint16_t)begin);
    }
    /* A sequence reads `current` before `begin` or `end`: one that read the
     * old current while the CPU was stopped and read a reopened begin or
     * end would commit onto the emptied slots.  Fence again between
     * emptying and reopening, so that no sequence still holds the old
     * current.  The first fence showed this one can be had; a failure
     * here would be a kernel refusing what it just granted. */
    if (frg_cache_mode == FRG_CACHE_RSEQ) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        for (int tries = 0; !frg_cpu_fence(cpu); tries++)
            if (tries == 1000)
                frg_fatal("cannot fence CPU %u while draining its cache", cpu);
    }
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
        unsigned begin = slot_begin[c];
        unsigned end = saved_end[c];
        if (reset_capacity) {
            __atomic_fetch_sub(&st->capacity_bytes, (end - begin) * frg_class_size(c), __ATOMIC_RELAXED);
            end = begin;
        }
        store16(&h->begin, (uint16_t)begin);
        store16(&h->end, (uint16_t)end);
    }
    __atomic_fetch_add(&st->drains, 1, __ATOMIC_RELAXED);
    frg_unlock(&st->lock);
    if (released)
        frg_pageheap_enforce_budget();
    return bytes;
}

/* Drain every CPU that has capacity; *skipped: some CPU could not be
 * fenced and kept its objects. */
static size_t drain_every_cpu(bool reset_capacity, bool *skipped) {
    size_t bytes = 0;
    *skipped = false;
    if (frg_cache_mode == FRG_CACHE_OFF)
        return 0;
    for (unsigned cpu = 0; cpu < ncpus; cpu++)
        if (__atomic_load_n(&cpus[cpu].capacity_bytes, __ATOMIC_RELAXED)) {
            uint64_t before = __atomic_load_n(&cpus[cpu].drains, __ATOMIC_RELAXED);
            bytes += drain_cpu(cpu, reset_capacity);
            /* drain_cpu counts only the drains it did */
            if (__atomic_load_n(&cpus[cpu].drains, __ATOMIC_RELAXED) == before)
                *skipped = true;
        }
    return bytes;
}

size_t frg_percpu_drain_all(bool reset_capacity) {
    bool skipped;
    return drain_every_cpu(reset_capacity, &skipped);
}

bool frg_percpu_drain_all_exact(void) {
    bool skipped;
    drain_every_cpu(false, &skipped);
    return !skipped;
}

size_t frg_percpu_flush_current(void) {
    if (frg_cache_mode == FRG_CACHE_OFF)
        return 0;
    return drain_cpu(current_cpu(), false);
}

size_t frg_percpu_cpu_cached_bytes(unsigned cpu) {
    size_t bytes = 0;
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
        unsigned cur = load16(&h->current);
        if (cur > slot_begin[c])
            bytes += (cur - slot_begin[c]) * frg_class_size(c);
    }
    return bytes;
}

size_t frg_percpu_decay(uint64_t now_ns, uint64_t idle_ns, bool *all_idle) {
    size_t bytes = 0;
    *all_idle = true;
    if (frg_cache_mode == FRG_CACHE_OFF)
        return 0;
    for (unsigned cpu = 0; cpu < ncpus; cpu++) {
        struct cpu_state *st = &cpus[cpu];
        if (!__atomic_load_n(&st->capacity_bytes, __ATOMIC_RELAXED))
            continue;
        uint64_t sig = 1469598103934665603ull;
        for (unsigned c = 0; c < FRG_NCLASSES; c++) {
            struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
            sig = (sig ^ load16(&h->current) ^ ((uint64_t)load16(&h->end) << 16)) *
                  1099511628211ull;
        }
        if (sig != st->signature) {
            st->signature = sig;
            st->unchanged_since_ns = now_ns;
            *all_idle = false;
        } else if (now_ns - st->unchanged_since_ns < idle_ns) {
            *all_idle = false;
        } else {
            bytes += drain_cpu(cpu, true);
            st->signature = 0;
        }
    }
    return bytes;
}

void frg_percpu_stats(struct frg_percpu_stats *out) {
    memset(out, 0, sizeof *out);
    if (frg_cache_mode == FRG_CACHE_OFF)
        return;
    for (unsigned cpu = 0; cpu < ncpus; cpu++) {
        struct cpu_state *st = &cpus[cpu];
        out->capacity_bytes += __atomic_load_n(&st->capacity_bytes, __ATOMIC_RELAXED);
        out->misses += __atomic_load_n(&st->misses, __ATOMIC_RELAXED);
        out->overflows += __atomic_load_n(&st->overflows, __ATOMIC_RELAXED);
        out->drains += __atomic_load_n(&st->drains, __ATOMIC_RELAXED);
        for (unsigned c = 0; c < FRG_NCLASSES; c++) {
            struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
            unsigned cur = load16(&h->current), end = load16(&h->end);
            if (end > slot_begin[c] && load16(&h->begin) != FRG_STOPPED_BEGIN)
                out->capacity_slots += end - slot_begin[c];
            if (cur > slot_begin[c]) {
                out->cached_objs[c] += cur - slot_begin[c];
                out->cached_bytes += (cur - slot_begin[c]) * frg_class_size(c);
            }
        }
    }
}

void frg_percpu_lock_all(void) {
    for (unsigned cpu = 0; cpu < ncpus && frg_cache_mode != FRG_CACHE_OFF; cpu++)
        frg_lock(&cpus[cpu].lock);
}

void frg_percpu_unlock_all(void) {
    for (unsigned cpu = ncpus; cpu-- > 0 && frg_cache_mode != FRG_CACHE_OFF;)
        frg_unlock(&cpus[cpu].lock);
}

void frg_percpu_after_fork_child(void) {
    for (unsigned cpu = 0; cpu < ncpus && frg_cache_mode != FRG_CACHE_OFF; cpu++)
        frg_lock_reinit(&cpus[cpu].lock);
#if FRG_HAVE_RSEQ
    frg_rseq_after_fork_child();
    if (frg_cache_mode == FRG_CACHE_RSEQ && !frg_cpu_fence_after_fork_child())
        frg_cache_mode = FRG_CACHE_LOCK;
#endif
}
