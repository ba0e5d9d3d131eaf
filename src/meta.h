/*
 * meta.h - memory for the allocator's own metadata.
 *
 * Metadata (span and chunk descriptors, page-map leaves) never lives next
 * to user objects: it comes from separate mappings named
 * "frgmalloc-meta".  frg_meta_alloc is a bump allocator whose memory is
 * never returned; frg_pool recycles fixed-size descriptors through a free
 * list.  Both take the metadata lock (a leaf in the lock order).
 */
#ifndef FRG_META_H
#define FRG_META_H

#include "lock.h"

/* Zero-filled, `align`-aligned (power of two <= page); NULL on failure. */
FRG_HIDDEN void *frg_meta_alloc(size_t size, size_t align);
/* Bytes of metadata mappings (all of which may be resident). */
FRG_HIDDEN size_t frg_meta_mapped(void);

struct frg_pool {
    frg_lock_t lock;
    size_t obj_size;
    void *free_list;
    size_t in_use;    /* descriptors handed out */
    size_t allocated; /* descriptors ever carved from metadata */
};
#define FRG_POOL_INIT(type) {FRG_LOCK_INIT(FRG_RANK_META), sizeof(type), NULL, 0, 0}

/* A zero-filled descriptor, or NULL when metadata memory cannot grow. */
FRG_HIDDEN void *frg_pool_alloc(struct frg_pool *pool);
FRG_HIDDEN void frg_pool_free(struct frg_pool *pool, void *obj);

/* Fork support: take, release, and (in the child) reset the meta locks. */
FRG_HIDDEN void frg_meta_lock_all(void);
FRG_HIDDEN void frg_meta_unlock_all(void);
FRG_HIDDEN void frg_meta_reinit_locks(void);

FRG_HIDDEN extern struct frg_pool frg_span_pool;
FRG_HIDDEN extern struct frg_pool frg_chunk_pool;

#endif
