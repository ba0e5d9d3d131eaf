/*
 * transfer.h - the transfer cache: batches of free objects between the
 * per-CPU caches and the central lists.
 *
 * A per-CPU cache that overflows hands its batch here; one that runs dry
 * takes a batch from here.  Moving a batch is a copy of pointers under one
 * lock, where the central lists would find each object's slab, set or
 * clear its bit and refile the slab.  So a working set somewhat larger than
 * the CPU caches circulates without touching the slabs.
 *
 * The cache is global (not per CPU) and bounded: `transfer_max` bytes in
 * all, a quarter of that per class, at most TRANSFER_MAX_OBJS objects per
 * class.  Objects in it are free objects that keep their slabs in use, so
 * it is drained like the CPU caches: by malloc_trim, by the purger when a
 * class has not used it for decay_ms, and for the exact double-free check.
 * Locking: one lock per class (rank TRANSFER, between CPU and CENTRAL);
 * the central lists are called without it.
 */
#ifndef FRG_TRANSFER_H
#define FRG_TRANSFER_H

#include "sizeclass.h"

FRG_HIDDEN void frg_transfer_init(void);
/* Up to n objects of class cls into out[], from the transfer cache and,
 * for the rest, the central lists.  Returns how many (0: out of memory,
 * errno = ENOMEM). */
FRG_HIDDEN unsigned frg_transfer_alloc_batch(unsigned cls, void **out, unsigned n);
/* Take n validated free objects of class cls.  Those the cache has no
 * room for go to the central lists; returns true when slabs went back to
 * the page heap (see frg_central_free_batch). */
FRG_HIDDEN bool frg_transfer_free_batch(unsigned cls, void *const *ptrs, unsigned n);
/* Move every object of class cls (or, with cls = FRG_NCLASSES, of every
 * class) to the central lists.  Returns the bytes moved. */
FRG_HIDDEN size_t frg_transfer_drain(unsigned cls);
/* Purger hook: drain the classes that have not used the cache since the
 * last pass that saw them used, `idle_ns` or more ago.  Returns bytes. */
FRG_HIDDEN size_t frg_transfer_decay(uint64_t now_ns, uint64_t idle_ns);
/* Bytes of objects held; objects held in class cls. */
FRG_HIDDEN size_t frg_transfer_bytes(void);
FRG_HIDDEN size_t frg_transfer_objs(unsigned cls);

FRG_HIDDEN void frg_transfer_lock_all(void);
FRG_HIDDEN void frg_transfer_unlock_all(void);
FRG_HIDDEN void frg_transfer_reinit_locks(void);

#endif
