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
 * class.  Beyond that, a class whose slabs hold one object may hold
 * objects on the dirty budget's room (frg_purge_keep_room), where the
 * same memory would otherwise sit as stashed slabs; it gives them back
 * when the budget is overrun.  Objects in it are free objects that keep
 * their slabs in use, so it holds objects in flight only: the purger
 * gives back, at each tick, the objects a class did not touch since the
 * last one (below its low-water mark), and malloc_trim, an idle process
 * and the exact double-free check drain it entirely.
 * Locking: one lock per class (rank TRANSFER, between CPU and CENTRAL);
 * refills and flushes call the central lists without it; drains, and a
 * flush that gives back objects held on an overrun budget, with it.
 * A double free whose free key a use after free had wiped reaches the
 * slab bitmap only when its batch leaves this cache (see
 * docs/reliability.md).
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
/* Purger hook: in each class whose last look is `idle_ns` or more ago,
 * give back the objects not touched since (those below the class's
 * low-water mark) and start a new period.  Returns bytes. */
FRG_HIDDEN size_t frg_transfer_decay(uint64_t now_ns, uint64_t idle_ns);
/* Bytes of objects held; objects held in class cls. */
FRG_HIDDEN size_t frg_transfer_bytes(void);
FRG_HIDDEN size_t frg_transfer_objs(unsigned cls);
/* Of frg_transfer_bytes(), those held on the dirty budget's room. */
FRG_HIDDEN size_t frg_transfer_budget_bytes(void);

FRG_HIDDEN void frg_transfer_lock_all(void);
FRG_HIDDEN void frg_transfer_unlock_all(void);
FRG_HIDDEN void frg_transfer_reinit_locks(void);

#endif
