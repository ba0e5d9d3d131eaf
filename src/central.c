/*
 * central.c - partial-slab lists per size class, batch refill and flush.
 *
 * Owns: frg_central[], the fullness lists, slab creation and release.
 * Locking: frg_central[c].lock (rank CENTRAL) guards the class's lists,
 * counters and the freemaps of its slabs.  Slab creation and release call
 * the page heap (rank PAGEHEAP) with the class lock held.
 */
#include "central.h"

#include <errno.h>

#include "pageheap.h"
#include "pagemap.h"
#include "report.h"
#include "slab.h"

struct frg_central frg_central[FRG_NCLASSES] = {
#define C(i) [i] = {.lock = FRG_LOCK_INIT(FRG_RANK_CENTRAL)}
    C(0), C(1), C(2), C(3), C(4), C(5), C(6), C(7), C(8), C(9), C(10),
    C(11), C(12), C(13), C(14), C(15), C(16), C(17), C(18), C(19), C(20), C(21),
    C(22), C(23), C(24), C(25), C(26), C(27), C(28), C(29), C(30), C(31), C(32),
    C(33), C(34), C(35), C(36), C(37), C(38), C(39), C(40), C(41), C(42), C(43),
#undef C
};
_Static_assert(FRG_NCLASSES == 44, "frg_central initialiser lists 44 classes");

static unsigned fullness_bucket(const struct frg_span *s) {
    unsigned used = s->nobjs - s->nfree;
    return used * FRG_FULLNESS_BUCKETS / s->nobjs;
}

static void unlist(struct frg_central *c, struct frg_span *s) {
    if (s->bucket == FRG_SLAB_UNLISTED)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else {
        c->partial[s->bucket] = s->next;
        if (!s->next)
            c->nonempty &= ~(1u << s->bucket);
    }
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->bucket = FRG_SLAB_UNLISTED;
}

/* Put a slab on the list matching its fullness (none when full). */
static void relist(struct frg_central *c, struct frg_span *s) {
    unsigned b = s->nfree == 0 ? FRG_SLAB_UNLISTED : fullness_bucket(s);
    if (b == s->bucket)
        return;
    unlist(c, s);
    if (b == FRG_SLAB_UNLISTED)
        return;
    s->bucket = (uint8_t)b;
    s->prev = NULL;
    s->next = c->partial[b];
    if (s->next)
        s->next->prev = s;
    c->partial[b] = s;
    c->nonempty |= 1u << b;
}

static struct frg_span *new_slab(struct frg_central *c, unsigned cls) {
    bool zeroed;
    struct frg_span *s =
        frg_pageheap_alloc(frg_classes[cls].slab_pages, 1, FRG_SPAN_SLAB, cls, &zeroed);
    if (!s)
        return NULL;
    frg_slab_format(s, cls);
    c->nslabs++;
    c->slabs_created++;
    return s;
}

unsigned frg_central_alloc_batch(unsigned cls, void **out, unsigned n) {
    struct frg_central *c = &frg_central[cls];
    unsigned got = 0;
    frg_lock(&c->lock);
    while (got < n) {
        struct frg_span *s;
        if (c->nonempty) {
            /* fullest partial slab first */
            s = c->partial[31 - __builtin_clz(c->nonempty)];
        } else {
            s = new_slab(c, cls);
            if (!s)
                break;
        }
        got += frg_slab_take(s, out + got, n - got);
        relist(c, s);
    }
    c->objs_out += got;
    c->nmalloc += got;
    frg_unlock(&c->lock);
    if (!got)
        errno = ENOMEM;
    return got;
}

static void release_slab(struct frg_central *c, struct frg_span *s) {
    unlist(c, s);
    c->nslabs--;
    c->slabs_released++;
    frg_pageheap_free(s);
}

void frg_central_free_batch(unsigned cls, void *const *ptrs, unsigned n) {
    struct frg_central *c = &frg_central[cls];
    frg_lock(&c->lock);
    for (unsigned i = 0; i < n; i++) {
        void *p = ptrs[i];
        /* Looked up again under the class lock: a slab cannot be released
         * concurrently, so this answer is exact. */
        struct frg_span *s = frg_pagemap_lookup(p);
        if (!s || s->kind != FRG_SPAN_SLAB || s->sclass != cls) {
            frg_report_misuse("invalid free", p);
            continue;
        }
        switch (frg_slab_put(s, p)) {
        case FRG_PUT_DOUBLE_FREE:
            frg_report_misuse("double free", p);
            continue;
        case FRG_PUT_INTERIOR:
            frg_report_misuse("interior free", p);
            continue;
        case FRG_PUT_OK:
            break;
        }
        c->objs_out--;
        c->nfree++;
        if (s->nfree == s->nobjs)
            release_slab(c, s);
        else
            relist(c, s);
    }
    frg_unlock(&c->lock);
}

bool frg_central_validate(void) {
    bool ok = true;
    for (unsigned cls = 0; cls < FRG_NCLASSES; cls++) {
        struct frg_central *c = &frg_central[cls];
        frg_lock(&c->lock);
        for (unsigned b = 0; b < FRG_FULLNESS_BUCKETS; b++) {
            if (!c->partial[b] != !(c->nonempty & (1u << b))) {
                frg_warn("central class %u: nonempty mask wrong for list %u", cls, b);
                ok = false;
            }
            for (struct frg_span *s = c->partial[b]; s; s = s->next) {
                if (s->bucket != b || s->sclass != cls || s->kind != FRG_SPAN_SLAB ||
                    s->nfree == 0 || s->nfree == s->nobjs || fullness_bucket(s) != b ||
                    frg_pagemap_lookup((void *)s->base) != s || !frg_slab_validate(s)) {
                    frg_warn("central class %u: slab %p misfiled on list %u", cls,
                             (void *)s->base, b);
                    ok = false;
                }
            }
        }
        frg_unlock(&c->lock);
    }
    return ok;
}

void frg_central_lock_all(void) {
    for (unsigned i = 0; i < FRG_NCLASSES; i++)
        frg_lock(&frg_central[i].lock);
}
void frg_central_unlock_all(void) {
    for (unsigned i = FRG_NCLASSES; i-- > 0;)
        frg_unlock(&frg_central[i].lock);
}
void frg_central_reinit_locks(void) {
    for (unsigned i = 0; i < FRG_NCLASSES; i++)
        frg_lock_reinit(&frg_central[i].lock);
}
