/*
 * fastpath_vars.h - the values that malloc's and free's fast paths read on
 * every call (and the init state, which every slow path reads), kept in
 * one cache line that nothing else shares.
 *
 * They are written at start-up (the cache mode also at fork and when lease
 * mode falls back to lock mode) and read by every thread on every call.
 * A lock or a counter in their line would make every other CPU's fast path
 * miss its cache each time a thread wrote it: a thread allocating huge
 * blocks beside one allocating small ones made the small ones take twice
 * as long (bench/RESULTS.md §4, "False sharing").  Each field is written
 * by the module named beside it; design.md, "Data layout", has the rule for
 * the other globals.
 */
#ifndef FRG_FASTPATH_VARS_H
#define FRG_FASTPATH_VARS_H

#include <stdint.h>

#include "util.h"

struct frg_fastpath_vars {
    uint64_t free_key; /* word 1 of a free small object (init.c) */
    uintptr_t regions; /* base of CPU 0's cache region (percpu.c; rseq.h) */
    long rseq_off;     /* the rseq area's offset from the thread pointer (percpu.c, rseq.c) */
    int cache_mode;    /* enum frg_cache_mode (percpu.c) */
    int init_state;    /* FRG_INIT_* (init.c, init.h) */
} FRG_ALIGNED(FRG_CACHELINE);

/* Defined in init.c. */
FRG_HIDDEN extern struct frg_fastpath_vars frg_fastpath;

#endif
