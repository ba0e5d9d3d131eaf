/*
 * meta.h - memory for the allocator's own metadata.
 *
 * Metadata never lives next to user objects: it comes from separate
 * mappings named "frgmalloc-meta".  frg_meta_alloc is a bump allocator for
 * tables that live as long as the process; descriptors that come and go
 * use pools (pool.h).  It takes the metadata bump lock, the innermost.
 */
#ifndef FRG_META_H
#define FRG_META_H

#include "lock.h"

/* Zero-filled, `align`-aligned (power of two <= page); NULL on failure. */
FRG_HIDDEN void *frg_meta_alloc(size_t size, size_t align);
/* Bytes of metadata mappings (all of which may be resident). */
FRG_HIDDEN size_t frg_meta_mapped(void);

/* Fork support: take, release, and (in the child) reset the bump lock. */
FRG_HIDDEN void frg_meta_lock_all(void);
FRG_HIDDEN void frg_meta_unlock_all(void);
FRG_HIDDEN void frg_meta_reinit_locks(void);


#endif
