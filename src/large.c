/*
 * large.c - large objects: page runs straight from the page heap.
 *
 * Owns: the large counters and span->u.large.usable.  Locking: the page
 * heap locks itself; counters are atomics.  A large span belongs to the
 * caller that holds the pointer, so resizing needs no lock of its own.
 */
#include "large.h"

#include <string.h>

#include "pageheap.h"

static struct frg_large_stats ls;

#define ADD(field, n) __atomic_fetch_add(&ls.field, (n), __ATOMIC_RELAXED)
#define SUB(field, n) __atomic_fetch_sub(&ls.field, (n), __ATOMIC_RELAXED)

void *frg_large_alloc(size_t size, size_t align, bool zero) {
    size_t npages = (size + FRG_PAGE - 1) / FRG_PAGE;
    size_t align_pages = align > FRG_PAGE ? align / FRG_PAGE : 1;
    bool zeroed;
    struct frg_span *s = frg_pageheap_alloc(npages, align_pages, FRG_SPAN_LARGE, 0, &zeroed);
    if (!s)
        return NULL;
    s->u.large.usable = npages * FRG_PAGE;
    if (zero && !zeroed)
        memset((void *)FRG_BASE(s), 0, s->u.large.usable);
    ADD(live, 1);
    ADD(live_bytes, s->u.large.usable);
    ADD(nmalloc, 1);
    return (void *)FRG_BASE(s);
}

void frg_large_free(struct frg_span *s) {
    SUB(live, 1);
    SUB(live_bytes, s->u.large.usable);
    ADD(nfree, 1);
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
    out->live = __atomic_load_n(&ls.live, __ATOMIC_RELAXED);
    out->live_bytes = __atomic_load_n(&ls.live_bytes, __ATOMIC_RELAXED);
    out->nmalloc = __atomic_load_n(&ls.nmalloc, __ATOMIC_RELAXED);
    out->nfree = __atomic_load_n(&ls.nfree, __ATOMIC_RELAXED);
}
