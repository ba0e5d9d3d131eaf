/*
 * huge.h - objects above FRG_LARGE_MAX, each in its own mapping.
 *
 * A huge object is registered in the page map at its first page only.  Freed
 * mappings go to a small cache (bounded by `huge_cache_max`, emptied after
 * `decay_ms`) so that a program allocating and freeing big buffers in a
 * loop reuses resident memory instead of faulting it in again; realloc
 * grows and shrinks them with mremap.  Locking: one lock (rank HUGE) over
 * the cache and the counters; mmap/mremap/munmap happen without it.
 */
#ifndef FRG_HUGE_H
#define FRG_HUGE_H

#include "span.h"

/* A mapping of at least `size` bytes aligned to `align`; zero-filled when
 * `zero`.  NULL + ENOMEM on failure. */
FRG_HIDDEN void *frg_huge_alloc(size_t size, size_t align, bool zero);
FRG_HIDDEN void frg_huge_free(struct frg_span *span);
/* Resize in place or by mremap; NULL (old object intact) on failure. */
FRG_HIDDEN void *frg_huge_realloc(struct frg_span *span, size_t size);
/* Unmap cached mappings freed before `freed_before_ns` (UINT64_MAX: all). */
FRG_HIDDEN size_t frg_huge_purge(uint64_t freed_before_ns);

struct frg_huge_stats {
    size_t live, live_usable, live_mapped; /* objects in use */
    size_t cached, cached_bytes;           /* mappings kept for reuse */
    uint64_t nmalloc, nfree, cache_hits;
};
FRG_HIDDEN void frg_huge_stats(struct frg_huge_stats *out);

FRG_HIDDEN void frg_huge_lock_all(void);
FRG_HIDDEN void frg_huge_unlock_all(void);
FRG_HIDDEN void frg_huge_reinit_locks(void);

#endif
