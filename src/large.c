/*
 * large.c - large objects: page runs from the page heap, and the second
 * level of their cache.
 *
 * Owns: span->u.large.usable, the shards of the run cache and the large
 * counters, which live in the shards.
 * A large object is a run of a large class (sizeclass.h).  Runs the
 * per-CPU caches take (classes up to `large_cache_max`) carry their class
 * in `sclass` and in their first page's page-map entry, and are allocated
 * and freed through those caches like small objects (alloc.c, percpu.c);
 * large.c hands a cache a run when it misses (frg_large_cache_refill) and
 * takes back what a full cache gives up (frg_large_cache_flush), as the
 * transfer cache does for small objects.  The counters count runs out of
 * and back into large.c: runs sitting in a CPU cache are cached, not live
 * (frg_large_stats subtracts them).
 * The second level: a run a CPU cache has no room for, or one freed here
 * directly, is kept whole (its page-map entry, its descriptor, its pages)
 * in the shard of the CPU that frees it, up to SHARD_RUNS runs and
 * `large_cache_max` bytes a shard, oldest given to the page heap first,
 * and while the dirty budget has room (the page heap's dirty pages,
 * central.c's stashed slabs and the CPU caches' large capacity counted
 * first).  A request of n pages takes a cached run of n to n + n/8 pages
 * from its CPU's shard, else from another CPU's (steal: a producer takes
 * back what a consumer's CPU could not keep, and moves up to 3 more runs
 * of that size to its own shard for its next misses).  Threads on
 * different CPUs do not meet on one lock, and reuse writes no page-map
 * entry (a page-map
 * line also holds the entries of neighbouring slabs, which other CPUs'
 * frees read).  A shard-cached run's usable size is 0: a free, realloc or
 * malloc_usable_size of it is reported as a use after free (alloc.c,
 * misuse_kind).  A run that is not kept goes to the page heap; cached runs
 * go back there when the purger finds their shard unused for a whole tick,
 * and at a full purge (malloc_trim).
 * Locking: shards[i].lock (rank LARGE_CACHE) guards shard i's runs and
 * counters; no other lock is taken under it, and a thread holds one shard
 * lock at a time (fork's prepare handler excepted).  The page heap locks
 * itself.  A large span belongs to the caller that holds the pointer, so
 * resizing needs no lock of its own.
 */
#include "large.h"

#include <string.h>

#include "lock.h"
#include "options.h"
#include "pageheap.h"
#include "pagemap.h"
#include "percpu.h"
#include "purge.h"

/* ---- the cache of freed runs, one shard per CPU ----------------------- */

/* A shard keeps up to SHARD_RUNS runs, oldest first.  CPUs beyond
 * NSHARDS share shards (cpu % NSHARDS); the locks keep that correct. */
#define NSHARDS 64
#define SHARD_RUNS 8

struct shard {
    frg_lock_t lock;
    unsigned nruns;
    bool used;           /* taken from or added to since the purger looked */
    size_t bytes;        /* cached; also read without the lock (atomic stores) */
    /* Bytes the dirty budget agreed this shard may hold: at least `bytes`,
     * at most large_cache_max.  A put that keeps the shard at or below it
     * does not ask again.  The purger's tick lowers it to what the shard
     * holds (atomic stores); a take does not, as a loop that frees and
     * takes one run would then ask at every put and write the shared
     * total twice a pair (bigblocks 128 KiB, 2 threads: 52 -> 30 M
     * pairs/s).  So the budget counts up to large_cache_max too much per
     * CPU for a tick (without the purger thread, until malloc_trim). */
    size_t approved;
    struct frg_span *run[SHARD_RUNS];
    uint32_t npages[SHARD_RUNS]; /* run[i]'s, so a take reads no descriptor */
    /* The large calls made on this CPU, counted under the lock (it is
     * taken anyway; atomic adds would cost as much again).  A free may
     * count on another CPU than its malloc: only the sums mean something. */
    uint64_t nmalloc, nfree, hits;
    size_t live_bytes;   /* wraps below zero per shard; the sum is right */
} FRG_ALIGNED(FRG_CACHELINE);

static struct shard shards[NSHARDS] = {
    [0 ... NSHARDS - 1] = {.lock = FRG_LOCK_INIT(FRG_RANK_LARGE_CACHE)},
};

/* Sum of the shards' `approved`: an upper bound on the bytes cached, for
 * the dirty budget's arithmetic, read in one load however many CPUs there
 * are.  It changes when a shard asks the budget or the purger looks,
 * not at every put, so its line is seldom written. */
static struct {
    size_t bytes;
} FRG_ALIGNED(FRG_CACHELINE) approved_total;

/* Set shard sh's approval (lock held). */
static void set_approved(struct shard *sh, size_t bytes) {
    if (bytes == sh->approved)
        return; /* the purger's tick on a steady shard writes nothing shared */
    __atomic_fetch_add(&approved_total.bytes, bytes - sh->approved, __ATOMIC_RELAXED);
    __atomic_store_n(&sh->approved, bytes, __ATOMIC_RELAXED);
}

static struct shard *my_shard(void) { return &shards[frg_percpu_current_cpu() % NSHARDS]; }

/* The shards in use: one per CPU, at most NSHARDS. */
static unsigned nshards(void) {
    unsigned n = frg_percpu_ncpus();
    return n == 0 ? 1 : n < NSHARDS ? n : NSHARDS;
}

/* Take run i off shard sh, keeping the others oldest first (a loop: the
 * common take is the newest run, which moves nothing). */
static void shard_remove(struct shard *sh, unsigned i) {
    size_t bytes = (size_t)sh->npages[i] * FRG_PAGE;
    for (; i + 1 < sh->nruns; i++) {
        sh->run[i] = sh->run[i + 1];
        sh->npages[i] = sh->npages[i + 1];
    }
    sh->nruns--;
    __atomic_store_n(&sh->bytes, sh->bytes - bytes, __ATOMIC_RELAXED);
}

/* Count run s out (to the program or a CPU cache) on shard sh; lock held.
 * Its usable size is set here, under the lock: a cached run stops reading
 * as freed. */
static void count_out_locked(struct shard *sh, struct frg_span *s) {
    s->u.large.usable = (size_t)s->npages * FRG_PAGE;
    sh->nmalloc++;
    sh->live_bytes += s->u.large.usable;
}

/* Count run s back in on shard sh; lock held. */
static void count_in_locked(struct shard *sh, const struct frg_span *s) {
    sh->nfree++;
    sh->live_bytes -= s->u.large.usable;
}

/* A cached run of npages up to `limit` pages off shard sh (the smallest;
 * the newest of equals), counted out, or NULL.  Lock held. */
static struct frg_span *take_within_locked(struct shard *sh, size_t npages, size_t limit) {
    unsigned at = SHARD_RUNS, best = 0;
    for (unsigned i = sh->nruns; i-- > 0;) {
        unsigned n = sh->npages[i];
        if (n >= npages && n <= limit && (at == SHARD_RUNS || n < best)) {
            at = i;
            best = n;
            if (n == npages)
                break; /* none fits better */
        }
    }
    if (at == SHARD_RUNS)
        return NULL;
    struct frg_span *s = sh->run[at];
    shard_remove(sh, at);
    sh->hits++;
    sh->used = true;
    count_out_locked(sh, s);
    return s;
}

/* A run for a request of npages: up to npages/8 more pages. */
static struct frg_span *take_locked(struct shard *sh, size_t npages) {
    return take_within_locked(sh, npages, npages + npages / 8);
}

/* Keep the freed run s in shard sh if the bounds allow, making room by
 * moving the shard's oldest runs to *evicted (a chain the caller gives to
 * the page heap); false: the caller gives s to the page heap.  Lock held. */
static bool put_locked(struct shard *sh, struct frg_span *s, struct frg_span **evicted) {
    size_t bytes = (size_t)s->npages * FRG_PAGE;
    if (bytes > frg_opt.large_cache_max)
        return false;
    /* The dirty budget holds the page heap's dirty pages, the central
     * lists' stashed slabs and these runs together.  It is asked when the
     * shard would hold more than it was approved (a loop that frees and
     * takes back the same runs asks about once a tick), under the lock, so
     * that puts on one CPU cannot all pass it.  Puts on several CPUs at once may
     * each pass it: the budget is overrun by at most one run per CPU,
     * until the next purge. */
    unsigned drop = 0; /* the oldest runs that make room for s */
    size_t kept = sh->bytes;
    while (sh->nruns - drop == SHARD_RUNS || kept + bytes > frg_opt.large_cache_max)
        kept -= (size_t)sh->npages[drop++] * FRG_PAGE;
    if (kept + bytes > sh->approved) {
        if (frg_purge_keep_room() < (int64_t)bytes)
            return false;
        set_approved(sh, kept + bytes);
    }
    while (drop--) {
        struct frg_span *old = sh->run[0];
        shard_remove(sh, 0);
        old->next = *evicted;
        *evicted = old;
    }
    /* under the lock: once unlocked another thread may take it and set
     * its usable size, which this store must not follow */
    __atomic_store_n(&s->u.large.usable, 0, __ATOMIC_RELAXED);
    sh->run[sh->nruns] = s;
    sh->npages[sh->nruns++] = s->npages;
    __atomic_store_n(&sh->bytes, sh->bytes + bytes, __ATOMIC_RELAXED);
    sh->used = true;
    return true;
}

/* Give a chain of runs (linked by next) to the page heap; true if there
 * were any (the caller then enforces the dirty budget). */
static bool release_chain(struct frg_span *chain) {
    bool any = chain != NULL;
    while (chain) {
        struct frg_span *next = chain->next;
        chain->next = NULL;
        frg_pageheap_free(chain);
        chain = next;
    }
    return any;
}

static void free_chain(struct frg_span *chain) {
    if (release_chain(chain))
        frg_pageheap_enforce_budget();
}

/* Up to STEAL_MORE runs of exactly npages pages off shard sh, for a thief
 * that took one from it: they stay cached (not counted out) and move to
 * the thief's shard.  sh keeps its approval until the purger's tick, as
 * after any take (handing it over too, two more writes of the shared
 * total, gave 11.61 M pairs/s where keeping it gives 13.39 and no move
 * 10.82: two thirds of the gain lost).  Lock held. */
#define STEAL_MORE 3
static unsigned take_more_locked(struct shard *sh, size_t npages, struct frg_span **out) {
    unsigned n = 0;
    for (unsigned i = sh->nruns; i-- > 0 && n < STEAL_MORE;) {
        if (sh->npages[i] == npages) {
            out[n++] = sh->run[i];
            shard_remove(sh, i);
        }
    }
    return n;
}

/* Keep in shard sh the runs a steal moved there; those it has no room
 * for go to the page heap. */
static void keep_moved(struct shard *sh, struct frg_span **runs, unsigned n) {
    struct frg_span *evicted = NULL;
    frg_lock(&sh->lock);
    for (unsigned i = 0; i < n; i++) {
        if (!put_locked(sh, runs[i], &evicted)) {
            runs[i]->next = evicted;
            evicted = runs[i];
        }
    }
    frg_unlock(&sh->lock);
    free_chain(evicted);
}

/* A run for a request of npages that this CPU's shard could not serve,
 * from another CPU's: a buffer allocated on one thread and freed on
 * another (a producer and a consumer) is cached where it was freed.  Up
 * to STEAL_SHARDS shards after `mine` are tried, skipping empty ones
 * without a lock and busy ones (trylock): a miss costs a page-heap
 * allocation, far more than a few reads.  A steal also moves up to
 * STEAL_MORE more runs of the same size to `mine`: a producer's next
 * misses then take them under its own shard's lock, which the consumer
 * does not take, instead of meeting it on the consumer's on every call
 * (bigblocks 128 KiB producer + consumer 9.1 -> 13.6 M pairs/s). */
#define STEAL_SHARDS 8
static struct frg_span *steal(struct shard *mine, size_t npages) {
    unsigned n = nshards(), at = (unsigned)(mine - shards);
    for (unsigned k = 1; k < n && k <= STEAL_SHARDS; k++) {
        struct shard *sh = &shards[(at + k) % n];
        if (!__atomic_load_n(&sh->bytes, __ATOMIC_RELAXED) || !frg_trylock(&sh->lock))
            continue;
        struct frg_span *s = take_locked(sh, npages), *more[STEAL_MORE];
        unsigned nmore = s ? take_more_locked(sh, npages, more) : 0;
        frg_unlock(&sh->lock);
        if (s) {
            if (nmore)
                keep_moved(mine, more, nmore);
            return s;
        }
    }
    return NULL;
}

void frg_large_cache_release(bool all) {
    struct frg_span *chain = NULL;
    for (unsigned i = 0; i < nshards(); i++) {
        struct shard *sh = &shards[i];
        if (!__atomic_load_n(&sh->bytes, __ATOMIC_RELAXED) &&
            !__atomic_load_n(&sh->approved, __ATOMIC_RELAXED))
            continue; /* nothing to give back or reset (`used` may stay set a tick more) */
        frg_lock(&sh->lock);
        if (all || !sh->used) {
            while (sh->nruns) {
                struct frg_span *s = sh->run[sh->nruns - 1];
                shard_remove(sh, sh->nruns - 1);
                s->next = chain;
                chain = s;
            }
        }
        set_approved(sh, sh->bytes); /* growing asks the budget afresh */
        sh->used = false;
        frg_unlock(&sh->lock);
    }
    free_chain(chain);
}

size_t frg_large_cached_bytes(void) {
    return __atomic_load_n(&approved_total.bytes, __ATOMIC_RELAXED) + frg_percpu_large_capacity();
}

unsigned frg_large_shard_runs(unsigned cpu) {
    struct shard *sh = &shards[cpu % NSHARDS];
    frg_lock(&sh->lock);
    unsigned n = sh->nruns;
    frg_unlock(&sh->lock);
    return n;
}

void frg_large_lock_all(void) { frg_lock_each(FRG_LOCK_ARRAY(shards, NSHARDS, lock)); }
void frg_large_unlock_all(void) { frg_unlock_each(FRG_LOCK_ARRAY(shards, NSHARDS, lock)); }
void frg_large_reinit_locks(void) { frg_lock_reinit_each(FRG_LOCK_ARRAY(shards, NSHARDS, lock)); }

/* ---- counting, and the per-CPU caches' side ---------------------------- */

/* The size class runs of npages are freed to (a large class, sizeclass.h),
 * or 0 where the per-CPU caches do not take them: no caches, or runs
 * larger than large_cache_max.  It is the run's sclass, and its page-map
 * entry carries it, so that free() caches the run without reading the
 * descriptor. */
static unsigned cache_class_of(size_t npages) {
    return frg_large_class_of(npages) < FRG_NLARGE_CLASSES ? frg_percpu_large_class[npages] : 0;
}

/* run_out's part after this CPU's shard (sh): another CPU's shard, or the
 * page heap. */
static struct frg_span *run_elsewhere(struct shard *sh, size_t npages, size_t align_pages,
                                      bool *zeroed) {
    struct frg_span *s;
    *zeroed = false;
    if (align_pages == 1 && (s = steal(sh, npages)))
        return s;
    if (!(s = frg_pageheap_alloc(npages, align_pages, FRG_SPAN_LARGE, cache_class_of(npages), zeroed)))
        return NULL;
    frg_lock(&sh->lock);
    count_out_locked(sh, s);
    frg_unlock(&sh->lock);
    return s;
}

/* A run of npages pages (at least; up to npages/8 more from a shard),
 * counted out: from this CPU's shard or another's (unaligned requests),
 * or the page heap, with `align_pages` alignment.  *zeroed: its pages are
 * known to be zero. */
static struct frg_span *run_out(size_t npages, size_t align_pages, bool *zeroed) {
    struct shard *sh = my_shard();
    *zeroed = false;
    if (align_pages == 1 && __atomic_load_n(&sh->bytes, __ATOMIC_RELAXED)) {
        frg_lock(&sh->lock);
        struct frg_span *s = take_locked(sh, npages);
        frg_unlock(&sh->lock);
        if (s)
            return s;
    }
    return run_elsewhere(sh, npages, align_pages, zeroed);
}

/* A cache's refill: the first run as run_out finds it; from this CPU's
 * shard, also up to n - 1 more of exactly the class's pages, under the
 * same lock (what a full class gave the shard, taken back in one call,
 * as it was given). */
unsigned frg_large_cache_refill(unsigned cls, void **out, unsigned n) {
    size_t npages = frg_classes[cls].slab_pages;
    struct shard *sh = my_shard();
    unsigned got = 0;
    if (!n)
        return 0;
    if (__atomic_load_n(&sh->bytes, __ATOMIC_RELAXED)) {
        frg_lock(&sh->lock);
        for (struct frg_span *s = take_locked(sh, npages); s;
             s = got < n ? take_within_locked(sh, npages, npages) : NULL)
            out[got++] = (void *)FRG_BASE(s); /* the cache clears word 1 */
        frg_unlock(&sh->lock);
        if (got)
            return got;
    }
    bool zeroed;
    struct frg_span *s = run_elsewhere(sh, npages, 1, &zeroed);
    if (!s)
        return 0;
    out[0] = (void *)FRG_BASE(s);
    return 1;
}

bool frg_large_cache_flush(void *const *runs, unsigned n, bool draining) {
    struct frg_span *chain = NULL;
    bool kept = false;
    struct shard *sh = my_shard();
    frg_lock(&sh->lock);
    for (unsigned i = 0; i < n; i++) {
        struct frg_span *s = frg_pagemap_lookup(runs[i]); /* its first page: the span */
        count_in_locked(sh, s);
        if (!draining && put_locked(sh, s, &chain)) {
            kept = true;
        } else {
            s->next = chain;
            chain = s;
        }
    }
    frg_unlock(&sh->lock);
    if (kept)
        frg_purge_notify(); /* the purger ticks while runs are cached */
    return release_chain(chain);
}

/* ---- allocation -------------------------------------------------------- */

void *frg_large_alloc(size_t size, size_t align, bool zero) {
    size_t align_pages = align > FRG_PAGE ? align / FRG_PAGE : 1;
    bool zeroed;
    struct frg_span *s = run_out(frg_large_run_pages(size), align_pages, &zeroed);
    if (!s)
        return NULL;
    void *p = (void *)FRG_BASE(s);
    if (zero && !zeroed)
        memset(p, 0, s->u.large.usable);
    else if (s->sclass)
        ((uint64_t *)p)[1] = 0; /* it may hold the free key (alloc.c) */
    return p;
}

void frg_large_free(struct frg_span *s) {
    struct shard *sh = my_shard();
    struct frg_span *evicted = NULL;
    frg_lock(&sh->lock);
    count_in_locked(sh, s);
    bool kept = put_locked(sh, s, &evicted);
    frg_unlock(&sh->lock);
    if (kept) {
        frg_purge_notify(); /* the purger ticks while runs are cached */
    } else {
        s->next = evicted;
        evicted = s;
    }
    free_chain(evicted);
}

bool frg_large_resize(struct frg_span *s, size_t size) {
    size_t npages = frg_large_run_pages(size);
    size_t old = s->u.large.usable;
    if (npages == s->npages)
        return true;
    if (npages < s->npages)
        frg_pageheap_shrink(s, npages);
    else if (!frg_pageheap_grow(s, npages))
        return false;
    s->u.large.usable = npages * FRG_PAGE;
    /* its class changed with its size: so does the one free() reads */
    s->sclass = (uint8_t)cache_class_of(npages);
    frg_pagemap_set(FRG_BASE(s), 1, s);
    struct shard *sh = my_shard();
    frg_lock(&sh->lock);
    sh->live_bytes += s->u.large.usable - old; /* modulo 2^64 */
    frg_unlock(&sh->lock);
    return true;
}

void frg_large_stats(struct frg_large_stats *out) {
    uint64_t nfree = 0, nmalloc = 0, hits = 0;
    size_t live_bytes = 0, cached = 0, cached_bytes = 0;
    /* nfree first: a free counted was counted as a malloc before it, and
     * the second pass's locks make that count visible */
    for (unsigned i = 0; i < NSHARDS; i++) {
        frg_lock(&shards[i].lock);
        nfree += shards[i].nfree;
        frg_unlock(&shards[i].lock);
    }
    for (unsigned i = 0; i < NSHARDS; i++) {
        struct shard *sh = &shards[i];
        frg_lock(&sh->lock);
        nmalloc += sh->nmalloc;
        live_bytes += sh->live_bytes;
        cached += sh->nruns;
        cached_bytes += sh->bytes;
        hits += sh->hits;
        frg_unlock(&sh->lock);
    }
    /* Runs in the CPU caches were counted out and are not live: a run of
     * a large class has that class's size. */
    struct frg_percpu_stats pc;
    frg_percpu_stats(&pc);
    size_t in_cpu_caches = 0;
    for (unsigned c = FRG_NCLASSES; c < FRG_NCACHE_CLASSES; c++) {
        in_cpu_caches += pc.cached_objs[c];
        cached_bytes += pc.cached_objs[c] * frg_class_size(c);
        live_bytes -= pc.cached_objs[c] * frg_class_size(c); /* modulo 2^64 */
    }
    cached += in_cpu_caches;
    out->nfree = nfree;
    out->nmalloc = nmalloc;
    /* read shard by shard and CPU by CPU, a malloc counted after its
     * shard was read and its free before: the sums may be short, and
     * wrap below zero */
    out->live = nmalloc > nfree + in_cpu_caches ? (size_t)(nmalloc - nfree - in_cpu_caches) : 0;
    out->live_bytes = (int64_t)live_bytes < 0 ? 0 : live_bytes;
    out->cached = cached;
    out->cached_bytes = cached_bytes;
    out->cache_hits = hits;
}
