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

FRG_HIDDEN extern const struct frg_class_info frg_classes[FRG_NCLASSES];
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
