/*
 * span.h - the descriptor of a run of pages handed out by the page heap.
 *
 * A span is a slab (objects of one size class), a large object (one run of
 * pages inside a chunk) or a huge object (its own mapping).  Descriptors
 * live out of band in metadata memory; the page map points every page of a
 * slab, and the first page of a large or huge span, at its descriptor.
 * Fields are protected by the lock of the layer that owns the span: the
 * central list of its class (slab), the page heap (large), the huge lock
 * (huge).  `kind` and `base` never change while the span is reachable from
 * the page map, nor do a slab's `sclass` and `npages`, so free() may read
 * them without a lock; a large run's change only when the caller that
 * holds it resizes it (realloc).
 */
#ifndef FRG_SPAN_H
#define FRG_SPAN_H

#include "util.h"

enum frg_span_kind { FRG_SPAN_SLAB = 1, FRG_SPAN_LARGE = 2, FRG_SPAN_HUGE = 3 };

#define FRG_SLAB_MAX_OBJS 256
#define FRG_SLAB_MAP_WORDS (FRG_SLAB_MAX_OBJS / 64)

struct frg_chunk;

/* 16-byte aligned: the page map keeps slab data in an entry's low bits. */
struct frg_span {
    _Alignas(16) uintptr_t base; /* address of the first byte (read with FRG_BASE) */
    uint32_t npages;    /* pages in the run (huge: pages of the usable size) */
    uint8_t kind;       /* enum frg_span_kind */
    uint8_t sclass;     /* slab: size class; large: the class the CPU caches
                         * keep it under (sizeclass.h), 0 if they do not */
    uint16_t nfree;     /* slab: free objects */
    uint16_t purged;    /* slab: bit j set = page j was given back to the OS while
                         * the slab held live objects (every object on it free) */
    uint8_t bucket;     /* slab: fullness list it is on, or FRG_SLAB_UNLISTED */
    uint8_t pad;
    uint32_t order_idx; /* slab: position in its class's address heap */
    struct frg_span *next, *prev; /* central partial list, huge list */
    struct frg_chunk *chunk;      /* slab, large: the chunk holding the run */
    union {
        uint64_t freemap[FRG_SLAB_MAP_WORDS]; /* slab: bit set = object free */
        struct {
            size_t map_size;   /* bytes mapped (>= usable) */
            size_t usable;     /* bytes the caller may use */
            uint64_t freed_ns; /* when it entered the huge cache */
        } huge;
        struct {
            size_t usable; /* large: bytes the caller may use (page multiple) */
        } large;
    } u;
};

#define FRG_SLAB_UNLISTED 0xff

/* Page-map value of pages that held an object which was freed (page heap
 * free pages, cached huge mappings): a second free of such a pointer is
 * reported as a double free rather than an invalid one. */
FRG_HIDDEN extern struct frg_span frg_span_freed;

#endif
