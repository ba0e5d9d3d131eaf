/*
 * pageheap_internal.h - what pageheap.c (chunks, runs, page accounting)
 * and pageheap_purge.c (the dirty budget and purging) share; no other
 * file includes it.
 * Locking: frg_heap.lock (rank PAGEHEAP) guards every field below except
 * where a field says otherwise, and the functions below are called with
 * it held.
 */
#ifndef FRG_PAGEHEAP_INTERNAL_H
#define FRG_PAGEHEAP_INTERNAL_H

#include "chunk.h"
#include "lock.h"

struct frg_heap_state {
    frg_lock_t lock;
    frg_lock_t purge_lock; /* rank PAGE_PURGE: one purge at a time (pageheap_purge.c) */
    struct frg_chunk *bucket[FRG_CHUNK_BUCKETS];
    struct frg_chunk *dirty_head, *dirty_tail;
    struct frg_chunk *all;
    /* used_pages, dirty_pages and boost_pages are also read without the
     * lock (relaxed atomics), as hints */
    size_t nchunks, used_pages, dirty_pages, free_pages, empty_chunks, unmapped;
    size_t purging_pages; /* detached for madvise right now */
    size_t used_high;     /* most used_pages since the purger last looked */
    size_t boost_pages;   /* budget added because eager purges were refaulted */
    uint64_t last_eager_ns; /* when free() or a round's end last purged over-budget pages */
    uint32_t decay_pass;    /* decay passes so far (a chunk's gen_pass) */
} FRG_ALIGNED(FRG_CACHELINE); /* lines of its own (design.md, "Data layout") */
FRG_HIDDEN extern struct frg_heap_state frg_heap;

/* Mark [first, first+n) of c used; returns how many of them were dirty.
 * The caller accounts the pages as used or as being purged. */
FRG_HIDDEN size_t frg_heap_take_pages(struct frg_chunk *c, size_t first, size_t n);
/* Mark [first, first+n) of c free; dirty (resident, to be purged) or clean. */
FRG_HIDDEN void frg_heap_give_pages(struct frg_chunk *c, size_t first, size_t n, bool dirty);
/* Unmap a wholly free, purged chunk and forget it. */
FRG_HIDDEN void frg_heap_chunk_unmap(struct frg_chunk *c);
/* `fresh` pages were just allocated that were not dirty: they were faulted
 * in (or will be), which may raise the dirty budget (pageheap_purge.c). */
FRG_HIDDEN void frg_heap_note_fresh_pages(size_t fresh);

#endif
