/*
 * sizeclass.c - the constant size-class table and the size-to-class
 * computation for sizes above the lookup table.
 *
 * Owns: frg_classes, frg_class_lookup.  Locking: none (constants).
 */
#include "sizeclass.h"

#include "sizeclass_table.h"

const struct frg_class_info frg_classes[FRG_NCLASSES] = {FRG_SIZECLASS_TABLE};
const uint8_t frg_class_lookup[FRG_LOOKUP_MAX / FRG_QUANTUM + 1] = {FRG_SIZECLASS_LOOKUP};

/* n in (2^k, 2^(k+1)], k >= 10 here, is served by one of four classes
 * spaced 2^(k-2) apart; classes 0..7 are the multiples of 16 up to 128. */
unsigned frg_size_to_class_big(size_t n) {
    size_t x = n - 1;
    unsigned k = frg_log2(x);
    return 8 + 4 * (k - 7) + (unsigned)((x >> (k - 2)) - 4);
}
