/*
 * central.c - partial-slab lists per size class, batch refill and flush.
 *
 * Owns: frg_central[], the partial-slab sets, slab creation and release.
 * Two allocation orders (option `slab_order`): `fullest` keeps partial
 * slabs on eight lists by fullness and takes from the fullest; `address`
 * keeps them in a binary min-heap by address and takes the lowest.
 * Locking: frg_central[c].lock (rank CENTRAL) guards the class's sets,
 * counters and the freemaps of its slabs.  A new slab's pages are taken
 * from the page heap with the class lock dropped (new_slab); its release
 * calls the page heap (rank PAGEHEAP) with the class lock held, as does the purge
 * of a stash, which holds it across the madvise too (purge_stash), as the
 * sweep of free slab pages does; growing the address heap takes the
 * metadata locks.
 */
#include "central.h"

#include <errno.h>
#include <string.h>

#include "meta.h"
#include "options.h"
#include "os.h"
#include "pageheap.h"
#include "pagemap.h"
#include "purge.h"
#include "report.h"
#include "slab.h"
#include "vg.h"

struct frg_central frg_central[FRG_NCLASSES] = {
    [0 ... FRG_NCLASSES - 1] = {.lock = FRG_LOCK_INIT(FRG_RANK_CENTRAL)},
};

/* floor(used * 8 / nobjs), by multiplying with the class's reciprocal. */
static unsigned fullness_bucket(const struct frg_span *s) {
    const struct frg_class_info *ci = &frg_classes[s->sclass];
    uint64_t used = (uint64_t)(ci->nobjs - s->nfree) * FRG_FULLNESS_BUCKETS;
    return (unsigned)((used * ci->nobjs_recip) >> 32);
}

static bool slab_empty(const struct frg_span *s) {
    return s->nfree == frg_classes[s->sclass].nobjs;
}

/* ---- order "fullest": lists by fullness ------------------------------- */

static void list_remove(struct frg_central *c, struct frg_span *s) {
    if (s->prev)
        s->prev->next = s->next;
    else {
        c->partial[s->bucket] = s->next;
        if (!s->next)
            c->nonempty &= ~(1u << s->bucket);
    }
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static void list_insert(struct frg_central *c, struct frg_span *s, unsigned b) {
    s->prev = NULL;
    s->next = c->partial[b];
    if (s->next)
        s->next->prev = s;
    c->partial[b] = s;
    c->nonempty |= 1u << b;
}

/* ---- order "address": min-heap by base address ------------------------- */

#define HEAP_LISTED 0 /* s->bucket while the slab is in the heap */

static bool before(const struct frg_span *a, const struct frg_span *b) {
    return FRG_BASE(a) < FRG_BASE(b);
}

static void heap_place(struct frg_central *c, size_t i, struct frg_span *s) {
    c->heap[i] = s;
    s->order_idx = (uint32_t)i;
}

static void sift_up(struct frg_central *c, size_t i) {
    struct frg_span *s = c->heap[i];
    while (i > 0 && before(s, c->heap[(i - 1) / 2])) {
        heap_place(c, i, c->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_place(c, i, s);
}

static void sift_down(struct frg_central *c, size_t i) {
    struct frg_span *s = c->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const struct frg_span *best = s;
        if (l < c->heap_len && before(c->heap[l], best))
            best = c->heap[m = l];
        if (l + 1 < c->heap_len && before(c->heap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        heap_place(c, i, c->heap[m]);
        i = m;
    }
    heap_place(c, i, s);
}

/* False only if metadata memory is exhausted: the slab then stays
 * unlisted (it is still freed into, and released when empty). */
static bool heap_insert(struct frg_central *c, struct frg_span *s) {
    if (c->heap_len == c->heap_cap) {
        size_t cap = c->heap_cap ? c->heap_cap * 2 : 64;
        struct frg_span **a = frg_meta_alloc(cap * sizeof *a, 16);
        if (!a)
            return false;
        if (c->heap_len)
            memcpy(a, c->heap, c->heap_len * sizeof *a);
        c->heap = a; /* the old array stays in metadata: growth wastes <= 1x */
        c->heap_cap = cap;
    }
    heap_place(c, c->heap_len++, s);
    sift_up(c, c->heap_len - 1);
    return true;
}

static void heap_remove(struct frg_central *c, struct frg_span *s) {
    size_t i = s->order_idx;
    struct frg_span *last = c->heap[--c->heap_len];
    if (i < c->heap_len) {
        heap_place(c, i, last);
        sift_up(c, i);
        sift_down(c, last->order_idx);
    }
}

/* ---- the partial set, whichever the order ----------------------------- */

static void unlist(struct frg_central *c, struct frg_span *s) {
    if (s->bucket == FRG_SLAB_UNLISTED)
        return;
    if (frg_opt.slab_order == FRG_ORDER_ADDRESS)
        heap_remove(c, s);
    else
        list_remove(c, s);
    s->bucket = FRG_SLAB_UNLISTED;
}

/* Put a slab where it belongs for its fullness (nowhere when full). */
static void relist(struct frg_central *c, struct frg_span *s) {
    if (frg_opt.slab_order == FRG_ORDER_ADDRESS) {
        if (s->nfree == 0)
            unlist(c, s);
        else if (s->bucket == FRG_SLAB_UNLISTED && heap_insert(c, s))
            s->bucket = HEAP_LISTED;
        return;
    }
    unsigned b = s->nfree == 0 ? FRG_SLAB_UNLISTED : fullness_bucket(s);
    if (b == s->bucket)
        return;
    unlist(c, s);
    if (b != FRG_SLAB_UNLISTED) {
        list_insert(c, s, b);
        s->bucket = (uint8_t)b;
    }
}

/* The non-full slab to allocate from, or NULL.  Frees file a listed slab
 * lower only here, when it reaches the head of the fullest list (see
 * settle): a slab on list b is at most that full. */
static struct frg_span *pick(struct frg_central *c) {
    if (frg_opt.slab_order == FRG_ORDER_ADDRESS)
        return c->heap_len ? c->heap[0] : NULL;
    while (c->nonempty) {
        struct frg_span *s = c->partial[31 - __builtin_clz(c->nonempty)];
        unsigned b = fullness_bucket(s);
        if (b == s->bucket)
            return s;
        list_remove(c, s);
        list_insert(c, s, b);
        s->bucket = (uint8_t)b;
    }
    return NULL;
}

/* Pages in all classes' stashes (atomic), in a line of its own: a stash or
 * an unstash on any CPU writes it. */
static struct {
    size_t pages;
} FRG_ALIGNED(FRG_CACHELINE) all_stashes;

/* The most recently stashed empty slab, taken off the stash.  Class lock
 * held, stash not empty. */
static struct frg_span *stash_pop(struct frg_central *c) {
    struct frg_span *s = c->stash;
    c->stash = s->next;
    s->next = NULL;
    __atomic_store_n(&c->nstash, c->nstash - 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&all_stashes.pages, s->npages, __ATOMIC_RELAXED);
    return s;
}

/* Give the class's stash back to the page heap purged, up to
 * FRG_OS_PURGE_VECTOR slabs per system call (a slab next to the one popped
 * before it joins its range).  Class lock held across the madvise, as in
 * the sweep of free slab pages below: the slabs' pages lose their slab
 * flag first, because madvise takes the free key that every free object
 * carries in word 1 with them.  A free of one of their objects, which only
 * a double free can be, then takes the slow path; that waits for the class
 * lock, and finds the slab gone.  Returns the bytes purged. */
_Static_assert(FRG_OS_PURGE_VECTOR <= 256, "purge_stash's range indexes are 8 bits");
static size_t purge_stash(struct frg_central *c) {
    size_t bytes = 0;
    while (c->stash) {
        struct frg_span *slab[FRG_OS_PURGE_VECTOR];
        struct frg_os_range range[FRG_OS_PURGE_VECTOR];
        uint8_t range_of[FRG_OS_PURGE_VECTOR];
        bool ok[FRG_OS_PURGE_VECTOR];
        size_t n = 0, nr = 0;
        for (; c->stash && n < FRG_OS_PURGE_VECTOR; n++) {
            struct frg_span *s = slab[n] = stash_pop(c);
            c->slabs_released++;
            frg_pagemap_set_slab_flag(FRG_BASE(s), s->npages, false);
            uintptr_t base = FRG_BASE(s);
            size_t size = (size_t)s->npages * FRG_PAGE;
            struct frg_os_range *last = nr ? &range[nr - 1] : NULL;
            if (last && (uintptr_t)last->addr + last->size == base) {
                last->size += size;
            } else if (last && base + size == (uintptr_t)last->addr) {
                last->addr = (void *)base;
                last->size += size;
            } else {
                range[nr++] = (struct frg_os_range){(void *)base, size};
            }
            range_of[n] = (uint8_t)(nr - 1);
        }
        frg_os_purge_ranges(range, nr, ok);
        for (size_t i = 0; i < n; i++) {
            bool purged = ok[range_of[i]];
            if (purged)
                bytes += (size_t)slab[i]->npages * FRG_PAGE;
            frg_pageheap_free_after_purge(slab[i], purged);
        }
    }
    return bytes;
}

/* A slab to allocate from when no partial one is left: a stashed empty
 * one (already formatted), else a new one.  Class lock held on entry and
 * on return, but dropped while the page heap is asked for the pages: its
 * lock, its descriptor pool's and the page faults behind them are then
 * waited for by this thread alone, not by every thread that wants an
 * object of this class (with many threads per CPU, a thread preempted
 * there held up the class). */
static struct frg_span *new_slab(struct frg_central *c, unsigned cls) {
    if (c->stash) {
        struct frg_span *s = stash_pop(c);
        c->stash_used = true; /* no clock read here: the purger dates it */
        c->nslabs++;
        return s;
    }
    frg_unlock(&c->lock);
    bool zeroed;
    struct frg_span *s =
        frg_pageheap_alloc(frg_classes[cls].slab_pages, 1, FRG_SPAN_SLAB, cls, &zeroed);
    frg_lock(&c->lock);
    if (!s)
        return NULL;
    frg_slab_format(s, cls);
    FRG_VG_NOACCESS((void *)FRG_BASE(s), (size_t)s->npages * FRG_PAGE);
    c->nslabs++;
    c->slabs_created++;
    return s;
}

unsigned frg_central_alloc_batch(unsigned cls, void **out, unsigned n) {
    struct frg_central *c = &frg_central[cls];
    unsigned got = 0;
    frg_lock(&c->lock);
    while (got < n) {
        struct frg_span *s = pick(c);
        if (!s && !(s = new_slab(c, cls)))
            break;
        uint16_t purged = s->purged;
        got += frg_slab_take(s, out + got, n - got);
        if (FRG_UNLIKELY(purged != s->purged))
            c->purged_pages -= (size_t)(__builtin_popcount(purged) - __builtin_popcount(s->purged));
        relist(c, s);
    }
    c->objs_out += got;
    c->nmalloc += got;
    frg_unlock(&c->lock);
    if (!got)
        errno = ENOMEM;
    return got;
}

/* A stashed slab to the page heap, unpurged: its pages count as dirty
 * there.  Class lock held. */
static void unstash_to_heap(struct frg_central *c) {
    c->slabs_released++;
    frg_pageheap_free(stash_pop(c));
}

/* An empty slab: stash it while the dirty budget has room (its pages are
 * resident anyway and this class is likely to want a slab again), else
 * give it to the page heap.  `idle_since_ns` > 0: its last objects were
 * not touched since then (frg_central_free_batch_idle). */
static void release_slab(struct frg_central *c, struct frg_span *s, uint64_t idle_since_ns) {
    unlist(c, s);
    c->nslabs--;
    if (s->purged) { /* partly purged already: not worth stashing */
        c->purged_pages -= (size_t)__builtin_popcount(s->purged);
        c->slabs_released++;
        frg_pageheap_free(s); /* it counts only the other pages as dirty */
        return;
    }
    /* The budget shrinks as the heap does: while it is overrun, this
     * class's stash gives back what it holds (other classes do the same on
     * their next release; the purger takes the rest after decay_ms). */
    int64_t room = frg_purge_keep_room(); /* moving a slab to the heap leaves it as it is */
    while (c->stash && room < 0)
        unstash_to_heap(c);
    if (room >= (int64_t)((size_t)s->npages * FRG_PAGE)) {
        if (!c->stash) { /* the stash's decay clock starts */
            if (!idle_since_ns)
                c->stash_used = true; /* at the purger's next look */
            else if (c->stash_used_ns < idle_since_ns)
                c->stash_used_ns = idle_since_ns; /* back when the objects were last used */
        }
        s->next = c->stash;
        c->stash = s;
        __atomic_store_n(&c->nstash, c->nstash + 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&all_stashes.pages, s->npages, __ATOMIC_RELAXED);
        frg_purge_notify();
        return;
    }
    c->slabs_released++;
    frg_pageheap_free(s);
}

size_t frg_central_release_stash(uint64_t now_ns, uint64_t unused_since_ns, bool purge) {
    size_t bytes = 0;
    for (unsigned cls = 0; cls < FRG_NCLASSES; cls++) {
        struct frg_central *c = &frg_central[cls];
        if (!__atomic_load_n(&c->nstash, __ATOMIC_RELAXED))
            continue;
        frg_lock(&c->lock);
        if (c->stash_used) {
            c->stash_used = false;
            c->stash_used_ns = now_ns;
        }
        if (unused_since_ns == UINT64_MAX || c->stash_used_ns < unused_since_ns) {
            if (purge)
                bytes += purge_stash(c); /* idle for a decay period: purge now */
            else
                while (c->stash)
                    unstash_to_heap(c);
        }
        frg_unlock(&c->lock);
    }
    return bytes;
}

size_t frg_central_stash_bytes(void) {
    return __atomic_load_n(&all_stashes.pages, __ATOMIC_RELAXED) * FRG_PAGE;
}

/* ---- free pages of partial slabs ------------------------------------------ */

/* Runs of slab pages gathered for one purge call. */
struct page_batch {
    struct frg_os_range range[FRG_OS_PURGE_VECTOR];
    struct frg_span *slab[FRG_OS_PURGE_VECTOR];
    uint16_t pages[FRG_OS_PURGE_VECTOR]; /* the run, as span->purged bits */
    size_t n;
};

/* Purge the batch and mark what was purged.  Class lock held. */
static size_t flush_pages(struct frg_central *c, struct page_batch *b) {
    bool ok[FRG_OS_PURGE_VECTOR];
    size_t bytes = 0;
    if (!b->n)
        return 0;
    for (size_t i = 0; i < b->n; i++) /* see frg_pagemap_set_slab_flag */
        frg_pagemap_set_slab_flag((uintptr_t)b->range[i].addr, b->range[i].size / FRG_PAGE, false);
    frg_os_purge_ranges(b->range, b->n, ok);
    for (size_t i = 0; i < b->n; i++) {
        if (!ok[i]) { /* it may have zeroed some pages (and their keys) */
            frg_slab_pages_back(b->slab[i], b->pages[i]);
            continue;
        }
        b->slab[i]->purged |= b->pages[i];
        c->purged_pages += (size_t)__builtin_popcount(b->pages[i]);
        bytes += b->range[i].size;
    }
    b->n = 0;
    return bytes;
}

/* Add slab s's free pages not purged yet to the batch. */
static size_t sweep_slab(struct frg_central *c, struct frg_span *s, struct page_batch *b) {
    if ((size_t)s->nfree * frg_class_size(s->sclass) < FRG_PAGE)
        return 0; /* less than a page of free objects: no free page */
    size_t bytes = 0;
    unsigned todo = frg_slab_free_pages(s) & ~(unsigned)s->purged;
    while (todo) {
        unsigned first = (unsigned)__builtin_ctz(todo);
        unsigned len = (unsigned)__builtin_ctz(~(todo >> first));
        uint16_t run = (uint16_t)(((1u << len) - 1) << first);
        todo &= ~(unsigned)run;
        if (b->n == FRG_OS_PURGE_VECTOR)
            bytes += flush_pages(c, b);
        b->range[b->n].addr = (void *)(FRG_BASE(s) + (size_t)first * FRG_PAGE);
        b->range[b->n].size = (size_t)len * FRG_PAGE;
        b->slab[b->n] = s;
        b->pages[b->n++] = run;
    }
    return bytes;
}

/* Class lock held, across the madvise calls: no object on a page being
 * purged can be taken meanwhile. */
static size_t sweep_class(struct frg_central *c) {
    struct page_batch b;
    b.n = 0;
    size_t bytes = 0;
    if (frg_opt.slab_order == FRG_ORDER_ADDRESS) {
        for (size_t i = 0; i < c->heap_len; i++)
            bytes += sweep_slab(c, c->heap[i], &b);
    } else {
        for (unsigned k = 0; k < FRG_FULLNESS_BUCKETS; k++)
            for (struct frg_span *s = c->partial[k]; s; s = s->next)
                bytes += sweep_slab(c, s, &b);
    }
    bytes += flush_pages(c, &b);
    c->ops_swept = c->nmalloc + c->nfree;
    return bytes;
}

size_t frg_central_purge_free_pages(bool all) {
    size_t bytes = 0;
    for (unsigned cls = 0; cls < FRG_NCLASSES; cls++) {
        if (frg_classes[cls].slab_pages < 2)
            continue;
        struct frg_central *c = &frg_central[cls];
        frg_lock(&c->lock);
        uint64_t ops = c->nmalloc + c->nfree;
        bool quiet = ops == c->ops_seen;
        c->ops_seen = ops;
        if (all || (quiet && ops != c->ops_swept))
            bytes += sweep_class(c);
        frg_unlock(&c->lock);
    }
    return bytes;
}

bool frg_central_unswept(void) {
    for (unsigned cls = 0; cls < FRG_NCLASSES; cls++) {
        if (frg_classes[cls].slab_pages < 2)
            continue;
        struct frg_central *c = &frg_central[cls];
        frg_lock(&c->lock);
        bool unswept = c->nslabs && c->nmalloc + c->nfree != c->ops_swept;
        frg_unlock(&c->lock);
        if (unswept)
            return true;
    }
    return false;
}

/* After a run of frees into slab s (at least one object went back): release
 * it if empty (idle_since_ns: see release_slab), else file it by its new
 * fullness.  Returns true if released.  Class lock held. */
static bool settle(struct frg_central *c, struct frg_span *s, uint64_t idle_since_ns) {
    if (slab_empty(s)) {
        release_slab(c, s, idle_since_ns);
        return true;
    }
    /* Only a slab that was full needs filing.  One already listed stays
     * where it is until pick() reaches it: moving it to an emptier list on
     * every run of frees would touch its neighbours' descriptors, cold in
     * a mass free, each time.  (In the address heap a listed slab has no
     * place to change.) */
    if (s->bucket == FRG_SLAB_UNLISTED)
        relist(c, s);
    if (frg_classes[s->sclass].slab_pages > 1)
        frg_purge_notify(); /* its free pages go back once the class is quiet */
    return false;
}

#define FREE_LOOKAHEAD 32

bool frg_central_free_batch_idle(unsigned cls, void *const *ptrs, unsigned n,
                                 uint64_t idle_since_ns) {
    struct frg_central *c = &frg_central[cls];
    frg_lock(&c->lock);
    uint64_t released = c->slabs_released;
    /* A flushed batch holds runs of objects of one slab (they were freed
     * one after another): each slab is filed once per run, when the batch
     * moves on to another slab.  The page-map entries are read first, under
     * the class lock (no other thread can release a slab of this class
     * meanwhile), and the descriptors prefetched: their cache misses then
     * overlap instead of following one another.  When this batch releases
     * a slab itself, the entries not yet used are read again: later ones
     * may name the released slab (a double free in report mode). */
    struct frg_span *s = NULL; /* slab of the current run */
    bool put = false;          /* an object of this run went back into s */
    unsigned freed = 0;
    for (unsigned done = 0; done < n; done += FREE_LOOKAHEAD) {
        uint64_t entry[FREE_LOOKAHEAD];
        unsigned m = n - done < FREE_LOOKAHEAD ? n - done : FREE_LOOKAHEAD;
        for (unsigned j = 0; j < m; j++) {
            entry[j] = frg_pagemap_entry(ptrs[done + j]);
            const char *d = (const char *)frg_pm_span(entry[j]);
            __builtin_prefetch(d, 1); /* a descriptor (80 bytes) spans up to 3 lines */
            __builtin_prefetch(d + 64, 1);
            __builtin_prefetch(d + sizeof(struct frg_span) - 1, 1);
        }
        for (unsigned j = 0; j < m; j++) {
            void *p = ptrs[done + j];
            struct frg_span *t = frg_pm_span(entry[j]);
            if (!s || t != s) {
                /* A run whose every object was misuse changed nothing: an
                 * empty stashed slab must not be released again. */
                if (s && put && settle(c, s, idle_since_ns)) {
                    for (unsigned k = j; k < m; k++)
                        entry[k] = frg_pagemap_entry(ptrs[done + k]);
                    t = frg_pm_span(entry[j]);
                }
                s = NULL;
                put = false;
                if (t == &frg_span_freed) { /* its slab went back to the page heap */
                    frg_report_misuse("double free", p);
                    continue;
                }
                /* a slab page without the flag was given back: every
                 * object on it is free, and frg_slab_put says so */
                if (frg_pm_class(entry[j]) != cls ||
                    (!(entry[j] & FRG_PM_SLAB) && !(t && t->kind == FRG_SPAN_SLAB))) {
                    frg_report_misuse("invalid free", p);
                    continue;
                }
                s = t;
            }
            switch (frg_slab_put(s, p)) {
            case FRG_PUT_DOUBLE_FREE:
                frg_report_misuse("double free", p);
                continue;
            case FRG_PUT_INTERIOR:
                frg_report_misuse("interior free", p);
                continue;
            case FRG_PUT_OK:
                freed++;
                put = true;
                break;
            }
        }
    }
    if (s && put)
        settle(c, s, idle_since_ns);
    c->objs_out -= freed;
    c->nfree += freed;
    released = c->slabs_released - released;
    frg_unlock(&c->lock);
    return released != 0;
}

bool frg_central_free_batch(unsigned cls, void *const *ptrs, unsigned n) {
    return frg_central_free_batch_idle(cls, ptrs, n, 0);
}

bool frg_central_validate(void) {
    bool ok = true;
    for (unsigned cls = 0; cls < FRG_NCLASSES; cls++) {
        struct frg_central *c = &frg_central[cls];
        frg_lock(&c->lock);
        size_t n = 0;
        for (struct frg_span *s = c->stash; s; s = s->next, n++)
            if (!slab_empty(s) || s->purged || s->sclass != cls ||
                frg_pagemap_lookup((void *)FRG_BASE(s)) != s) {
                frg_warn("central class %u: stashed slab %p not empty", cls, (void *)FRG_BASE(s));
                ok = false;
            }
        if (n != c->nstash) {
            frg_warn("central class %u: stash count %zu, found %zu", cls, c->nstash, n);
            ok = false;
        }
        for (size_t i = 0; i < c->heap_len; i++) {
            struct frg_span *s = c->heap[i];
            if (s->order_idx != i || s->bucket != HEAP_LISTED || s->sclass != cls ||
                s->nfree == 0 || (i > 0 && before(s, c->heap[(i - 1) / 2])) ||
                !frg_slab_validate(s)) {
                frg_warn("central class %u: address heap broken at %zu", cls, i);
                ok = false;
            }
        }
        for (unsigned b = 0; b < FRG_FULLNESS_BUCKETS; b++) {
            if (!c->partial[b] != !(c->nonempty & (1u << b))) {
                frg_warn("central class %u: nonempty mask wrong for list %u", cls, b);
                ok = false;
            }
            for (struct frg_span *s = c->partial[b]; s; s = s->next) {
                if (s->bucket != b || s->sclass != cls || s->kind != FRG_SPAN_SLAB ||
                    s->nfree == 0 || slab_empty(s) || fullness_bucket(s) > b ||
                    frg_pagemap_lookup((void *)FRG_BASE(s)) != s || !frg_slab_validate(s)) {
                    frg_warn("central class %u: slab %p misfiled on list %u", cls,
                             (void *)FRG_BASE(s), b);
                    ok = false;
                }
            }
        }
        frg_unlock(&c->lock);
    }
    return ok;
}

void frg_central_lock_all(void) {
    frg_lock_each(FRG_LOCK_ARRAY(frg_central, FRG_NCLASSES, lock));
}
void frg_central_unlock_all(void) {
    frg_unlock_each(FRG_LOCK_ARRAY(frg_central, FRG_NCLASSES, lock));
}
void frg_central_reinit_locks(void) {
    frg_lock_reinit_each(FRG_LOCK_ARRAY(frg_central, FRG_NCLASSES, lock));
}
