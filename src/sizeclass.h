/*
 * sizeclass.h - small-object size classes.
 *
 * 80 classes from 16 B to 64 KiB: multiples of 16 up to 128, then eight
 * classes per doubling (144, 160, ..., 256, 288, ...).  Rounding a request
 * up to its class wastes at most 15 bytes below 128 B and under 12.5% of
 * the request above (tests/test_sizeclass.c checks the bounds).  Each
 * class has a slab size in pages chosen so the unusable tail of a slab is at
 * most 1/16 of it.  The table is generated at development time by
 * src/gen_sizeclasses.py into sizeclass_table.h (each class annotated with
 * its waste) and is constant, so malloc can use it before initialisation.
 */
#ifndef FRG_SIZECLASS_H
#define FRG_SIZECLASS_H

#include "os.h"
#include "util.h"
#include "sizeclass_table.h"

#define FRG_NCLASSES FRG_SIZECLASS_COUNT
#define FRG_SMALL_MAX ((size_t)65536)
#define FRG_QUANTUM 16
#define FRG_LOOKUP_MAX 1024
#define FRG_SLAB_MAX_PAGES 16

struct frg_class_info {
    uint32_t size;       /* object size */
    uint32_t recip;      /* ceil(2^32 / size) */
    uint16_t slab_pages; /* pages per slab */
    uint16_t nobjs;      /* objects per slab */
    uint32_t nobjs_recip; /* ceil(2^32 / nobjs): fullness without dividing */
    uint64_t div_magic;   /* ceil(2^64 / size): see frg_class_is_object_start */
    uint64_t start_below; /* FRG_START_BELOW(size, nobjs): the bound of that test */
};
#define FRG_DIV_MAGIC(size) (UINT64_MAX / (size) + 1)
/* size * ceil(2^64/size) mod 2^64: the product's excess over 2^64 (< size;
 * 0 for a power of two). */
#define FRG_DIV_EXCESS(size) ((uint64_t)(size) * FRG_DIV_MAGIC(size))
/* Object k of a slab (offset k * size) maps to k * excess, the first
 * object past the last to nobjs * excess.  A power of two has no excess,
 * and its objects fill their slab exactly: every multiple inside it is an
 * object (tests/test_sizeclass.c checks that). */
#define FRG_START_BELOW(size, nobjs) \
    (FRG_DIV_EXCESS(size) ? (uint64_t)(nobjs) * FRG_DIV_EXCESS(size) : 1)

/* Large classes.  A large object (FRG_SMALL_MAX < size <= FRG_LARGE_MAX,
 * large.h) is a run of pages rounded up to eight classes per doubling:
 * 18, 20, ..., 32, 36, ..., 64, 72, ..., 128, 144, ..., 256 pages (waste
 * under 12.5 %, in pages a program that does not use them never
 * touches), so that a freed run fits any later request of its class.
 * Large class l is size class FRG_NCLASSES + l of frg_classes[] and of the
 * per-CPU caches, which hold such runs like objects: a run is one object
 * of its "slab", at offset 0. */
#define FRG_NLARGE_CLASSES 32
#define FRG_NCACHE_CLASSES (FRG_NCLASSES + FRG_NLARGE_CLASSES)
#define FRG_LARGE_MAX ((size_t)1 << 20)
#define FRG_LARGE_MIN_PAGES (FRG_SMALL_MAX / FRG_PAGE + 1) /* 17 */
_Static_assert(FRG_LARGE_MAX / FRG_PAGE == 256, "four doublings of eight classes from 16 pages");

/* The pages of a run for `size` bytes (size <= FRG_LARGE_MAX; a smaller
 * size, which an alignment sends to the page heap, is not rounded). */
FRG_INLINE size_t frg_large_run_pages(size_t size) {
    size_t npages = (size + FRG_PAGE - 1) / FRG_PAGE;
    if (npages < FRG_LARGE_MIN_PAGES)
        return npages ? npages : 1;
    unsigned step_shift = 63 - (unsigned)__builtin_clzl(npages - 1) - 3;
    size_t step = (size_t)1 << step_shift;
    return (npages + step - 1) & ~(step - 1);
}
/* The large class of a run of npages pages, or FRG_NLARGE_CLASSES if no
 * class has exactly that many (every run is made of a class size; large.c
 * does not rely on it). */
FRG_INLINE unsigned frg_large_class_of(size_t npages) {
    if (npages < FRG_LARGE_MIN_PAGES || npages > FRG_LARGE_MAX / FRG_PAGE)
        return FRG_NLARGE_CLASSES;
    unsigned log = 63 - (unsigned)__builtin_clzl(npages - 1); /* 4 .. 7 */
    unsigned step_shift = log - 3;
    if (npages & (((size_t)1 << step_shift) - 1))
        return FRG_NLARGE_CLASSES;
    return (log - 4) * 8 + (unsigned)(npages >> step_shift) - 9;
}
FRG_INLINE size_t frg_large_class_pages(unsigned l) {
    unsigned step_shift = l / 8 + 1;
    return (size_t)(l % 8 + 9) << step_shift;
}

FRG_HIDDEN extern const struct frg_class_info frg_classes[FRG_NCACHE_CLASSES];
FRG_HIDDEN extern const uint8_t frg_class_lookup[FRG_LOOKUP_MAX / FRG_QUANTUM + 1];
FRG_HIDDEN extern const uint8_t frg_class_lookup_big[FRG_SMALL_MAX / 128 + 1];

/* n must be <= FRG_SMALL_MAX; malloc(0) is served as malloc(1).  Class
 * boundaries above 1 KiB are multiples of 128, so a second table with
 * 128-byte steps is exact there. */
FRG_INLINE unsigned frg_tiny_size_to_class(size_t n) { /* n <= FRG_LOOKUP_MAX */
    return frg_class_lookup[(n + FRG_QUANTUM - 1) / FRG_QUANTUM];
}

FRG_INLINE unsigned frg_size_to_class(size_t n) {
    if (FRG_LIKELY(n <= FRG_LOOKUP_MAX))
        return frg_tiny_size_to_class(n);
    return frg_class_lookup_big[(n + 127) / 128];
}

FRG_INLINE size_t frg_class_size(unsigned cls) { return frg_classes[cls].size; }

/* Is byte offset `off` of a slab of class ci, off < slab_pages * 4096, the
 * start of an object?  With M = ceil(2^64/size) and e = size * M mod 2^64
 * (0 <= e < size), off = k * size + r maps to off * M mod 2^64 =
 * k * e + r * M: below M exactly when r = 0 (Lemire's divisibility test),
 * and then below nobjs * e exactly when k < nobjs, i.e. not in the slab's
 * unusable tail (k * e < M for every k in a slab).  One multiply and one
 * compare.  Offsets past the slab are not excluded for powers of two:
 * callers derive `off` from the page map, which keeps it inside. */
FRG_INLINE bool frg_class_is_object_start(const struct frg_class_info *ci, uintptr_t off) {
    return (uint64_t)off * ci->div_magic < ci->start_below;
}

/* Index of the object containing byte offset `off` of a slab whose
 * class has reciprocal `recip` (exact for offsets below 2^16 * 16). */
FRG_INLINE uint32_t frg_class_obj_index(uint32_t recip, uintptr_t off) {
    return (uint32_t)(((uint64_t)off * recip) >> 32);
}

#endif
