/*
 * slab.c - the free-object bitmap of a slab.
 *
 * Owns: span->freemap, nfree and purged of slab spans (size, object count
 * and reciprocal come from the class table, frg_classes[sclass]): which
 * objects are free, and which pages hold only free objects.
 * Locking: callers hold the central lock of the slab's class.
 */
#include "slab.h"

#include "bitmap.h"
#include "init.h"
#include "report.h"
#include "vg.h"
#include "os.h"
#include "pagemap.h"
#include "sizeclass.h"

_Static_assert(FRG_SLAB_MAX_PAGES <= 16, "a slab's pages fit span->purged");

void frg_slab_format(struct frg_span *s, unsigned cls) {
    const struct frg_class_info *ci = &frg_classes[cls];
    s->sclass = (uint8_t)cls;
    s->nfree = ci->nobjs;
    s->purged = 0;
    for (unsigned w = 0; w < FRG_SLAB_MAP_WORDS; w++)
        s->u.freemap[w] = 0;
    frg_bm_fill(s->u.freemap, 0, ci->nobjs, 1);
}

/* Page j of s, purged while the slab held live objects, is about to be
 * used again: its objects lost the free key with the page, so write it
 * back into word 1 of each object that starts there (the free ones must
 * carry it for free()'s double-free check; the ones being taken have it
 * cleared by the cache that hands them out), then give the page its slab
 * flag back. */
static void page_back_in_use(const struct frg_span *s, unsigned j) {
    const struct frg_class_info *ci = &frg_classes[s->sclass];
    uintptr_t lo = (uintptr_t)j << FRG_PAGE_SHIFT;
    uint32_t k = frg_class_obj_index(ci->recip, lo + ci->size - 1); /* first start >= lo */
    FRG_VG_QUIET_BEGIN(); /* free objects are not the program's */
    for (; k < ci->nobjs && (uintptr_t)k * ci->size < lo + FRG_PAGE; k++)
        ((uint64_t *)(FRG_BASE(s) + (uintptr_t)k * ci->size))[1] = frg_fastpath.free_key;
    FRG_VG_QUIET_END();
    frg_pagemap_set_slab_flag(FRG_BASE(s) + lo, 1, true);
}

void frg_slab_pages_back(const struct frg_span *s, uint16_t pages) {
    for (unsigned todo = pages; todo; todo &= todo - 1)
        page_back_in_use(s, (unsigned)__builtin_ctz(todo));
}

unsigned frg_slab_take(struct frg_span *s, void **out, unsigned n) {
    size_t size = frg_class_size(s->sclass);
    unsigned got = 0;
    for (unsigned w = 0; w < FRG_SLAB_MAP_WORDS && got < n; w++) {
        uint64_t bits = s->u.freemap[w];
        while (bits && got < n) {
            unsigned i = w * 64 + frg_ctz64(bits);
            bits &= bits - 1;
            out[got++] = (void *)(FRG_BASE(s) + (size_t)i * size);
        }
        s->u.freemap[w] = bits;
    }
    s->nfree = (uint16_t)(s->nfree - got);
    if (FRG_UNLIKELY(s->purged)) { /* the objects' pages will be touched again */
        unsigned was = s->purged;
        for (unsigned k = 0; k < got; k++) {
            uintptr_t off = (uintptr_t)out[k] - FRG_BASE(s);
            unsigned first = (unsigned)(off >> FRG_PAGE_SHIFT);
            unsigned last = (unsigned)((off + size - 1) >> FRG_PAGE_SHIFT);
            s->purged &= (uint16_t)~(((2u << last) - 1) & ~((1u << first) - 1));
        }
        frg_slab_pages_back(s, (uint16_t)(was & ~(unsigned)s->purged));
    }
    return got;
}

uint16_t frg_slab_free_pages(const struct frg_span *s) {
    const struct frg_class_info *ci = &frg_classes[s->sclass];
    uint16_t mask = 0;
    for (unsigned j = 0; j < s->npages; j++) {
        /* objects with a byte on page j: first..last (none: the tail) */
        uintptr_t lo = (uintptr_t)j << FRG_PAGE_SHIFT, hi = lo + FRG_PAGE - 1;
        uint32_t first = frg_class_obj_index(ci->recip, lo);
        uint32_t last = frg_class_obj_index(ci->recip, hi);
        if (last >= ci->nobjs)
            last = ci->nobjs - 1u;
        if (first <= last && frg_bm_count(s->u.freemap, first, last - first + 1) == last - first + 1)
            mask |= (uint16_t)(1u << j);
    }
    return mask;
}

/* Object index of p, or -1 if p is not the start of an object. */
static long obj_index(const struct frg_span *s, const void *p) {
    const struct frg_class_info *ci = &frg_classes[s->sclass];
    uintptr_t off = (uintptr_t)p - FRG_BASE(s);
    if (!frg_class_is_object_start(ci, off))
        return -1;
    return frg_class_obj_index(ci->recip, off);
}

enum frg_slab_put frg_slab_put(struct frg_span *s, void *p) {
    long i = obj_index(s, p);
    if (i < 0)
        return FRG_PUT_INTERIOR;
    uint64_t bit = 1ull << (i % 64);
    if (s->u.freemap[i / 64] & bit)
        return FRG_PUT_DOUBLE_FREE;
    s->u.freemap[i / 64] |= bit;
    s->nfree++;
    return FRG_PUT_OK;
}

bool frg_slab_is_live(const struct frg_span *s, const void *p) {
    long i = obj_index(s, p);
    return i >= 0 && !frg_bm_get(s->u.freemap, (size_t)i);
}

bool frg_slab_validate(const struct frg_span *s) {
    size_t free_bits = frg_bm_count(s->u.freemap, 0, FRG_SLAB_MAX_OBJS);
    const struct frg_class_info *ci = &frg_classes[s->sclass];
    size_t beyond = frg_bm_count(s->u.freemap, ci->nobjs, FRG_SLAB_MAX_OBJS - ci->nobjs);
    /* a purged page holds no live object, and its entry has no slab flag */
    bool flags_ok = true;
    for (unsigned j = 0; j < s->npages; j++)
        flags_ok &= !(frg_pagemap_entry((void *)(FRG_BASE(s) + j * FRG_PAGE)) & FRG_PM_SLAB) ==
                    (bool)(s->purged >> j & 1);
    if (free_bits != s->nfree || beyond || s->npages != ci->slab_pages ||
        (s->purged & ~frg_slab_free_pages(s)) || !flags_ok) {
        frg_warn("slab validation failed for slab %p (class %u)", (void *)FRG_BASE(s),
                 s->sclass);
        return false;
    }
    return true;
}
