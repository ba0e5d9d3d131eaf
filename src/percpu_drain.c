/*
 * percpu_drain.c - emptying caches: trim, idle decay, thread exit, fork;
 * and the caches' statistics.
 *
 * Owns: the drain protocol.  A drain of CPU c's cache in rseq mode stops
 * c's headers, fences c (cpufence.h), empties the slots, fences again and
 * reopens the headers; a drain of a lease first takes the lease back from
 * its holder (lease.h); in lock mode the lock is enough.
 * Locking: a drain holds the cache's lock (rank CPU) throughout and hands
 * the objects to the central lists (rank CENTRAL); eager purging
 * (frg_pageheap_enforce_budget, which may madvise) runs only after the
 * lock is released.  Statistics and the purger's signatures read the
 * headers without a lock (relaxed loads).
 */
#define _GNU_SOURCE
#include "percpu_internal.h"

#include <string.h>

#include "central.h"
#include "cpufence.h"
#include "lease.h"
#include "pageheap.h"
#include "report.h"

/* Empty cache `cpu` (a CPU's or a lease) into the central lists; with
 * `mine_only`, only if it is the calling thread's lease. */
static size_t drain_cpu(unsigned cpu, bool reset_capacity, bool mine_only) {
    struct cache_state *st = &frg_caches[cpu];
    void **slots = frg_cpu_slots(cpu);
    uint16_t saved_end[FRG_NCACHE_CLASSES];
    size_t bytes = 0;
    bool released = false;
    frg_lock(&st->lock);
    if (mine_only && !frg_lease_held_by_me(cpu)) {
        frg_unlock(&st->lock);
        return 0;
    }
    if (frg_is_lease(cpu)) {
        if (!frg_lease_revoke(cpu)) { /* its holder is stuck in a fast path */
            frg_unlock(&st->lock);
            return 0;
        }
        for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++)
            saved_end[c] = frg_cpu_hdr(cpu, c)->end;
    } else if (frg_fastpath.cache_mode == FRG_CACHE_RSEQ) {
        for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++) {
            struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
            saved_end[c] = load16(&h->end);
            store16(&h->end, 0);
            store16(&h->begin, FRG_STOPPED_BEGIN);
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!frg_cpu_fence(cpu)) {
            /* Sequences on cpu may still use the old headers: leave its
             * objects alone (only begin and end changed; put them back). */
            for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++) {
                struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
                store16(&h->begin, frg_slot_begin[c]);
                store16(&h->end, saved_end[c]);
            }
            frg_unlock(&st->lock);
            return 0;
        }
    } else {
        for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++)
            saved_end[c] = frg_cpu_hdr(cpu, c)->end;
    }
    for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++) {
        struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
        unsigned cur = load16(&h->current), begin = frg_slot_begin[c];
        if (cur > begin) {
            released |= frg_percpu_flush_objects(c, slots + begin, cur - begin, true);
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
    if (frg_fastpath.cache_mode == FRG_CACHE_RSEQ) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        for (int tries = 0; !frg_cpu_fence(cpu); tries++)
            if (tries == 1000)
                frg_fatal("cannot fence CPU %u while draining its cache", cpu);
    }
    for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++) {
        struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
        unsigned begin = frg_slot_begin[c];
        unsigned end = saved_end[c];
        if (reset_capacity) {
            frg_capacity_add(st, c, -((end - begin) * frg_class_size(c)));
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
    if (frg_fastpath.cache_mode == FRG_CACHE_OFF)
        return 0;
    for (unsigned cpu = 0; cpu < frg_ncaches; cpu++)
        if (frg_capacity_total(&frg_caches[cpu])) {
            uint64_t before = __atomic_load_n(&frg_caches[cpu].drains, __ATOMIC_RELAXED);
            bytes += drain_cpu(cpu, reset_capacity, false);
            /* drain_cpu counts only the drains it did */
            if (__atomic_load_n(&frg_caches[cpu].drains, __ATOMIC_RELAXED) == before)
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
    if (frg_fastpath.cache_mode == FRG_CACHE_OFF)
        return 0;
    size_t bytes = drain_cpu(frg_percpu_current_cpu(), false, false);
    int lease = frg_lease_last();
    if (lease >= 0)
        bytes += drain_cpu((unsigned)lease, false, true);
    return bytes;
}

size_t frg_percpu_cpu_cached_bytes(unsigned cpu) {
    size_t bytes = 0;
    for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++) {
        struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
        unsigned cur = load16(&h->current);
        if (cur > frg_slot_begin[c])
            bytes += (cur - frg_slot_begin[c]) * frg_class_size(c);
    }
    return bytes;
}

size_t frg_percpu_decay(uint64_t now_ns, uint64_t idle_ns, bool *all_idle) {
    size_t bytes = 0;
    *all_idle = true;
    if (frg_fastpath.cache_mode == FRG_CACHE_OFF)
        return 0;
    /* Threads are waiting for a lease: take back those idle for a tick. */
    bool lease_wanted = frg_fastpath.cache_mode == FRG_CACHE_LEASE && frg_lease_wanted();
    for (unsigned cpu = 0; cpu < frg_ncaches; cpu++) {
        struct cache_state *st = &frg_caches[cpu];
        bool held = frg_is_lease(cpu) && frg_lease_held(cpu);
        if (!held && !frg_capacity_total(st))
            continue;
        uint64_t sig = 1469598103934665603ull;
        for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++) {
            struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
            sig = (sig ^ load16(&h->current) ^ ((uint64_t)load16(&h->end) << 16)) *
                  1099511628211ull;
        }
        if (sig != st->signature) {
            st->signature = sig;
            st->unchanged_since_ns = now_ns;
            *all_idle = false;
        } else if (now_ns - st->unchanged_since_ns < idle_ns && !(held && lease_wanted)) {
            *all_idle = false;
        } else {
            bytes += drain_cpu(cpu, true, false);
            st->signature = 0;
        }
    }
    return bytes;
}

void frg_percpu_stats(struct frg_percpu_stats *out) {
    memset(out, 0, sizeof *out);
    if (frg_fastpath.cache_mode == FRG_CACHE_OFF)
        return;
    for (unsigned cpu = 0; cpu < frg_ncaches; cpu++) {
        struct cache_state *st = &frg_caches[cpu];
        out->capacity_bytes += frg_capacity_total(st);
        out->misses += __atomic_load_n(&st->misses, __ATOMIC_RELAXED);
        out->overflows += __atomic_load_n(&st->overflows, __ATOMIC_RELAXED);
        out->drains += __atomic_load_n(&st->drains, __ATOMIC_RELAXED);
        for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++) {
            struct frg_cache_hdr *h = frg_cpu_hdr(cpu, c);
            unsigned cur = load16(&h->current), end = load16(&h->end);
            if (end > frg_slot_begin[c] && load16(&h->begin) != FRG_STOPPED_BEGIN)
                out->capacity_slots += end - frg_slot_begin[c];
            if (cur > frg_slot_begin[c]) {
                out->cached_objs[c] += cur - frg_slot_begin[c];
                out->cached_bytes += (cur - frg_slot_begin[c]) * frg_class_size(c);
            }
        }
    }
}

void frg_percpu_drain_my_lease(unsigned idx) { drain_cpu(idx, false, true); }

/* Apply a fork handler's lock operation to every cache in use (none
 * without caches, percpu:off, where frg_caches may be unset). */
static void each_cache_lock(void (*op)(frg_lock_t *, size_t, size_t)) {
    if (frg_fastpath.cache_mode != FRG_CACHE_OFF && frg_ncaches)
        op(FRG_LOCK_ARRAY(frg_caches, frg_ncaches, lock));
}

void frg_percpu_lock_all(void) {
    each_cache_lock(frg_lock_each);
    if (frg_fastpath.cache_mode == FRG_CACHE_LEASE)
        frg_lease_lock_all();
}

void frg_percpu_unlock_all(void) {
    if (frg_fastpath.cache_mode == FRG_CACHE_LEASE)
        frg_lease_unlock_all();
    each_cache_lock(frg_unlock_each);
}

void frg_percpu_after_fork_child(void) {
    each_cache_lock(frg_lock_reinit_each);
    if (frg_fastpath.cache_mode == FRG_CACHE_LEASE)
        frg_lease_after_fork_child();
#if FRG_HAVE_RSEQ
    frg_rseq_after_fork_child();
    if (frg_fastpath.cache_mode == FRG_CACHE_RSEQ && !frg_cpu_fence_after_fork_child())
        frg_fastpath.cache_mode = FRG_CACHE_LOCK;
#endif
}
