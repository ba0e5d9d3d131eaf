/*
 * pageheap.h - runs of pages inside chunks: the back end of slabs and of
 * large objects.
 *
 * Allocation takes the chunk with the shortest longest-free-run that fits
 * (best fit at chunk level, so fragmented chunks fill up first and empty
 * ones stay empty), then the lowest-address fitting run inside it (first
 * fit).  Freed pages become dirty; the purge policy (purge.c decides when)
 * returns dirty pages to the OS with frg_os_purge.  Wholly free chunks are
 * unmapped once more than `retain_max` bytes of them are kept.
 * Locking: one lock (rank PAGEHEAP) over all chunks; callers may hold a
 * central or huge lock, never the reverse.
 */
#ifndef FRG_PAGEHEAP_H
#define FRG_PAGEHEAP_H

#include "chunk.h"
#include "span.h"

FRG_HIDDEN bool frg_pageheap_init(void);

/* A span of `npages` pages whose base is aligned to `align_pages` pages,
 * registered in the page map with the given kind and class.  *zeroed says
 * whether all its pages are known to read as zero.  NULL + ENOMEM when
 * memory is exhausted. */
FRG_HIDDEN struct frg_span *frg_pageheap_alloc(size_t npages, size_t align_pages,
                                               enum frg_span_kind kind, unsigned sclass,
                                               bool *zeroed);
/* Unregister and free a span's pages; they become dirty.  The caller then
 * calls frg_pageheap_enforce_budget, once it holds no lock of its own (so
 * that other threads do not wait on it while madvise runs). */
FRG_HIDDEN void frg_pageheap_free(struct frg_span *span);
/* Purge down to half the dirty budget if over it (eager purging), or with
 * purge_offload ask the purger thread to.  Takes no lock when under
 * budget; returns at once if another thread is purging. */
FRG_HIDDEN void frg_pageheap_enforce_budget(void);
/* The purge it asks for: dirty pages down to the budget, on this thread. */
FRG_HIDDEN void frg_pageheap_purge_over_budget(void);
/* Free a span whose pages the caller has just given back to the OS (with
 * no page-heap lock held); `purged` false if that failed: they count as
 * dirty. */
FRG_HIDDEN void frg_pageheap_free_after_purge(struct frg_span *span, bool purged);
/* Grow a span in place into the free pages after it; false if they are not
 * free. */
FRG_HIDDEN bool frg_pageheap_grow(struct frg_span *span, size_t new_npages);
/* Give back the tail of a span. */
FRG_HIDDEN void frg_pageheap_shrink(struct frg_span *span, size_t new_npages);
/* The live or cached large run whose pages hold p, found from the page
 * map (a large run registers its first page only), or NULL: for p whose
 * own entry names no span.  Takes no lock; for misuse reports. */
FRG_HIDDEN struct frg_span *frg_pageheap_large_holding(const void *p);

/* Pages of dirty budget not used by dirty pages right now (a hint): the
 * central lists keep that much in empty slabs ready for reuse. */
FRG_HIDDEN size_t frg_pageheap_dirty_room(void);
/* Pages in spans now; *high: the most there were since the last call
 * (the purger's: one caller). */
FRG_HIDDEN size_t frg_pageheap_used_pages(size_t *high);

/* Decay pass: purge the dirty pages nobody took since the decay generation
 * of their chunk began, for chunks whose generation began before
 * `generation_before_ns` (those start a new one); UINT64_MAX: purge every
 * dirty page.  Then unmap wholly free chunks beyond retain_max.  Returns
 * bytes purged (unmapped chunks are counted apart, as chunks_unmapped). */
FRG_HIDDEN size_t frg_pageheap_purge(uint64_t generation_before_ns);
/* Every dirty page but as many as the boost (pages the program has shown
 * it reallocates soon after freeing them), which stays as it is: the end
 * of a burst of frees, which may be one round of many. */
FRG_HIDDEN size_t frg_pageheap_purge_but_boost(void);

struct frg_pageheap_stats {
    size_t chunks;       /* mapped chunks */
    size_t used_pages;   /* pages in spans */
    size_t dirty_pages;  /* free pages that may be resident */
    size_t clean_pages;  /* free pages purged or never touched */
    size_t free_runs;    /* maximal free runs */
    size_t empty_chunks; /* chunks with no used page */
    size_t chunks_unmapped;
    size_t purging_pages; /* detached for a madvise in progress */
};
FRG_HIDDEN void frg_pageheap_stats(struct frg_pageheap_stats *out);

/* Debug: check every chunk's counters against its bitmaps and the page map
 * against the spans.  Returns false (and describes the problem on stderr)
 * on inconsistency. */
FRG_HIDDEN bool frg_pageheap_validate(void);

FRG_HIDDEN void frg_pageheap_lock_all(void);
FRG_HIDDEN void frg_pageheap_unlock_all(void);
FRG_HIDDEN void frg_pageheap_reinit_locks(void);

#endif
