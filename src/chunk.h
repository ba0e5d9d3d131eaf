/*
 * chunk.h - a 4 MiB, 4 MiB-aligned mapping carved into page runs.
 *
 * The page heap owns chunks.  Each chunk's descriptor lives out of band and
 * records, one bit per page, which pages belong to a span (`used`) and
 * which free pages may still be resident because they were used since their
 * last purge (`dirty`).  `dirty_old` marks the dirty pages that were
 * already dirty when the chunk's current decay generation began (gen_ns):
 * pages nobody took for a whole generation, which the decay pass purges.
 * A free run is simply a stretch of clear `used`
 * bits, so neighbouring free runs coalesce by construction.  All fields are
 * protected by the page-heap lock.
 */
#ifndef FRG_CHUNK_H
#define FRG_CHUNK_H

#include "os.h"

#define FRG_CHUNK_SHIFT 22
#define FRG_CHUNK_SIZE ((size_t)1 << FRG_CHUNK_SHIFT)
#define FRG_CHUNK_PAGES (FRG_CHUNK_SIZE / FRG_PAGE)
#define FRG_CHUNK_WORDS (FRG_CHUNK_PAGES / 64)
#define FRG_CHUNK_BUCKETS 11 /* by floor(log2(longest free run)): 1 .. 1024 pages */
#define FRG_CHUNK_UNLISTED 0xff

struct frg_chunk {
    uintptr_t base; /* read with FRG_BASE */
    uint64_t used[FRG_CHUNK_WORDS];
    uint64_t dirty[FRG_CHUNK_WORDS];
    uint64_t dirty_old[FRG_CHUNK_WORDS]; /* subset of dirty, see above */
    uint32_t nfree;        /* pages not used */
    uint32_t ndirty;       /* free pages that may be resident */
    uint32_t longest;      /* longest free run, in pages */
    uint32_t longest_start; /* where that run starts */
    bool longest_stale;     /* longest is only an upper bound */
    uint32_t purging;      /* pages detached for madvise (marked used) */
    uint8_t bucket;        /* by-longest list it is on */
    bool on_dirty_list;
    uint64_t dirty_ns;     /* when a page of it last became dirty */
    uint64_t gen_ns;       /* when its decay generation began */
    uint32_t gen_pass;     /* the decay pass that began it */
    struct frg_chunk *next, *prev;   /* by-longest bucket list */
    struct frg_chunk *dnext, *dprev; /* dirty list, newest dirty_ns first */
    struct frg_chunk *anext, *aprev; /* all chunks */
};

#endif
