/*
 * sizeclass.c - the constant size-class tables (generated into
 * sizeclass_table.h by src/gen_sizeclasses.py).
 *
 * Owns: frg_classes, frg_class_lookup, frg_class_lookup_big.
 * Locking: none (constants).
 */
#include "sizeclass.h"


const struct frg_class_info frg_classes[FRG_NCLASSES] = {FRG_SIZECLASS_TABLE};
const uint8_t frg_class_lookup[FRG_LOOKUP_MAX / FRG_QUANTUM + 1] = {FRG_SIZECLASS_LOOKUP};

const uint8_t frg_class_lookup_big[FRG_SMALL_MAX / 128 + 1] = {FRG_SIZECLASS_LOOKUP_BIG};
