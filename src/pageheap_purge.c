/*
 * pageheap_purge.c - the page heap's dirty budget and purging: eager
 * purges over the budget, decay passes, full purges, and unmapping wholly
 * free chunks beyond retain_max.
 *
 * Owns: the budget and its boost, the purge batches.  The state it works
 * on (chunks, dirty list, counters) is pageheap.c's, shared through
 * pageheap_internal.h.
 * Locking: frg_heap.lock (rank PAGEHEAP) over the state, released around
 * madvise: the runs being purged are first detached (marked used, so no
 * one can allocate them) and given back as clean free pages afterwards.
 * A whole purge (detach, madvise, give back) holds frg_heap.purge_lock
 * (rank PAGE_PURGE, below PAGEHEAP): one purge at a time, a free() that
 * finds one running leaves the work to it, and fork waits for it, so a
 * child never inherits runs detached by a thread it does not have.
 */
#include "pageheap.h"

#include <string.h>

#include "bitmap.h"
#include "options.h"
#include "os.h"
#include "pageheap_internal.h"
#include "purge.h"

/* Dirty runs are detached from the heap under the lock (marked used, so no
 * one allocates them), purged with the lock released, and given back as
 * clean free pages. */
#define PURGE_BATCH FRG_OS_PURGE_VECTOR
struct purge_run {
    struct frg_chunk *chunk;
    uint32_t first, n;
};

/* Detach up to `room` runs of c's dirty pages (only_old: of those that
 * have been dirty since its generation began). */
static size_t detach_dirty_runs(struct frg_chunk *c, struct purge_run *runs, size_t room,
                                bool only_old) {
    uint64_t mask[FRG_CHUNK_WORDS];
    for (size_t w = 0; w < FRG_CHUNK_WORDS; w++)
        mask[w] = only_old ? c->dirty_old[w] : c->dirty[w];
    size_t k = 0, i = 0;
    while (k < room && c->ndirty) {
        size_t s = frg_bm_find(mask, FRG_CHUNK_PAGES, i, 1);
        if (s >= FRG_CHUNK_PAGES)
            break;
        size_t e = frg_bm_find(mask, FRG_CHUNK_PAGES, s, 0);
        frg_heap_take_pages(c, s, e - s);
        c->purging += (uint32_t)(e - s);
        frg_heap.purging_pages += e - s;
        runs[k++] = (struct purge_run){c, (uint32_t)s, (uint32_t)(e - s)};
        i = e;
    }
    return k;
}

/* Called and returns with frg_heap.lock held; releases it around madvise. */
static size_t purge_detached(struct purge_run *runs, size_t n) {
    bool ok[PURGE_BATCH];
    struct frg_os_range ranges[PURGE_BATCH];
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        ranges[i] = (struct frg_os_range){
            (void *)(FRG_BASE(runs[i].chunk) + (size_t)runs[i].first * FRG_PAGE),
            (size_t)runs[i].n * FRG_PAGE};
    frg_unlock(&frg_heap.lock);
    frg_os_purge_ranges(ranges, n, ok);
    frg_lock(&frg_heap.lock);
    for (size_t i = 0; i < n; i++) {
        struct frg_chunk *c = runs[i].chunk;
        c->purging -= runs[i].n;
        frg_heap.purging_pages -= runs[i].n;
        frg_heap_give_pages(c, runs[i].first, runs[i].n, !ok[i]);
        if (ok[i])
            bytes += (size_t)runs[i].n * FRG_PAGE;
    }
    return bytes;
}

/* Unmap wholly free, purged chunks while more than retain_max is kept. */
static size_t release_empty_chunks(void) {
    size_t released = 0;
    struct frg_chunk *c = frg_heap.all;
    while (c && frg_heap.empty_chunks * FRG_CHUNK_SIZE > frg_opt.retain_max) {
        struct frg_chunk *next = c->anext;
        if (c->nfree == FRG_CHUNK_PAGES && c->ndirty == 0) {
            frg_heap_chunk_unmap(c);
            released += FRG_CHUNK_SIZE;
        }
        c = next;
    }
    return released;
}

static bool has_old_pages(const struct frg_chunk *c) {
    for (size_t w = 0; w < FRG_CHUNK_WORDS; w++)
        if (c->dirty_old[w])
            return true;
    return false;
}

/* Purge in batches of detached runs, least recently dirtied chunks first.
 * generation_before == UINT64_MAX: every dirty page, until at most `keep`
 * remain (eager purging, full purge).  Otherwise decay: in every chunk
 * whose generation began before generation_before, the pages that stayed
 * dirty all that generation (nobody reused them for at least decay_ms);
 * then the chunk begins a new generation with the pages dirty now.  Pages
 * in steady reuse are never purged by decay.  Lock held. */
static size_t purge_batches(size_t keep, uint64_t generation_before, uint64_t now) {
    bool decay = generation_before != UINT64_MAX;
    uint32_t pass = decay ? ++frg_heap.decay_pass : 0;
    size_t bytes = 0;
    while (frg_heap.dirty_pages > keep) {
        struct purge_run runs[PURGE_BATCH];
        size_t n = 0;
        struct frg_chunk *prev;
        for (struct frg_chunk *c = frg_heap.dirty_tail; c && n < PURGE_BATCH && frg_heap.dirty_pages > keep;
             c = prev) {
            prev = c->dprev; /* detaching all its dirty pages unlinks c */
            if (decay && (c->gen_ns >= generation_before || c->gen_pass == pass))
                continue; /* too young, or begun by this pass */
            n += detach_dirty_runs(c, runs + n, PURGE_BATCH - n, decay);
            if (decay && !has_old_pages(c)) { /* all detached: the next generation */
                memcpy(c->dirty_old, c->dirty, sizeof c->dirty);
                c->gen_ns = now;
                c->gen_pass = pass;
            }
        }
        if (!n)
            break;
        size_t got = purge_detached(runs, n);
        bytes += got;
        if (!got)
            break; /* madvise is failing: try again later */
    }
    return bytes;
}

/* The dirty budget: dirty_min bytes, or dirty_ratio percent of the pages
 * in use if that is more, plus the boost: pages the program allocated
 * afresh soon after free() had purged over-budget pages.  A program that
 * frees and reallocates the same working set thus purges once, not on
 * every round; the boost halves whenever a decay pass finds pages that
 * stayed unused for decay_ms, and malloc_trim drops it. */
static size_t dirty_budget(void) {
    size_t floor = frg_opt.dirty_min / FRG_PAGE;
    size_t prop = __atomic_load_n(&frg_heap.used_pages, __ATOMIC_RELAXED) * frg_opt.dirty_ratio / 100;
    return (floor > prop ? floor : prop) + __atomic_load_n(&frg_heap.boost_pages, __ATOMIC_RELAXED);
}

#define BOOST_MAX_PAGES (((size_t)1 << 30) / FRG_PAGE)

size_t frg_pageheap_used_pages(size_t *high) {
    frg_lock(&frg_heap.lock);
    size_t used = frg_heap.used_pages;
    *high = frg_heap.used_high;
    frg_heap.used_high = used;
    frg_unlock(&frg_heap.lock);
    return used;
}

size_t frg_pageheap_dirty_room(void) {
    /* racy by design: a hint for the central lists' slab stash */
    size_t budget = dirty_budget(), dirty = __atomic_load_n(&frg_heap.dirty_pages, __ATOMIC_RELAXED);
    return budget > dirty ? budget - dirty : 0;
}

/* If free() purged pages a moment ago, pages allocated afresh now mean
 * that purge was wasted: remember it in the boost. */
void frg_heap_note_fresh_pages(size_t fresh) {
    if (!fresh || !frg_heap.last_eager_ns)
        return;
    uint64_t window = frg_opt.decay_ms * 1000000ull;
    if (frg_os_now_ns() - frg_heap.last_eager_ns < window && frg_heap.boost_pages < BOOST_MAX_PAGES)
        __atomic_store_n(&frg_heap.boost_pages, frg_heap.boost_pages + (fresh), __ATOMIC_RELAXED);
}

/* Over budget: purge back down to half of it (hysteresis: a program
 * freeing and reallocating the same pages stays under it).  The budget is
 * looked at again after each pass: frees made meanwhile by other threads
 * (which found the purge lock taken and left their pages to this purge)
 * may have moved it.  Both locks held. */
static void purge_to_budget(void) {
    if (frg_heap.dirty_pages <= dirty_budget())
        return;
    frg_heap.last_eager_ns = frg_os_now_ns();
    for (int pass = 0; pass < 4 && frg_heap.dirty_pages > dirty_budget(); pass++)
        if (!purge_batches(dirty_budget() / 2, UINT64_MAX, 0))
            break;
}

/* Purge down to the budget on this thread.  A free that finds a purge
 * running leaves its pages to it, and every purge looks at the budget
 * again once it has released the lock, so no such free is forgotten. */
void frg_pageheap_purge_over_budget(void) {
    for (int round = 0; round < 2; round++) {
        if (__atomic_load_n(&frg_heap.dirty_pages, __ATOMIC_RELAXED) <= dirty_budget())
            return;
        if (!frg_trylock(&frg_heap.purge_lock))
            return;
        frg_lock(&frg_heap.lock);
        purge_to_budget();
        release_empty_chunks();
        frg_unlock(&frg_heap.lock);
        frg_unlock(&frg_heap.purge_lock);
    }
}

/* After a free (eager purging).  A racy look first: the common case takes
 * no lock.  Over the budget this thread purges, unless purge_offload is on
 * and the purger thread runs: then the purger is asked to (on another CPU
 * if one is free) while this thread goes on, up to twice the budget. */
void frg_pageheap_enforce_budget(void) {
    size_t dirty = __atomic_load_n(&frg_heap.dirty_pages, __ATOMIC_RELAXED), budget = dirty_budget();
    if (dirty <= budget)
        return;
    if (dirty <= 2 * budget && frg_purge_offload())
        return;
    frg_pageheap_purge_over_budget();
}

/* A decay pass (generation_before_ns), a full purge (UINT64_MAX) or, with
 * keep_boost, a full purge but for the boost's pages, which is left as it
 * is. */
static size_t purge_locked(uint64_t generation_before_ns, bool keep_boost) {
    frg_lock(&frg_heap.purge_lock);
    frg_lock(&frg_heap.lock);
    size_t keep = keep_boost ? frg_heap.boost_pages : 0;
    size_t bytes = purge_batches(keep, generation_before_ns, frg_os_now_ns());
    /* The end of a round of frees purges what the boost does not cover.
     * Pages taken afresh soon after were purged in vain, as after an
     * eager purge, and grow the boost: otherwise a boost that fell short
     * once (a round that refaulted part of its pages after decay_ms) would
     * stay short, and that part would be purged and refaulted every round. */
    if (keep_boost && bytes)
        frg_heap.last_eager_ns = frg_os_now_ns();
    if (!keep_boost) {
        /* Pages sat unused for a whole decay period: the program stopped
         * reusing them, so the boost shrinks (a full purge drops it). */
        if (generation_before_ns == UINT64_MAX)
            __atomic_store_n(&frg_heap.boost_pages, 0, __ATOMIC_RELAXED);
        else if (bytes)
            __atomic_store_n(&frg_heap.boost_pages, frg_heap.boost_pages / 2, __ATOMIC_RELAXED);
    }
    purge_to_budget(); /* frees that found this purge running */
    release_empty_chunks(); /* counted as unmapped chunks, not purged bytes */
    frg_unlock(&frg_heap.lock);
    frg_unlock(&frg_heap.purge_lock);
    frg_pageheap_purge_over_budget(); /* frees that came after purge_to_budget */
    return bytes;
}

size_t frg_pageheap_purge(uint64_t generation_before_ns) {
    return purge_locked(generation_before_ns, false);
}

size_t frg_pageheap_purge_but_boost(void) { return purge_locked(UINT64_MAX, true); }
