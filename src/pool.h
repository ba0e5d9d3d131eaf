/*
 * pool.h - fixed-size descriptor pools whose memory follows their use.
 *
 * Span and chunk descriptors are carved from 64 KiB blocks of 16 pages in
 * "frgmalloc-meta" mappings, never next to user objects.  A page of a
 * block whose descriptors are all free is purged (madvise) by the decay
 * pass that finds memory idle and by every trim, so metadata does not stay
 * resident after the heap it described is gone (while the program is
 * active, empty pages are kept: slabs come and go in ping-pong).  Each
 * pool has its own lock (rank META).
 */
#ifndef FRG_POOL_H
#define FRG_POOL_H

#include "lock.h"

struct frg_pool_block;

struct frg_pool {
    frg_lock_t lock;
    uint32_t obj_size;
    struct frg_pool_block *avail;    /* blocks with a free slot */
    struct frg_pool_block *all;      /* every block */
    uintptr_t carve_cur, carve_end;  /* unused blocks of the last mapping */
    size_t in_use;                   /* descriptors handed out */
    size_t blocks, purged_pages, empty_pages; /* empty: all free, not purged */
    uint64_t page_purges;
} FRG_ALIGNED(FRG_CACHELINE); /* lines of its own (design.md, "Data layout") */
#define FRG_POOL_INIT(type) {FRG_LOCK_INIT(FRG_RANK_META), sizeof(type), NULL, NULL, 0, 0, 0, 0, 0, 0, 0}

/* A zero-filled descriptor, or NULL when memory is exhausted. */
FRG_HIDDEN void *frg_pool_alloc(struct frg_pool *pool);
FRG_HIDDEN void frg_pool_free(struct frg_pool *pool, void *obj);
/* Purge every page whose descriptors are all free; returns bytes. */
FRG_HIDDEN size_t frg_pool_purge(struct frg_pool *pool);
/* Bytes of the pool's blocks that may be resident. */
FRG_HIDDEN size_t frg_pool_resident(struct frg_pool *pool);

FRG_HIDDEN extern struct frg_pool frg_span_pool;     /* slabs' descriptors */
FRG_HIDDEN extern struct frg_pool frg_run_span_pool; /* large and huge: a line pair each */
FRG_HIDDEN extern struct frg_pool frg_chunk_pool;

FRG_HIDDEN void frg_pools_lock_all(void);
FRG_HIDDEN void frg_pools_unlock_all(void);
FRG_HIDDEN void frg_pools_reinit_locks(void);
FRG_HIDDEN size_t frg_pools_purge(void);
FRG_HIDDEN size_t frg_pools_resident(void);

#endif
