/*
 * sizeclass.c - the constant size-class tables (generated into
 * sizeclass_table.h by src/gen_sizeclasses.py).
 *
 * Owns: frg_classes, frg_class_lookup, frg_class_lookup_big.
 * Locking: none (constants).
 */
#include "sizeclass.h"


/* A large class of `pages` pages: one object per "slab", at offset 0
 * (sizeclass.h). */
#define LARGE_SIZE(pages) ((uint64_t)(pages) * FRG_PAGE)
#define LARGE_CLASS(pages)                                                              \
    {(uint32_t)LARGE_SIZE(pages), (uint32_t)(((1ull << 32) + LARGE_SIZE(pages) - 1) / LARGE_SIZE(pages)), \
     (pages), 1, 4294967295u, FRG_DIV_MAGIC(LARGE_SIZE(pages)), FRG_START_BELOW(LARGE_SIZE(pages), 1)}
#define LARGE_DOUBLING(step)                                                            \
    LARGE_CLASS(9 * (step)), LARGE_CLASS(10 * (step)), LARGE_CLASS(11 * (step)),        \
    LARGE_CLASS(12 * (step)), LARGE_CLASS(13 * (step)), LARGE_CLASS(14 * (step)),       \
    LARGE_CLASS(15 * (step)), LARGE_CLASS(16 * (step))

const struct frg_class_info frg_classes[FRG_NCACHE_CLASSES] = {
    FRG_SIZECLASS_TABLE
    LARGE_DOUBLING(2), LARGE_DOUBLING(4), LARGE_DOUBLING(8), LARGE_DOUBLING(16),
};
const uint8_t frg_class_lookup[FRG_LOOKUP_MAX / FRG_QUANTUM + 1] = {FRG_SIZECLASS_LOOKUP};

const uint8_t frg_class_lookup_big[FRG_SMALL_MAX / 128 + 1] = {FRG_SIZECLASS_LOOKUP_BIG};
