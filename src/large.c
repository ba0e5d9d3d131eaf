/*
 * large.c - large objects: page runs from the page heap, and a small cache
 * of freed runs.
 *
 * Owns: the large counters, span->u.large.usable and the run cache.
 * A freed run of up to `large_cache_max` bytes is kept whole (its page-map
 * entries, its descriptor, its pages) and handed out again to a request of
 * n pages if it has at most n + n/8 (up to `large_cache_max` bytes and
 * what the dirty budget leaves, the page heap's dirty pages and central.c's
 * stashed slabs counted first), so a program that allocates and
 * frees a 128 KiB buffer in a loop costs no page-heap work and writes no
 * page-map entry (a page-map line also holds the entries of neighbouring
 * slabs, which other CPUs' frees read).  A cached run's usable size is 0:
 * a free, realloc or malloc_usable_size of it is reported as a use after
 * free (alloc.c, misuse_kind).  A run that does not fit goes to the page
 * heap; cached runs go back there when the purger finds the cache unused
 * for a whole tick, and at a full purge (malloc_trim).
 * Locking: cache.lock (rank LARGE_CACHE) guards the cache; no other lock
 * is taken under it.  The page heap locks itself; counters are atomics.
 * A large span belongs to the caller that holds the pointer, so resizing
 * needs no lock of its own.
 */
#include "large.h"

#include <string.h>

#include "lock.h"
#include "options.h"
#include "pageheap.h"
#include "purge.h"

/* Atomic counters, in a line of their own (design.md, "Data layout"):
 * every large malloc and free writes them. */
static struct {
    struct frg_large_stats c;
} FRG_ALIGNED(FRG_CACHELINE) counters;

#define ADD(field, n) __atomic_fetch_add(&counters.c.field, (n), __ATOMIC_RELAXED)
#define SUB(field, n) __atomic_fetch_sub(&counters.c.field, (n), __ATOMIC_RELAXED)

/* ---- the cache of freed runs ------------------------------------------- */

#define CACHE_BINS (FRG_LARGE_MAX / FRG_PAGE + 1) /* bin n: runs of n pages */
#define BIN_WORDS ((CACHE_BINS + 63) / 64)

static struct {
    frg_lock_t lock;
    size_t bytes;        /* cached; also read without the lock (atomic stores) */
    uint64_t hits;
    bool used;           /* taken from or added to since the purger looked */
    uint64_t nonempty[BIN_WORDS];
    struct frg_span *bin[CACHE_BINS]; /* LIFO, linked by next */
} FRG_ALIGNED(FRG_CACHELINE) cache = {.lock = FRG_LOCK_INIT(FRG_RANK_LARGE_CACHE)};

/* A cached run of npages up to npages + npages/8 pages, off the cache, or
 * NULL.  Lock held. */
static struct frg_span *cache_take_locked(size_t npages) {
    size_t limit = npages + npages / 8;
    if (limit >= CACHE_BINS)
        limit = CACHE_BINS - 1;
    for (size_t w = npages / 64; w <= limit / 64; w++) {
        uint64_t bits = cache.nonempty[w];
        if (w == npages / 64)
            bits &= ~0ull << (npages % 64);
        if (!bits)
            continue;
        size_t b = w * 64 + (size_t)__builtin_ctzll(bits);
        if (b > limit)
            return NULL;
        struct frg_span *s = cache.bin[b];
        cache.bin[b] = s->next;
        if (!s->next)
            cache.nonempty[b / 64] &= ~(1ull << (b % 64));
        s->next = NULL;
        __atomic_store_n(&cache.bytes, cache.bytes - (size_t)s->npages * FRG_PAGE, __ATOMIC_RELAXED);
        cache.hits++;
        cache.used = true;
        return s;
    }
    return NULL;
}

static struct frg_span *cache_take(size_t npages) {
    if (!__atomic_load_n(&cache.bytes, __ATOMIC_RELAXED))
        return NULL;
    frg_lock(&cache.lock);
    struct frg_span *s = cache_take_locked(npages);
    frg_unlock(&cache.lock);
    return s; /* the caller sets its usable size: it stops reading as freed */
}

/* Keep the freed run s if the cache has room; false: the caller gives it
 * to the page heap. */
static bool cache_put(struct frg_span *s) {
    size_t bytes = (size_t)s->npages * FRG_PAGE;
    if (bytes > frg_opt.large_cache_max)
        return false;
    frg_lock(&cache.lock);
    /* the dirty budget holds the page heap's dirty pages, the central
     * lists' stashed slabs and these runs together; asked under the lock
     * (it takes none), so that puts at once cannot all pass it */
    bool room = cache.bytes + bytes <= frg_opt.large_cache_max &&
                frg_purge_keep_room() >= (int64_t)bytes;
    if (room) {
        /* under the lock: once unlocked another thread may take it and
         * set its usable size, which this store must not follow */
        __atomic_store_n(&s->u.large.usable, 0, __ATOMIC_RELAXED);
        s->next = cache.bin[s->npages];
        cache.bin[s->npages] = s;
        cache.nonempty[s->npages / 64] |= 1ull << (s->npages % 64);
        __atomic_store_n(&cache.bytes, cache.bytes + bytes, __ATOMIC_RELAXED);
        cache.used = true;
    }
    frg_unlock(&cache.lock);
    if (room)
        frg_purge_notify(); /* the purger ticks while runs are cached */
    return room;
}

void frg_large_cache_release(bool all) {
    struct frg_span *chain = NULL;
    frg_lock(&cache.lock);
    if (all || !cache.used) {
        for (size_t w = 0; w < BIN_WORDS; w++) {
            for (uint64_t bits = cache.nonempty[w]; bits; bits &= bits - 1) {
                size_t b = w * 64 + (size_t)__builtin_ctzll(bits);
                struct frg_span *last = cache.bin[b];
                while (last->next)
                    last = last->next;
                last->next = chain;
                chain = cache.bin[b];
                cache.bin[b] = NULL;
            }
            cache.nonempty[w] = 0;
        }
        __atomic_store_n(&cache.bytes, 0, __ATOMIC_RELAXED);
    }
    cache.used = false;
    frg_unlock(&cache.lock);
    if (!chain)
        return;
    while (chain) {
        struct frg_span *next = chain->next;
        chain->next = NULL;
        frg_pageheap_free(chain);
        chain = next;
    }
    frg_pageheap_enforce_budget();
}

size_t frg_large_cached_bytes(void) { return __atomic_load_n(&cache.bytes, __ATOMIC_RELAXED); }

void frg_large_lock_all(void) { frg_lock(&cache.lock); }
void frg_large_unlock_all(void) { frg_unlock(&cache.lock); }
void frg_large_reinit_locks(void) { frg_lock_reinit(&cache.lock); }

/* ---- allocation -------------------------------------------------------- */

void *frg_large_alloc(size_t size, size_t align, bool zero) {
    size_t npages = (size + FRG_PAGE - 1) / FRG_PAGE;
    size_t align_pages = align > FRG_PAGE ? align / FRG_PAGE : 1;
    bool zeroed = false;
    struct frg_span *s = align_pages == 1 ? cache_take(npages) : NULL;
    if (!s) {
        s = frg_pageheap_alloc(npages, align_pages, FRG_SPAN_LARGE, 0, &zeroed);
        if (!s)
            return NULL;
    }
    s->u.large.usable = (size_t)s->npages * FRG_PAGE;
    if (zero && !zeroed)
        memset((void *)FRG_BASE(s), 0, s->u.large.usable);
    ADD(live_bytes, s->u.large.usable);
    ADD(nmalloc, 1);
    return (void *)FRG_BASE(s);
}

void frg_large_free(struct frg_span *s) {
    SUB(live_bytes, s->u.large.usable);
    ADD(nfree, 1);
    if (cache_put(s))
        return;
    frg_pageheap_free(s);
    frg_pageheap_enforce_budget();
}

bool frg_large_resize(struct frg_span *s, size_t size) {
    size_t npages = (size + FRG_PAGE - 1) / FRG_PAGE;
    size_t old = s->u.large.usable;
    if (npages == s->npages)
        return true;
    if (npages < s->npages)
        frg_pageheap_shrink(s, npages);
    else if (!frg_pageheap_grow(s, npages))
        return false;
    s->u.large.usable = npages * FRG_PAGE;
    if (s->u.large.usable > old)
        ADD(live_bytes, s->u.large.usable - old);
    else
        SUB(live_bytes, old - s->u.large.usable);
    return true;
}

void frg_large_stats(struct frg_large_stats *out) {
    out->live_bytes = __atomic_load_n(&counters.c.live_bytes, __ATOMIC_RELAXED);
    /* nfree first: every free counted was counted as a malloc before */
    out->nfree = __atomic_load_n(&counters.c.nfree, __ATOMIC_ACQUIRE);
    out->nmalloc = __atomic_load_n(&counters.c.nmalloc, __ATOMIC_RELAXED);
    out->live = (size_t)(out->nmalloc - out->nfree);
    frg_lock(&cache.lock);
    out->cached = 0;
    for (size_t b = 0; b < CACHE_BINS; b++)
        for (const struct frg_span *s = cache.bin[b]; s; s = s->next)
            out->cached++;
    out->cached_bytes = cache.bytes;
    out->cache_hits = cache.hits;
    frg_unlock(&cache.lock);
}
