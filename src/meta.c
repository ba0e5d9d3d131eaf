/*
 * meta.c - bump-allocated metadata and fixed-size descriptor pools.
 *
 * Owns: the metadata mappings, the span and chunk descriptor pools.
 * Locking: meta_lock (rank META_BUMP, the innermost lock of all) guards the
 * bump pointer; each pool has its own lock (rank META), inside which a
 * refill may take meta_lock.  Nothing else is acquired while holding them.
 */
#include "meta.h"

#include <errno.h>
#include <string.h>

#include "chunk.h"
#include "os.h"
#include "span.h"

#define META_BLOCK ((size_t)256 << 10)

static frg_lock_t meta_lock = FRG_LOCK_INIT(FRG_RANK_META_BUMP);
static uintptr_t bump_cur, bump_end;
static size_t meta_mapped;

struct frg_pool frg_span_pool = FRG_POOL_INIT(struct frg_span);
struct frg_pool frg_chunk_pool = FRG_POOL_INIT(struct frg_chunk);

void *frg_meta_alloc(size_t size, size_t align) {
    size = frg_align_up(size, 16);
    if (size > META_BLOCK / 4) {
        void *p = frg_os_map(frg_align_up(size, FRG_PAGE), FRG_MAP_META);
        if (p)
            __atomic_fetch_add(&meta_mapped, frg_align_up(size, FRG_PAGE), __ATOMIC_RELAXED);
        return p;
    }
    frg_lock(&meta_lock);
    uintptr_t p = frg_align_up(bump_cur, align);
    if (!bump_cur || p + size > bump_end) {
        void *block = frg_os_map(META_BLOCK, FRG_MAP_META);
        if (!block) {
            frg_unlock(&meta_lock);
            return NULL;
        }
        __atomic_fetch_add(&meta_mapped, META_BLOCK, __ATOMIC_RELAXED);
        bump_cur = (uintptr_t)block;
        bump_end = bump_cur + META_BLOCK;
        p = frg_align_up(bump_cur, align);
    }
    bump_cur = p + size;
    frg_unlock(&meta_lock);
    return (void *)p; /* fresh mapping memory is zero */
}

size_t frg_meta_mapped(void) { return __atomic_load_n(&meta_mapped, __ATOMIC_RELAXED); }

void *frg_pool_alloc(struct frg_pool *pool) {
    frg_lock(&pool->lock);
    void *obj = pool->free_list;
    if (obj) {
        pool->free_list = *(void **)obj;
        memset(obj, 0, pool->obj_size);
    } else {
        obj = frg_meta_alloc(pool->obj_size, 16);
        if (obj)
            pool->allocated++;
    }
    if (obj)
        pool->in_use++;
    frg_unlock(&pool->lock);
    return obj;
}

void frg_pool_free(struct frg_pool *pool, void *obj) {
    frg_lock(&pool->lock);
    *(void **)obj = pool->free_list;
    pool->free_list = obj;
    pool->in_use--;
    frg_unlock(&pool->lock);
}

void frg_meta_lock_all(void) {
    frg_lock(&frg_span_pool.lock);
    frg_lock(&frg_chunk_pool.lock);
    frg_lock(&meta_lock);
}

void frg_meta_unlock_all(void) {
    frg_unlock(&meta_lock);
    frg_unlock(&frg_chunk_pool.lock);
    frg_unlock(&frg_span_pool.lock);
}

void frg_meta_reinit_locks(void) {
    frg_lock_reinit(&meta_lock);
    frg_lock_reinit(&frg_chunk_pool.lock);
    frg_lock_reinit(&frg_span_pool.lock);
}
