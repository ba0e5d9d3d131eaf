/*
 * meta.c - bump-allocated metadata that lives as long as the process.
 *
 * Owns: the bump metadata mappings (per-CPU state, address heaps).
 * Descriptors that come and go live in pools (pool.c).
 * Locking: meta_lock (rank META_BUMP, the innermost lock of all) guards the
 * bump pointer.
 */
#include "meta.h"

#include <errno.h>
#include <string.h>

#include "os.h"

#define META_BLOCK ((size_t)256 << 10)

static frg_padded_lock_t meta_lock = FRG_PADDED_LOCK_INIT(FRG_RANK_META_BUMP);
static uintptr_t bump_cur, bump_end;
static size_t meta_mapped;


void *frg_meta_alloc(size_t size, size_t align) {
    size = frg_align_up(size, 16);
    if (size > META_BLOCK / 4) {
        void *p = frg_os_map(frg_align_up(size, FRG_PAGE), FRG_MAP_META);
        if (p)
            __atomic_fetch_add(&meta_mapped, frg_align_up(size, FRG_PAGE), __ATOMIC_RELAXED);
        return p;
    }
    frg_lock(&meta_lock.lock);
    uintptr_t p = frg_align_up(bump_cur, align);
    if (!bump_cur || p + size > bump_end) {
        void *block = frg_os_map(META_BLOCK, FRG_MAP_META);
        if (!block) {
            frg_unlock(&meta_lock.lock);
            return NULL;
        }
        __atomic_fetch_add(&meta_mapped, META_BLOCK, __ATOMIC_RELAXED);
        bump_cur = (uintptr_t)block;
        bump_end = bump_cur + META_BLOCK;
        p = frg_align_up(bump_cur, align);
    }
    bump_cur = p + size;
    frg_unlock(&meta_lock.lock);
    return (void *)p; /* fresh mapping memory is zero */
}

size_t frg_meta_mapped(void) { return __atomic_load_n(&meta_mapped, __ATOMIC_RELAXED); }

void frg_meta_lock_all(void) { frg_lock(&meta_lock.lock); }
void frg_meta_unlock_all(void) { frg_unlock(&meta_lock.lock); }
void frg_meta_reinit_locks(void) { frg_lock_reinit(&meta_lock.lock); }
