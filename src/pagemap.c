/*
 * pagemap.c - creation of page-map leaves and bulk updates.
 *
 * Owns: frg_pm_root and every leaf.  Locking: leaf creation is serialised
 * by leaf_lock (rank META); installing a leaf is a release store, so
 * lock-free lookups see either NULL or a zero-filled leaf.  Entry writes
 * need no lock: each entry belongs to exactly one span owner at a time.
 */
#include "pagemap.h"

#include "lock.h"

struct frg_pm_leaf *frg_pm_root[(size_t)1 << FRG_PM_ROOT_BITS];
static frg_padded_lock_t leaf_lock = FRG_PADDED_LOCK_INIT(FRG_RANK_META);
static size_t leaves;
static size_t touched_pages; /* leaf and root pages written */
static uint64_t root_touched[(sizeof frg_pm_root / FRG_PAGE + 63) / 64];

bool frg_pagemap_ensure(uintptr_t addr, size_t size) {
    if ((addr + size - 1) >> FRG_VA_BITS)
        return false;
    uintptr_t first = addr >> (FRG_PAGE_SHIFT + FRG_PM_LEAF_BITS);
    uintptr_t last = (addr + size - 1) >> (FRG_PAGE_SHIFT + FRG_PM_LEAF_BITS);
    for (uintptr_t i = first; i <= last; i++) {
        if (__atomic_load_n(&frg_pm_root[i], __ATOMIC_ACQUIRE))
            continue;
        frg_lock(&leaf_lock.lock);
        if (!frg_pm_root[i]) {
            struct frg_pm_leaf *leaf = frg_os_reserve(sizeof *leaf);
            if (!leaf) {
                frg_unlock(&leaf_lock.lock);
                return false;
            }
            leaves++;
            size_t rp = i * sizeof(void *) / FRG_PAGE;
            if (!(root_touched[rp / 64] & (1ull << (rp % 64)))) {
                root_touched[rp / 64] |= 1ull << (rp % 64);
                __atomic_fetch_add(&touched_pages, 1, __ATOMIC_RELAXED);
            }
            __atomic_fetch_add(&touched_pages, 1, __ATOMIC_RELAXED); /* the page holding `touched` itself */
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
    if (span && span->kind == FRG_SPAN_SLAB)
        value |= FRG_PM_SLAB | (uint64_t)span->sclass << FRG_PM_CLASS_SHIFT |
                 ((FRG_BASE(span) >> FRG_PM_BASE_SHIFT) & 15);
    for (size_t i = 0; i < npages; i++, page++) {
        struct frg_pm_leaf *leaf = frg_pm_root[page >> FRG_PM_LEAF_BITS];
        size_t idx = page & ((1u << FRG_PM_LEAF_BITS) - 1);
        uint64_t bit = 1ull << (idx * sizeof(void *) / FRG_PAGE);
        if (FRG_UNLIKELY(!(__atomic_load_n(&leaf->touched, __ATOMIC_RELAXED) & bit)) &&
            !(__atomic_fetch_or(&leaf->touched, bit, __ATOMIC_RELAXED) & bit))
            __atomic_fetch_add(&touched_pages, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&leaf->entry[idx], value, __ATOMIC_RELEASE);
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
