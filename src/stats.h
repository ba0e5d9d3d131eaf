/*
 * stats.h - one consistent picture of where the memory is.
 *
 * frg_stats_collect gathers the counters of every layer into struct
 * frg_stats.  The numbers obey allocated <= active <= resident <= mapped +
 * metadata, and split resident memory into live (allocated), cached (free
 * objects and pages kept for reuse), fragmented (free slots inside slabs
 * that hold live objects) and metadata.  mallinfo2, malloc_stats,
 * malloc_info, frg_mallctl and frgmalloc-stat all read this one structure.
 */
#ifndef FRG_STATS_H
#define FRG_STATS_H

#include "cpufence.h"
#include "percpu.h"
#include "sizeclass.h"

struct frg_class_stats {
    size_t size, slab_pages;
    size_t slabs;       /* slabs of this class */
    size_t objs_out;    /* objects outside slabs: live + cached */
    size_t cached;      /* objects in per-CPU caches and the transfer cache */
    size_t purged_pages; /* pages of its partial slabs given back to the OS */
    uint64_t nmalloc, nfree, slabs_created, slabs_released;
};

struct frg_stats {
    /* the split of memory */
    size_t allocated;  /* live objects (usable sizes) */
    size_t active;     /* pages backing slabs (less slab_purged), large runs, huge objects */
    size_t metadata;   /* descriptors, page map, per-CPU regions in use */
    size_t resident;   /* upper bound of allocator memory in RSS */
    size_t mapped;     /* chunks + huge mappings (live and cached) */
    size_t retained;   /* mapped, purged, kept for reuse (not in RSS) */
    size_t dirty;      /* free pages in chunks not purged yet */
    size_t cached;     /* free objects in per-CPU and transfer caches + cached large runs and huge mappings */
    size_t fragmented; /* free slots inside slabs, on pages not purged */
    size_t slab_purged; /* free pages inside partial slabs given back (in retained) */
    /* by kind */
    size_t small_allocated, large_allocated, huge_allocated;
    size_t large_count, huge_count, huge_cached_count, huge_cached_bytes;
    size_t large_cached_count, large_cached_bytes;
    uint64_t large_cache_hits;
    size_t percpu_cached, percpu_capacity, transfer_cached;
    size_t chunks, free_runs, chunks_unmapped;
    /* counters */
    uint64_t mmap_calls, munmap_calls, madvise_calls, mremap_calls, purged_bytes;
    uint64_t cache_misses, cache_overflows, cache_drains;
    uint64_t purge_passes, purge_wakeups, purge_offloaded, purge_bursts, decayed_bytes, trimmed_bytes;
    uint64_t misuse_reports;
    uint64_t rseq_own_registered, rseq_own_refused;
    uint64_t lease_grants, lease_revokes, lease_revoke_timeouts;
    unsigned ncpus, cache_mode, rseq_area, leases, leases_held;
    bool purger_running;
    struct frg_class_stats cls[FRG_NCLASSES];
};

FRG_HIDDEN extern uint64_t frg_stats_misuse_reports;

FRG_HIDDEN void frg_stats_collect(struct frg_stats *st);
/* Names for cache_mode and rseq_area (inline: frgmalloc-stat uses them). */
static inline const char *frg_cache_mode_name(unsigned mode) {
    return mode == FRG_CACHE_RSEQ ? "rseq" : mode == FRG_CACHE_LEASE ? "lease"
         : mode == FRG_CACHE_LOCK ? "lock" : "off";
}
static inline const char *frg_rseq_fence_name(unsigned kind) {
    return kind == FRG_FENCE_MEMBARRIER ? "membarrier" : kind == FRG_FENCE_MIGRATE ? "migrate" : "none";
}
static inline const char *frg_rseq_area_name(unsigned area) {
    return area == FRG_RSEQ_AREA_GLIBC ? "glibc" : area == FRG_RSEQ_AREA_OWN ? "frgmalloc" : "none";
}

FRG_HIDDEN void frg_stats_after_init(void);
FRG_HIDDEN void frg_stats_print_register(void);
FRG_HIDDEN void frg_stats_lock(void);
FRG_HIDDEN void frg_stats_unlock(void);
FRG_HIDDEN void frg_stats_after_fork_child(void);

#endif
