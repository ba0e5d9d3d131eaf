/*
 * pool.c - descriptor pools with page-level purging.
 *
 * Owns: frg_span_pool, frg_run_span_pool, frg_chunk_pool and their blocks.  A block is 64 KiB
 * aligned; its header (first bytes of page 0) keeps, per page, the free
 * count, a free-list head and a bump index, so a purged page can be reused
 * without reading it.  Free slots of a page link through their first two
 * bytes.  Locking: each pool's lock (rank META) guards all of its blocks;
 * mapping a new region takes no other lock.
 */
#include "pool.h"

#include <errno.h>
#include <string.h>

#include "chunk.h"
#include "os.h"
#include "span.h"

#define BLOCK_SIZE ((size_t)64 << 10)
#define BLOCK_PAGES (BLOCK_SIZE / FRG_PAGE)
#define REGION_BLOCKS 16 /* blocks mapped at a time: 1 MiB */
#define NO_SLOT 0xffff

struct frg_pool_block {
    struct frg_pool_block *next, *prev; /* pool->avail list */
    struct frg_pool_block *all_next;
    uint32_t nfree;   /* free slots in the block, purged pages included */
    bool listed;      /* on pool->avail */
    uint16_t purged;  /* bit p: page p is purged */
    uint16_t page_free[BLOCK_PAGES];
    uint16_t page_head[BLOCK_PAGES];
    uint16_t page_bump[BLOCK_PAGES];
};

/* cache-line aligned, so that the slots of a pool whose objects are whole
 * lines (frg_run_span_pool) each have their own */
#define HEADER_SIZE frg_align_up(sizeof(struct frg_pool_block), FRG_CACHELINE)

/* A large or huge span's descriptor, in lines of its own: its owner writes
 * it at every malloc and free of the block (its usable size), and two
 * threads' blocks must not share a line.  Slab descriptors are written
 * under their class's lock, not at every call, and stay 80 bytes. */
struct frg_run_span {
    struct frg_span span;
} FRG_ALIGNED(FRG_CACHELINE);

struct frg_pool frg_span_pool = FRG_POOL_INIT(struct frg_span);
struct frg_pool frg_run_span_pool = FRG_POOL_INIT(struct frg_run_span);
struct frg_pool frg_chunk_pool = FRG_POOL_INIT(struct frg_chunk);

static uintptr_t page_start(uintptr_t block, unsigned p) {
    return block + p * FRG_PAGE + (p == 0 ? HEADER_SIZE : 0);
}
static unsigned page_cap(const struct frg_pool *pool, unsigned p) {
    return (unsigned)((FRG_PAGE - (p == 0 ? HEADER_SIZE : 0)) / pool->obj_size);
}

static void avail_link(struct frg_pool *pool, struct frg_pool_block *b) {
    b->prev = NULL;
    b->next = pool->avail;
    if (b->next)
        b->next->prev = b;
    pool->avail = b;
    b->listed = true;
}

static void avail_unlink(struct frg_pool *pool, struct frg_pool_block *b) {
    if (b->prev)
        b->prev->next = b->next;
    else
        pool->avail = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->listed = false;
}

static struct frg_pool_block *new_block(struct frg_pool *pool) {
    if (pool->carve_cur == pool->carve_end) {
        void *r = frg_os_map_aligned(REGION_BLOCKS * BLOCK_SIZE, BLOCK_SIZE, FRG_MAP_META);
        if (!r)
            return NULL;
        pool->carve_cur = (uintptr_t)r;
        pool->carve_end = pool->carve_cur + REGION_BLOCKS * BLOCK_SIZE;
    }
    struct frg_pool_block *b = (struct frg_pool_block *)pool->carve_cur;
    pool->carve_cur += BLOCK_SIZE;
    for (unsigned p = 0; p < BLOCK_PAGES; p++) {
        b->page_free[p] = (uint16_t)page_cap(pool, p);
        b->page_head[p] = NO_SLOT;
        b->nfree += b->page_free[p];
    }
    /* Pages 1..15 were never touched: like purged pages, they hold nothing
     * and are not resident.  (Counting them as neither purged nor empty
     * let the first allocation from each one decrement empty_pages, which
     * then hid really empty pages from frg_pool_purge.) */
    b->purged = (uint16_t)~1u;
    pool->purged_pages += BLOCK_PAGES - 1;
    b->all_next = pool->all;
    pool->all = b;
    pool->blocks++;
    avail_link(pool, b);
    return b;
}

/* The page to take a slot from: the fullest page that has a free slot
 * (so others drain and can be purged); a purged page only as a last resort. */
static unsigned pick_page(struct frg_pool *pool, struct frg_pool_block *b) {
    unsigned best = BLOCK_PAGES, best_free = ~0u;
    for (unsigned p = 0; p < BLOCK_PAGES; p++) {
        unsigned f = b->page_free[p];
        if (!f)
            continue;
        unsigned rank = (b->purged >> p & 1) ? 0x10000 + f : f;
        if (rank < best_free) {
            best_free = rank;
            best = p;
        }
    }
    (void)pool;
    return best;
}

void *frg_pool_alloc(struct frg_pool *pool) {
    frg_lock(&pool->lock);
    struct frg_pool_block *b = pool->avail;
    if (!b && !(b = new_block(pool))) {
        frg_unlock(&pool->lock);
        errno = ENOMEM;
        return NULL;
    }
    unsigned p = pick_page(pool, b);
    uintptr_t base = page_start((uintptr_t)b, p);
    if (b->page_free[p] == page_cap(pool, p)) {
        if (b->purged >> p & 1) {
            b->purged &= (uint16_t)~(1u << p);
            pool->purged_pages--;
        } else if (p != 0) {
            pool->empty_pages--;
        }
    }
    uintptr_t obj;
    if (b->page_head[p] != NO_SLOT) {
        obj = base + (uintptr_t)b->page_head[p] * pool->obj_size;
        b->page_head[p] = *(uint16_t *)obj;
    } else {
        obj = base + (uintptr_t)b->page_bump[p]++ * pool->obj_size;
    }
    b->page_free[p]--;
    if (--b->nfree == 0)
        avail_unlink(pool, b);
    pool->in_use++;
    frg_unlock(&pool->lock);
    memset((void *)obj, 0, pool->obj_size);
    return (void *)obj;
}

/* Give a page whose slots are all free back to the OS. */
static void purge_page(struct frg_pool *pool, struct frg_pool_block *b, unsigned p) {
    if (!frg_os_purge((void *)((uintptr_t)b + p * FRG_PAGE), FRG_PAGE))
        return;
    b->purged |= (uint16_t)(1u << p);
    b->page_head[p] = NO_SLOT;
    b->page_bump[p] = 0;
    pool->empty_pages--;
    pool->purged_pages++;
    pool->page_purges++;
}

void frg_pool_free(struct frg_pool *pool, void *obj) {
    uintptr_t o = (uintptr_t)obj;
    struct frg_pool_block *b = (struct frg_pool_block *)frg_align_down(o, BLOCK_SIZE);
    unsigned p = (unsigned)((o - (uintptr_t)b) / FRG_PAGE);
    frg_lock(&pool->lock);
    uintptr_t base = page_start((uintptr_t)b, p);
    *(uint16_t *)o = b->page_head[p];
    b->page_head[p] = (uint16_t)((o - base) / pool->obj_size);
    b->page_free[p]++;
    b->nfree++;
    pool->in_use--;
    if (!b->listed)
        avail_link(pool, b);
    if (p != 0 && b->page_free[p] == page_cap(pool, p))
        pool->empty_pages++; /* purged by the next decay pass or trim */
    frg_unlock(&pool->lock);
}

size_t frg_pool_purge(struct frg_pool *pool) {
    size_t bytes = 0;
    frg_lock(&pool->lock);
    for (struct frg_pool_block *b = pool->all; b && pool->empty_pages; b = b->all_next)
        for (unsigned p = 1; p < BLOCK_PAGES; p++)
            if (b->page_free[p] == page_cap(pool, p) && !(b->purged >> p & 1)) {
                purge_page(pool, b, p);
                bytes += FRG_PAGE;
            }
    frg_unlock(&pool->lock);
    return bytes;
}

size_t frg_pool_resident(struct frg_pool *pool) {
    frg_lock(&pool->lock);
    size_t bytes = pool->blocks * BLOCK_SIZE - pool->purged_pages * FRG_PAGE;
    frg_unlock(&pool->lock);
    return bytes;
}

static struct frg_pool *const pools[] = {&frg_span_pool, &frg_run_span_pool, &frg_chunk_pool};
#define NPOOLS (sizeof pools / sizeof pools[0])

void frg_pools_lock_all(void) {
    for (size_t i = 0; i < NPOOLS; i++)
        frg_lock(&pools[i]->lock);
}
void frg_pools_unlock_all(void) {
    for (size_t i = NPOOLS; i-- > 0;)
        frg_unlock(&pools[i]->lock);
}
void frg_pools_reinit_locks(void) {
    for (size_t i = 0; i < NPOOLS; i++)
        frg_lock_reinit(&pools[i]->lock);
}
size_t frg_pools_purge(void) {
    size_t bytes = 0;
    for (size_t i = 0; i < NPOOLS; i++)
        bytes += frg_pool_purge(pools[i]);
    return bytes;
}
size_t frg_pools_resident(void) {
    size_t bytes = 0;
    for (size_t i = 0; i < NPOOLS; i++)
        bytes += frg_pool_resident(pools[i]);
    return bytes;
}
