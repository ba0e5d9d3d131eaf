/*
 * central.h - per-size-class lists of partially used slabs.
 *
 * The middle layer between the per-CPU caches and the page heap.  Objects
 * move in batches: frg_central_alloc_batch fills a cache, frg_central_free_batch
 * takes objects back.  Each class keeps its non-full slabs on eight lists
 * by fullness and allocates from the fullest one (or, with
 * slab_order:address, from the lowest-addressed one), so that live objects
 * concentrate and lightly used slabs drain, become empty, and go back to
 * the page heap — unless the dirty budget has room, then it is stashed,
 * formatted, for the next slab this class needs (the purger gives the
 * stash back after decay_ms without reuse).  Locking: one lock per class (rank CENTRAL); at
 * most one central lock is held at a time; the page heap is called with it
 * held.
 */
#ifndef FRG_CENTRAL_H
#define FRG_CENTRAL_H

#include "lock.h"
#include "sizeclass.h"
#include "span.h"

#define FRG_FULLNESS_BUCKETS 8

struct frg_central {
    frg_lock_t lock;
    struct frg_span *partial[FRG_FULLNESS_BUCKETS];
    uint32_t nonempty; /* bit b set: partial[b] is not empty */
    struct frg_span **heap;  /* slab_order:address: min-heap by base */
    size_t heap_len, heap_cap;
    struct frg_span *stash;  /* empty slabs kept for reuse (linked by next) */
    size_t nstash;
    bool stash_used;         /* a slab stashed into an empty stash or reused
                              * since the purger last looked */
    uint64_t stash_used_ns;  /* purger's clock: when it last saw stash_used */
    size_t nslabs;     /* slabs of this class */
    size_t objs_out;   /* objects outside their slabs (live or cached) */
    uint64_t nmalloc;  /* objects taken out of slabs, ever */
    uint64_t nfree;    /* objects put back into slabs, ever */
    uint64_t slabs_created, slabs_released;
    size_t purged_pages;  /* pages of partial slabs given back (span->purged) */
    uint64_t ops_seen;    /* nmalloc + nfree at the purger's last look */
    uint64_t ops_swept;   /* nmalloc + nfree when its free pages were last purged */
} FRG_ALIGNED(FRG_CACHELINE);

FRG_HIDDEN extern struct frg_central frg_central[FRG_NCLASSES];

/* Up to n objects of class cls into out[]; returns how many (0 means the
 * page heap is out of memory, errno = ENOMEM). */
FRG_HIDDEN unsigned frg_central_alloc_batch(unsigned cls, void **out, unsigned n);
/* Return n objects of class cls.  Pointers that are not live objects of
 * that class are reported as misuse and skipped.  Returns true when slabs
 * went back to the page heap: the caller then calls
 * frg_pageheap_enforce_budget() once it holds no lock (it may madvise). */
FRG_HIDDEN bool frg_central_free_batch(unsigned cls, void *const *ptrs, unsigned n);
/* The same for objects a cache has held untouched since the purger's
 * clock read `idle_since_ns` (0: not known, as frg_central_free_batch):
 * a slab they empty into an empty stash
 * dates the stash's last use back to then instead of to the purger's next
 * look, so its pages leave decay_ms after the objects were last used, as
 * they would have had the slab been stashed at their free. */
FRG_HIDDEN bool frg_central_free_batch_idle(unsigned cls, void *const *ptrs, unsigned n,
                                            uint64_t idle_since_ns);

/* Give stashed empty slabs back: those of classes that have not reused
 * one since `unused_since_ns` (UINT64_MAX: all), as the purger saw at its
 * ticks, the last at `now_ns`.  `purge`: to the OS (returns the bytes);
 * else to the page heap unpurged, as dirty pages (the end of a burst of
 * frees: the page heap then keeps what the boost of its budget allows, of
 * the stash too; returns 0). */
FRG_HIDDEN size_t frg_central_release_stash(uint64_t now_ns, uint64_t unused_since_ns, bool purge);
/* Bytes of empty slabs kept for reuse, all classes. */
FRG_HIDDEN size_t frg_central_stash_bytes(void);
/* Give back the pages of partial slabs on which every object is free
 * (classes whose slabs have several pages), class by class with the
 * class's lock held across the madvise.  `all`: every such class (trim,
 * idle process); else only classes no object entered or left since the
 * previous call and not swept since they last did.  Returns bytes purged. */
FRG_HIDDEN size_t frg_central_purge_free_pages(bool all);
/* Some class with partial multi-page slabs changed since its last sweep. */
FRG_HIDDEN bool frg_central_unswept(void);

/* Debug: lists, counts and every slab of every class are consistent. */
FRG_HIDDEN bool frg_central_validate(void);

FRG_HIDDEN void frg_central_lock_all(void);
FRG_HIDDEN void frg_central_unlock_all(void);
FRG_HIDDEN void frg_central_reinit_locks(void);

#endif
