/*
 * pagemap.c - the page map's layout, creation of its leaves and bulk
 * updates.
 *
 * Owns: frg_pm_root, frg_pm_flat, every leaf, and the count of the map's
 * pages written.  Locking: leaf creation is serialised by leaf_lock (rank
 * META), and so are root_touched and bits_touched; installing a leaf is a
 * release store, so lock-free lookups see either NULL or a zero-filled
 * leaf.  frg_pm_flat is set once, at initialisation, before any leaf
 * exists.
 * Entry writes need no lock: each entry belongs to exactly one span owner
 * at a time; leaf_touched and touched_pages are updated with atomics.
 */
#include "pagemap.h"

#include <errno.h>

#include "lock.h"
#include "options.h"

#define NLEAVES ((size_t)1 << FRG_PM_ROOT_BITS)

struct frg_pm_leaf *frg_pm_root[NLEAVES];
uint64_t *frg_pm_flat;
static frg_padded_lock_t leaf_lock = FRG_PADDED_LOCK_INIT(FRG_RANK_META);
static size_t touched_pages; /* pages of the map written: root, leaves, leaf_touched */
/* Bit j of leaf_touched[i]: page j of leaf i has been written (a leaf is
 * 64 pages).  Beside the leaves, not in them: flat leaves are contiguous. */
static uint64_t leaf_touched[NLEAVES];
_Static_assert(FRG_PM_LEAF_PAGES == 64, "a leaf's pages fit one word of bits");
/* Which pages of frg_pm_root and of leaf_touched have been written. */
static uint64_t root_touched[(sizeof frg_pm_root / FRG_PAGE + 63) / 64];
static uint64_t bits_touched[(sizeof leaf_touched / FRG_PAGE + 63) / 64];

void frg_pagemap_init(void) {
    if (frg_opt.pagemap != FRG_PAGEMAP_FLAT || frg_pm_flat)
        return;
    uint64_t *map = frg_os_reserve_address_space(sizeof(struct frg_pm_leaf) * NLEAVES);
    if (map)
        __atomic_store_n(&frg_pm_flat, map, __ATOMIC_RELEASE);
}

const char *frg_pagemap_layout(void) { return frg_pm_flat ? "flat" : "tree"; }

/* Count the page of a static table holding byte `offset` the first time
 * it is written (leaf_lock held). */
static void count_static_page(uint64_t *seen, size_t offset) {
    size_t page = offset / FRG_PAGE;
    if (!(seen[page / 64] & (1ull << (page % 64)))) {
        seen[page / 64] |= 1ull << (page % 64);
        __atomic_fetch_add(&touched_pages, 1, __ATOMIC_RELAXED);
    }
}

bool frg_pagemap_ensure(uintptr_t addr, size_t size) {
    if ((addr + size - 1) >> FRG_VA_BITS) {
        errno = ENOMEM;
        return false;
    }
    uintptr_t first = addr >> (FRG_PAGE_SHIFT + FRG_PM_LEAF_BITS);
    uintptr_t last = (addr + size - 1) >> (FRG_PAGE_SHIFT + FRG_PM_LEAF_BITS);
    for (uintptr_t i = first; i <= last; i++) {
        if (__atomic_load_n(&frg_pm_root[i], __ATOMIC_ACQUIRE))
            continue;
        frg_lock(&leaf_lock.lock);
        if (!frg_pm_root[i]) {
            /* flat: its slice, made accessible before the root publishes it */
            struct frg_pm_leaf *leaf = frg_pm_flat ? (struct frg_pm_leaf *)frg_pm_flat + i
                                                   : frg_os_reserve(sizeof *leaf);
            if (leaf && frg_pm_flat && !frg_os_make_accessible(leaf, sizeof *leaf))
                leaf = NULL;
            if (!leaf) {
                frg_unlock(&leaf_lock.lock);
                errno = ENOMEM;
                return false;
            }
            count_static_page(root_touched, i * sizeof frg_pm_root[0]);
            count_static_page(bits_touched, i * sizeof leaf_touched[0]);
            __atomic_store_n(&frg_pm_root[i], leaf, __ATOMIC_RELEASE);
        }
        frg_unlock(&leaf_lock.lock);
    }
    return true;
}

void frg_pagemap_set(uintptr_t addr, size_t npages, struct frg_span *span) {
    uintptr_t page = addr >> FRG_PAGE_SHIFT;
    uint64_t value = (uint64_t)(uintptr_t)span;
    FRG_CHECK(!(value & ~FRG_PM_SPAN_MASK)); /* 16-byte aligned, below 2^47 */
    if (span && (span->kind == FRG_SPAN_SLAB || (span->kind == FRG_SPAN_LARGE && span->sclass)))
        value |= FRG_PM_SLAB | (uint64_t)span->sclass << FRG_PM_CLASS_SHIFT |
                 ((FRG_BASE(span) >> FRG_PM_BASE_SHIFT) & 15);
    for (size_t i = 0; i < npages; i++, page++) {
        size_t li = page >> FRG_PM_LEAF_BITS, idx = page & ((1u << FRG_PM_LEAF_BITS) - 1);
        uint64_t bit = 1ull << (idx * sizeof(uint64_t) / FRG_PAGE);
        if (FRG_UNLIKELY(!(__atomic_load_n(&leaf_touched[li], __ATOMIC_RELAXED) & bit)) &&
            !(__atomic_fetch_or(&leaf_touched[li], bit, __ATOMIC_RELAXED) & bit))
            __atomic_fetch_add(&touched_pages, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&frg_pm_root[li]->entry[idx], value, __ATOMIC_RELEASE);
    }
}

void frg_pagemap_set_slab_flag(uintptr_t addr, size_t npages, bool on) {
    for (uintptr_t page = addr >> FRG_PAGE_SHIFT; npages--; page++) {
        uint64_t *e = &frg_pm_root[page >> FRG_PM_LEAF_BITS]
                           ->entry[page & ((1u << FRG_PM_LEAF_BITS) - 1)];
        uint64_t v = __atomic_load_n(e, __ATOMIC_RELAXED);
        if (on) {
            v |= FRG_PM_SLAB;
        } else {
            uint64_t gen = (v + ((uint64_t)1 << FRG_PM_GEN_SHIFT)) & FRG_PM_GEN_MASK;
            v = (v & ~(FRG_PM_SLAB | FRG_PM_GEN_MASK)) | gen;
        }
        __atomic_store_n(e, v, __ATOMIC_RELEASE);
    }
}

size_t frg_pagemap_committed(void) {
    return __atomic_load_n(&touched_pages, __ATOMIC_RELAXED) * FRG_PAGE;
}

void frg_pagemap_lock(void) { frg_lock(&leaf_lock.lock); }
void frg_pagemap_unlock(void) { frg_unlock(&leaf_lock.lock); }
void frg_pagemap_reinit_lock(void) { frg_lock_reinit(&leaf_lock.lock); }
