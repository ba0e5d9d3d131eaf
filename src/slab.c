/*
 * slab.c - the free-object bitmap of a slab.
 *
 * Owns: span->freemap, nfree, nobjs of slab spans (size and reciprocal come
 * from the class table, frg_classes[sclass]).
 * Locking: callers hold the central lock of the slab's class.
 */
#include "slab.h"

#include "bitmap.h"
#include "report.h"
#include "sizeclass.h"

void frg_slab_format(struct frg_span *s, unsigned cls) {
    const struct frg_class_info *ci = &frg_classes[cls];
    s->sclass = (uint8_t)cls;
    s->nobjs = ci->nobjs;
    s->nfree = ci->nobjs;
    for (unsigned w = 0; w < FRG_SLAB_MAP_WORDS; w++)
        s->u.freemap[w] = 0;
    frg_bm_fill(s->u.freemap, 0, ci->nobjs, 1);
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
    return got;
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
    size_t beyond = frg_bm_count(s->u.freemap, s->nobjs, FRG_SLAB_MAX_OBJS - s->nobjs);
    const struct frg_class_info *ci = &frg_classes[s->sclass];
    if (free_bits != s->nfree || beyond || s->nobjs != ci->nobjs ||
        s->npages != ci->slab_pages) {
        frg_warn("slab validation failed for slab %p (class %u)", (void *)FRG_BASE(s),
                 s->sclass);
        return false;
    }
    return true;
}
