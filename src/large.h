/*
 * large.h - objects from FRG_SMALL_MAX to FRG_LARGE_MAX: one run of pages
 * from the page heap each, sized to whole pages, resized in place when the
 * neighbouring pages allow; freed runs of up to `large_cache_max` bytes
 * are kept for reuse until the purger finds them unused for a tick.
 */
#ifndef FRG_LARGE_H
#define FRG_LARGE_H

#include "chunk.h"
#include "sizeclass.h"
#include "span.h"

#define FRG_LARGE_ALIGN_MAX ((size_t)1 << 20)

FRG_HIDDEN void *frg_large_alloc(size_t size, size_t align, bool zero);
FRG_HIDDEN void frg_large_free(struct frg_span *span);
/* Resize in place to `size` (<= FRG_LARGE_MAX); false if it must move. */
FRG_HIDDEN bool frg_large_resize(struct frg_span *span, size_t size);

struct frg_large_stats {
    size_t live, live_bytes; /* live = nmalloc - nfree */
    uint64_t nmalloc, nfree;
    size_t cached, cached_bytes; /* freed runs kept for reuse */
    uint64_t cache_hits;         /* allocations served from them */
};
FRG_HIDDEN void frg_large_stats(struct frg_large_stats *out);

/* The per-CPU caches' side (percpu.c), whose objects of a large class
 * (sizeclass.h) are free runs, by their address: up to n runs of class
 * cls for a cache that missed (from this CPU's shard, another's, or the
 * page heap); and runs a cache gives back, to this CPU's shard or, when
 * `draining`, to the page heap.  The flush returns true when pages may
 * have gone over the dirty budget (the caller purges after unlocking). */
FRG_HIDDEN unsigned frg_large_cache_refill(unsigned cls, void **out, unsigned n);
FRG_HIDDEN bool frg_large_cache_flush(void *const *runs, unsigned n, bool draining);

/* Give cached runs back to the page heap (as dirty pages, which its purge
 * then counts): all of them, or (all == false, the purger's tick) those of
 * each CPU's shard that was not used since the previous call. */
FRG_HIDDEN void frg_large_cache_release(bool all);
/* Bytes of cached runs, or a little more (what the dirty budget approved
 * for them since the purger's last tick); read without a lock. */
FRG_HIDDEN size_t frg_large_cached_bytes(void);
/* Runs cached in the shard of CPU `cpu` (for tests). */
FRG_HIDDEN unsigned frg_large_shard_runs(unsigned cpu);
FRG_HIDDEN void frg_large_lock_all(void);
FRG_HIDDEN void frg_large_unlock_all(void);
FRG_HIDDEN void frg_large_reinit_locks(void);

#endif
