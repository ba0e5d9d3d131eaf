/*
 * pageheap.c - chunks, page runs and page accounting (used, dirty, clean).
 *
 * Owns: every chunk and its descriptor, the by-longest-run bucket lists,
 * the dirty list, the page-map entries of slab and large spans.  The
 * dirty budget and purging are pageheap_purge.c's; the two share the
 * state through pageheap_internal.h.
 * Locking: frg_heap.lock (rank PAGEHEAP) guards all of it; a purge in
 * progress holds frg_heap.purge_lock too and releases frg_heap.lock
 * around madvise, with the runs it purges marked used (pageheap_purge.c).
 * Fork takes both (frg_pageheap_lock_all).
 */
#include "pageheap.h"

#include <errno.h>

#include "bitmap.h"
#include "pool.h"
#include "options.h"
#include "pageheap_internal.h"
#include "pagemap.h"
#include "purge.h"
#include "report.h"

struct frg_heap_state frg_heap = {.lock = FRG_LOCK_INIT(FRG_RANK_PAGEHEAP),
                                  .purge_lock = FRG_LOCK_INIT(FRG_RANK_PAGE_PURGE)};

struct frg_span frg_span_freed;

bool frg_pageheap_init(void) { return true; }

/* ---- list maintenance ------------------------------------------------ */

/* Longest free run of c and where it starts. */
static unsigned longest_run(const struct frg_chunk *c, unsigned *start) {
    unsigned best = 0;
    size_t i = 0;
    *start = 0;
    while (i < FRG_CHUNK_PAGES) {
        size_t s = frg_bm_find(c->used, FRG_CHUNK_PAGES, i, 0);
        if (s >= FRG_CHUNK_PAGES)
            break;
        size_t e = frg_bm_find(c->used, FRG_CHUNK_PAGES, s, 1);
        if (e - s > best) {
            best = (unsigned)(e - s);
            *start = (unsigned)s;
        }
        i = e;
    }
    return best;
}

/* Start of the free run that ends just before page `end` (exclusive). */
static size_t run_start_before(const struct frg_chunk *c, size_t end) {
    while (end > 0 && !frg_bm_get(c->used, end - 1)) {
        size_t w = (end - 1) / 64;
        uint64_t below = end % 64 ? c->used[w] & ((1ull << (end % 64)) - 1) : c->used[w];
        if (below)
            return w * 64 + 64 - frg_clz64(below);
        end = w * 64;
    }
    return end;
}

static void bucket_unlink(struct frg_chunk *c) {
    if (c->bucket == FRG_CHUNK_UNLISTED)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        frg_heap.bucket[c->bucket] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->bucket = FRG_CHUNK_UNLISTED;
}

/* Move the chunk to the bucket of its longest free run. */
static void chunk_relist(struct frg_chunk *c) {
    unsigned b = c->longest ? frg_log2(c->longest) : FRG_CHUNK_UNLISTED;
    if (b == c->bucket)
        return;
    bucket_unlink(c);
    if (b == FRG_CHUNK_UNLISTED)
        return;
    c->bucket = (uint8_t)b;
    c->next = frg_heap.bucket[b];
    c->prev = NULL;
    if (c->next)
        c->next->prev = c;
    frg_heap.bucket[b] = c;
}

static void dirty_unlink(struct frg_chunk *c) {
    if (!c->on_dirty_list)
        return;
    if (c->dprev)
        c->dprev->dnext = c->dnext;
    else
        frg_heap.dirty_head = c->dnext;
    if (c->dnext)
        c->dnext->dprev = c->dprev;
    else
        frg_heap.dirty_tail = c->dprev;
    c->dnext = c->dprev = NULL;
    c->on_dirty_list = false;
}

static void dirty_push_front(struct frg_chunk *c, uint64_t now) {
    dirty_unlink(c);
    c->dirty_ns = now;
    c->dnext = frg_heap.dirty_head;
    c->dprev = NULL;
    if (c->dnext)
        c->dnext->dprev = c;
    else
        frg_heap.dirty_tail = c;
    frg_heap.dirty_head = c;
    c->on_dirty_list = true;
}

/* ---- chunks ------------------------------------------------------------ */

/* A new chunk's memory and descriptor, made without the heap lock: mmap
 * (and the page map's slice for it) wait for the kernel's mmap lock, which
 * another thread's madvise or page fault may hold, and every thread that
 * wants a page run would wait behind the heap lock meanwhile. */
static struct frg_chunk *chunk_map(void) {
    struct frg_chunk *c = frg_pool_alloc(&frg_chunk_pool);
    if (!c)
        return NULL;
    void *base = frg_os_map_aligned(FRG_CHUNK_SIZE, FRG_CHUNK_SIZE, FRG_MAP_HEAP);
    if (!base || !frg_pagemap_ensure((uintptr_t)base, FRG_CHUNK_SIZE)) {
        if (base)
            frg_os_unmap(base, FRG_CHUNK_SIZE);
        frg_pool_free(&frg_chunk_pool, c);
        errno = ENOMEM;
        return NULL;
    }
    c->base = FRG_ENC_BASE((uintptr_t)base);
    c->nfree = FRG_CHUNK_PAGES;
    c->longest = FRG_CHUNK_PAGES;
    c->longest_start = 0;
    c->bucket = FRG_CHUNK_UNLISTED;
    return c;
}

/* Heap lock held. */
static void chunk_insert(struct frg_chunk *c) {
    c->anext = frg_heap.all;
    if (frg_heap.all)
        frg_heap.all->aprev = c;
    frg_heap.all = c;
    frg_heap.nchunks++;
    frg_heap.free_pages += FRG_CHUNK_PAGES;
    frg_heap.empty_chunks++;
    chunk_relist(c);
}

void frg_heap_chunk_unmap(struct frg_chunk *c) {
    bucket_unlink(c);
    dirty_unlink(c);
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        frg_heap.all = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    frg_heap.nchunks--;
    frg_heap.free_pages -= FRG_CHUNK_PAGES;
    __atomic_store_n(&frg_heap.dirty_pages, frg_heap.dirty_pages - (c->ndirty), __ATOMIC_RELAXED);
    frg_heap.empty_chunks--;
    frg_heap.unmapped++;
    frg_pagemap_set(FRG_BASE(c), FRG_CHUNK_PAGES, NULL);
    frg_os_unmap((void *)FRG_BASE(c), FRG_CHUNK_SIZE);
    frg_pool_free(&frg_chunk_pool, c);
}

/* ---- page accounting ----------------------------------------------------- */

/* Keep c->longest exact: taking pages only shortens the longest run if
 * they overlap it; giving pages may create a longer one around them. */
/* Taking pages out of the longest run leaves `longest` as an upper bound
 * ("stale"); it is recomputed only when a search needs it exactly. */
static void longest_after_take(struct frg_chunk *c, size_t first, size_t n) {
    if (!c->nfree) {
        c->longest = c->longest_start = 0;
        c->longest_stale = false;
    } else if (first < (size_t)c->longest_start + c->longest && c->longest_start < first + n) {
        c->longest_stale = true;
    }
}

static void longest_refresh(struct frg_chunk *c) {
    unsigned start;
    c->longest = longest_run(c, &start);
    c->longest_start = start;
    c->longest_stale = false;
}

static void longest_after_give(struct frg_chunk *c, size_t first, size_t n) {
    size_t s = run_start_before(c, first);
    size_t e = frg_bm_find(c->used, FRG_CHUNK_PAGES, first + n, 1);
    if (e - s >= c->longest) { /* at least as long as the bound: exact again */
        c->longest = (uint32_t)(e - s);
        c->longest_start = (uint32_t)s;
        c->longest_stale = false;
    }
}

size_t frg_heap_take_pages(struct frg_chunk *c, size_t first, size_t n) {
    if (c->nfree == FRG_CHUNK_PAGES)
        frg_heap.empty_chunks--;
    size_t d = c->ndirty ? frg_bm_count(c->dirty, first, n) : 0;
    frg_bm_fill(c->used, first, n, 1);
    if (d) {
        frg_bm_fill(c->dirty, first, n, 0);
        frg_bm_fill(c->dirty_old, first, n, 0);
        c->ndirty -= (uint32_t)d;
        __atomic_store_n(&frg_heap.dirty_pages, frg_heap.dirty_pages - (d), __ATOMIC_RELAXED);
        if (!c->ndirty)
            dirty_unlink(c);
    }
    c->nfree -= (uint32_t)n;
    frg_heap.free_pages -= n;
    longest_after_take(c, first, n);
    chunk_relist(c);
    return d;
}

void frg_heap_give_pages(struct frg_chunk *c, size_t first, size_t n, bool dirty) {
    frg_bm_fill(c->used, first, n, 0);
    if (dirty) {
        frg_bm_fill(c->dirty, first, n, 1);
        c->ndirty += (uint32_t)n;
        __atomic_store_n(&frg_heap.dirty_pages, frg_heap.dirty_pages + (n), __ATOMIC_RELAXED);
        /* Most recently dirtied first: allocation reuses these pages,
         * eager purging takes from the other end.  A chunk that had no
         * dirty page starts a decay generation (dirty_old is empty). */
        uint64_t now = frg_os_now_ns();
        if (!c->on_dirty_list)
            c->gen_ns = now;
        dirty_push_front(c, now);
    }
    c->nfree += (uint32_t)n;
    frg_heap.free_pages += n;
    if (c->nfree == FRG_CHUNK_PAGES)
        frg_heap.empty_chunks++;
    longest_after_give(c, first, n);
    chunk_relist(c);
    if (dirty)
        frg_purge_notify();
}

/* ---- runs --------------------------------------------------------------- */

/* First run of n pages aligned to `align` pages in which every page has
 * bit value `avail` in `bm` (used: 0 = free; dirty: 1 = free and
 * resident), or -1. */
static long find_run(const uint64_t *bm, int avail, size_t n, size_t align) {
    size_t i = 0;
    while (i < FRG_CHUNK_PAGES) {
        size_t s = frg_bm_find(bm, FRG_CHUNK_PAGES, i, avail);
        if (s >= FRG_CHUNK_PAGES)
            return -1;
        size_t e = frg_bm_find(bm, FRG_CHUNK_PAGES, s, !avail);
        size_t a = frg_align_up(s, align);
        if (a + n <= e)
            return (long)a;
        i = e;
    }
    return -1;
}

#define DIRTY_CHUNKS_TRIED 4

/* Where to put a run: pages still resident from a recent free first (no
 * page fault, nothing to purge), then best fit among chunks by longest
 * free run; NULL if no chunk has room. */
static struct frg_chunk *place_run(size_t npages, size_t align, long *first) {
    unsigned tried = 0;
    for (struct frg_chunk *c = frg_heap.dirty_head; c && tried < DIRTY_CHUNKS_TRIED;
         c = c->dnext, tried++) {
        if (c->ndirty >= npages && (*first = find_run(c->dirty, 1, npages, align)) >= 0)
            return c;
    }
    for (unsigned b = frg_log2(npages); b < FRG_CHUNK_BUCKETS; b++) {
        struct frg_chunk *next;
        for (struct frg_chunk *c = frg_heap.bucket[b]; c; c = next) {
            next = c->next;
            if (c->longest_stale && c->longest >= npages) {
                longest_refresh(c);
                chunk_relist(c); /* may move it to a lower bucket: next is saved */
            }
            if (c->longest >= npages && (*first = find_run(c->used, 0, npages, align)) >= 0)
                return c;
        }
    }
    return NULL;
}

/* Where a span's descriptor comes from: large runs' descriptors have
 * lines of their own (pool.c, frg_run_span_pool). */
static struct frg_pool *span_pool(unsigned kind) {
    return kind == FRG_SPAN_SLAB ? &frg_span_pool : &frg_run_span_pool;
}

/* The pages of a span that carry its page-map entry: every page of a slab
 * (free() finds an object's slab from its own page), only the first of a
 * large run (free, realloc and malloc_usable_size take its base; an
 * interior pointer is found by frg_pageheap_large_holding).  A large run
 * thus costs one entry to allocate and one to free however long it is,
 * where each eight of its pages used to cost a page-map line, written
 * under the heap lock.  Every other page of a chunk maps to NULL (never
 * used) or frg_span_freed. */
static size_t mapped_pages(const struct frg_span *span) {
    return span->kind == FRG_SPAN_SLAB ? span->npages : 1;
}

/* Under the heap lock. */
static void add_used_pages(size_t n) {
    size_t used = frg_heap.used_pages + n;
    __atomic_store_n(&frg_heap.used_pages, used, __ATOMIC_RELAXED);
    if (used > frg_heap.used_high)
        frg_heap.used_high = used;
}

struct frg_span *frg_pageheap_alloc(size_t npages, size_t align_pages,
                                    enum frg_span_kind kind, unsigned sclass,
                                    bool *zeroed) {
    FRG_ASSERT(npages >= 1 && npages <= FRG_CHUNK_PAGES);
    if (align_pages < 1)
        align_pages = 1;
    struct frg_span *span = frg_pool_alloc(span_pool(kind));
    if (!span) {
        errno = ENOMEM;
        return NULL;
    }
    long first;
    frg_lock(&frg_heap.lock);
    struct frg_chunk *chunk;
    while (!(chunk = place_run(npages, align_pages, &first))) {
        /* Threads that get here together each map a chunk: the spare ones
         * are free chunks like any other. */
        frg_unlock(&frg_heap.lock);
        struct frg_chunk *fresh = chunk_map();
        if (!fresh) {
            frg_pool_free(span_pool(kind), span);
            errno = ENOMEM;
            return NULL;
        }
        frg_lock(&frg_heap.lock);
        chunk_insert(fresh);
    }
    size_t dirty = frg_heap_take_pages(chunk, (size_t)first, npages);
    add_used_pages(npages);
    frg_heap_note_fresh_pages(npages - dirty);
    span->base = FRG_ENC_BASE(FRG_BASE(chunk) + (size_t)first * FRG_PAGE);
    span->npages = (uint32_t)npages;
    span->kind = (uint8_t)kind;
    span->sclass = (uint8_t)sclass;
    span->chunk = chunk;
    span->bucket = FRG_SLAB_UNLISTED;
    /* Under the lock, so that a fork never sees used pages unmapped. */
    frg_pagemap_set(FRG_BASE(span), mapped_pages(span), span);
    frg_unlock(&frg_heap.lock);
    *zeroed = dirty == 0 && frg_opt.purge == FRG_PURGE_DONTNEED;
    return span;
}

/* `purged`: all its pages were purged; else those of a slab's
 * span->purged were (they come back clean, the others dirty). */
static void free_span(struct frg_span *span, bool purged) {
    struct frg_chunk *c = span->chunk;
    size_t first = (FRG_BASE(span) - FRG_BASE(c)) / FRG_PAGE;
    unsigned clean = !purged && span->kind == FRG_SPAN_SLAB ? span->purged : 0;
    frg_lock(&frg_heap.lock);
    frg_pagemap_set(FRG_BASE(span), mapped_pages(span), &frg_span_freed);
    if (!clean) {
        frg_heap_give_pages(c, first, span->npages, !purged);
    } else {
        for (size_t j = 0, run; j < span->npages; j += run) { /* runs of one state */
            bool dirty = !(clean >> j & 1);
            for (run = 1; j + run < span->npages && !(clean >> (j + run) & 1) == dirty; run++)
                ;
            frg_heap_give_pages(c, first + j, run, dirty);
        }
    }
    __atomic_store_n(&frg_heap.used_pages, frg_heap.used_pages - (span->npages), __ATOMIC_RELAXED);
    frg_unlock(&frg_heap.lock);
    frg_pool_free(span_pool(span->kind), span);
}

void frg_pageheap_free(struct frg_span *span) { free_span(span, false); }

void frg_pageheap_free_after_purge(struct frg_span *span, bool purged) { free_span(span, purged); }

bool frg_pageheap_grow(struct frg_span *span, size_t new_npages) {
    struct frg_chunk *c = span->chunk;
    size_t first = (FRG_BASE(span) - FRG_BASE(c)) / FRG_PAGE;
    size_t end = first + span->npages, new_end = first + new_npages;
    if (new_end > FRG_CHUNK_PAGES)
        return false;
    frg_lock(&frg_heap.lock);
    bool ok = frg_bm_find(c->used, FRG_CHUNK_PAGES, end, 1) >= new_end;
    if (ok) {
        frg_heap_take_pages(c, end, new_end - end);
        add_used_pages(new_end - end);
        /* atomic: frg_pageheap_large_holding reads it without the lock */
        __atomic_store_n(&span->npages, (uint32_t)new_npages, __ATOMIC_RELAXED);
    }
    frg_unlock(&frg_heap.lock);
    return ok;
}

void frg_pageheap_shrink(struct frg_span *span, size_t new_npages) {
    struct frg_chunk *c = span->chunk;
    size_t first = (FRG_BASE(span) - FRG_BASE(c)) / FRG_PAGE;
    size_t cut = span->npages - new_npages;
    frg_lock(&frg_heap.lock);
    /* atomic: frg_pageheap_large_holding reads it without the lock */
    __atomic_store_n(&span->npages, (uint32_t)new_npages, __ATOMIC_RELAXED);
    frg_heap_give_pages(c, first + new_npages, cut, true);
    __atomic_store_n(&frg_heap.used_pages, frg_heap.used_pages - (cut), __ATOMIC_RELAXED);
    frg_unlock(&frg_heap.lock);
    frg_pageheap_enforce_budget();
}

struct frg_span *frg_pageheap_large_holding(const void *p) {
    if (!frg_pagemap_slot(p))
        return NULL; /* no page-map leaf here: no chunk either */
    uintptr_t page = (uintptr_t)p & ~(FRG_PAGE - 1);
    uintptr_t chunk = page & ~(FRG_CHUNK_SIZE - 1); /* chunks are aligned */
    for (uintptr_t a = page; a > chunk;) {
        a -= FRG_PAGE;
        struct frg_span *s = frg_pagemap_lookup((void *)a);
        if (!s || s == &frg_span_freed)
            continue;
        size_t npages = __atomic_load_n(&s->npages, __ATOMIC_RELAXED);
        if (s->kind == FRG_SPAN_LARGE && (uintptr_t)p < FRG_BASE(s) + npages * FRG_PAGE)
            return s;
        return NULL; /* a slab, or a run that ends before p */
    }
    return NULL;
}

void frg_pageheap_stats(struct frg_pageheap_stats *out) {
    frg_lock(&frg_heap.lock);
    out->chunks = frg_heap.nchunks;
    out->used_pages = frg_heap.used_pages;
    out->dirty_pages = frg_heap.dirty_pages;
    out->clean_pages = frg_heap.free_pages - frg_heap.dirty_pages;
    out->empty_chunks = frg_heap.empty_chunks;
    out->chunks_unmapped = frg_heap.unmapped;
    out->purging_pages = frg_heap.purging_pages;
    size_t runs = 0;
    for (struct frg_chunk *c = frg_heap.all; c; c = c->anext) {
        size_t i = 0;
        while ((i = frg_bm_find(c->used, FRG_CHUNK_PAGES, i, 0)) < FRG_CHUNK_PAGES) {
            runs++;
            i = frg_bm_find(c->used, FRG_CHUNK_PAGES, i, 1);
        }
    }
    out->free_runs = runs;
    frg_unlock(&frg_heap.lock);
}

static bool fail(const char *what, uintptr_t addr) {
    frg_warn("page heap validation: %s at %p", what, (void *)addr);
    return false;
}

bool frg_pageheap_validate(void) {
    bool ok = true;
    size_t used = 0, dirty = 0, freep = 0, empty = 0, n = 0;
    frg_lock(&frg_heap.lock);
    for (struct frg_chunk *c = frg_heap.all; c; c = c->anext, n++) {
        size_t u = frg_bm_count(c->used, 0, FRG_CHUNK_PAGES);
        size_t d = frg_bm_count(c->dirty, 0, FRG_CHUNK_PAGES);
        if (FRG_CHUNK_PAGES - u != c->nfree)
            ok = fail("chunk free-page count wrong", FRG_BASE(c));
        if (d != c->ndirty)
            ok = fail("chunk dirty-page count wrong", FRG_BASE(c));
        unsigned ls, real = longest_run(c, &ls);
        if (c->longest_stale ? c->longest < real : c->longest != real)
            ok = fail("chunk longest run wrong", FRG_BASE(c));
        if ((c->ndirty != 0) != c->on_dirty_list)
            ok = fail("chunk dirty-list membership wrong", FRG_BASE(c));
        for (size_t w = 0; w < FRG_CHUNK_WORDS; w++) {
            if (c->used[w] & c->dirty[w])
                ok = fail("page both used and dirty", FRG_BASE(c) + w * 64 * FRG_PAGE);
            if (c->dirty_old[w] & ~c->dirty[w])
                ok = fail("page old-dirty but not dirty", FRG_BASE(c) + w * 64 * FRG_PAGE);
        }
        const struct frg_span *large = NULL; /* the large run whose pages these are */
        for (size_t p = 0; p < FRG_CHUNK_PAGES; p++) {
            uintptr_t a = FRG_BASE(c) + p * FRG_PAGE;
            struct frg_span *s = frg_pagemap_lookup((void *)a);
            bool unmapped = !s || s == &frg_span_freed;
            if (large && a >= FRG_BASE(large) + (size_t)large->npages * FRG_PAGE)
                large = NULL;
            if (large) { /* a large run maps its first page only */
                if (!unmapped)
                    ok = fail("page inside a large run mapped", a);
                if (!frg_bm_get(c->used, p))
                    ok = fail("page inside a large run not used", a);
            } else if (frg_bm_get(c->used, p)) {
                if (c->purging)
                    continue; /* detached runs are marked used but not mapped */
                if (unmapped || a < FRG_BASE(s) || a >= FRG_BASE(s) + (size_t)s->npages * FRG_PAGE ||
                    s->chunk != c || (s->kind == FRG_SPAN_LARGE && a != FRG_BASE(s)))
                    ok = fail("used page not mapped to its span", a);
                else if (s->kind == FRG_SPAN_LARGE)
                    large = s;
            } else if (!unmapped) {
                ok = fail("free page still in the page map", a);
            }
        }
        used += u;
        dirty += d;
        freep += FRG_CHUNK_PAGES - u;
        empty += u == 0;
    }
    if (n != frg_heap.nchunks || used != frg_heap.used_pages + frg_heap.purging_pages || dirty != frg_heap.dirty_pages ||
        freep != frg_heap.free_pages || empty != frg_heap.empty_chunks)
        ok = fail("page heap totals wrong", 0);
    frg_unlock(&frg_heap.lock);
    return ok;
}

void frg_pageheap_lock_all(void) {
    frg_lock(&frg_heap.purge_lock); /* waits for a purge's madvise phase */
    frg_lock(&frg_heap.lock);
}
void frg_pageheap_unlock_all(void) {
    frg_unlock(&frg_heap.lock);
    frg_unlock(&frg_heap.purge_lock);
}
void frg_pageheap_reinit_locks(void) {
    frg_lock_reinit(&frg_heap.purge_lock);
    frg_lock_reinit(&frg_heap.lock);
}
