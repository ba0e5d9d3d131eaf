/*
 * huge.c - huge objects in their own mappings, and the cache of freed ones.
 *
 * Owns: huge span descriptors, the huge cache list, huge counters.
 * Locking: huge.lock (rank HUGE) guards the cache list and counters.  System
 * calls are made without it; a span taken off the cache belongs to the
 * caller alone.
 */
#include "huge.h"

#include <errno.h>
#include <string.h>

#include "pool.h"
#include "options.h"
#include "os.h"
#include "pagemap.h"
#include "purge.h"

/* The lock, the cache and the counters it guards, in lines of their own
 * (design.md, "Data layout"). */
static struct {
    frg_lock_t lock;
    struct frg_span *cache_head, *cache_tail; /* most recently freed first */
    struct frg_huge_stats stats;
} FRG_ALIGNED(FRG_CACHELINE) huge = {.lock = FRG_LOCK_INIT(FRG_RANK_HUGE)};

static void cache_unlink(struct frg_span *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        huge.cache_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        huge.cache_tail = s->prev;
    s->next = s->prev = NULL;
    huge.stats.cached--;
    huge.stats.cached_bytes -= s->u.huge.map_size;
}

/* Unmap a huge mapping; `registered`: its first page is in the page map. */
static void destroy(struct frg_span *s, bool registered) {
    if (registered)
        frg_pagemap_set(FRG_BASE(s), 1, NULL);
    frg_os_unmap((void *)FRG_BASE(s), s->u.huge.map_size);
    frg_pool_free(&frg_run_span_pool, s);
}

/* Grow the mapping of s to `size` bytes, keeping its contents: in place
 * if the kernel can, else moved onto a new mapping whose page-map leaf is
 * made first.  Only the caller holds s.  Its page-map entry (`entry`, at
 * its base) is cleared before the move: once mremap has released the old
 * range, another thread may map that address and register it, and a
 * later clear would wipe that registration.  On success the caller
 * registers the new base; on failure s and its entry are unchanged. */
static bool grow_mapping(struct frg_span *s, size_t size, struct frg_span *entry) {
    void *old = (void *)FRG_BASE(s);
    size_t old_size = s->u.huge.map_size;
    if (!frg_os_grow_in_place(old, old_size, size)) {
        void *target = frg_os_map(size, FRG_MAP_HUGE);
        if (!target)
            return false;
        if (!frg_pagemap_ensure((uintptr_t)target, FRG_PAGE)) {
            frg_os_unmap(target, size);
            return false;
        }
        frg_pagemap_set((uintptr_t)old, 1, NULL);
        if (!frg_os_move(old, old_size, target, size)) { /* it released `target` */
            frg_pagemap_set((uintptr_t)old, 1, entry);
            return false;
        }
        s->base = FRG_ENC_BASE((uintptr_t)target);
    }
    s->u.huge.map_size = size;
    return true;
}

/* Take the best cached mapping for `size`: the smallest that fits, else the
 * largest (to be grown by mremap, keeping its resident pages). */
static struct frg_span *cache_take(size_t size) {
    struct frg_span *best = NULL, *largest = NULL;
    for (struct frg_span *s = huge.cache_head; s; s = s->next) {
        size_t m = s->u.huge.map_size;
        if (m >= size && (!best || m < best->u.huge.map_size))
            best = s;
        if (!largest || m > largest->u.huge.map_size)
            largest = s;
    }
    struct frg_span *s = best ? best : largest;
    if (s) {
        cache_unlink(s);
        huge.stats.cache_hits++;
    }
    return s;
}

static bool publish(struct frg_span *s, size_t usable) {
    if (!frg_pagemap_ensure(FRG_BASE(s), FRG_PAGE))
        return false;
    s->kind = FRG_SPAN_HUGE;
    s->u.huge.usable = usable;
    s->npages = (uint32_t)(usable / FRG_PAGE > UINT32_MAX ? UINT32_MAX : usable / FRG_PAGE);
    frg_lock(&huge.lock);
    huge.stats.live++;
    huge.stats.live_usable += usable;
    huge.stats.live_mapped += s->u.huge.map_size;
    huge.stats.nmalloc++;
    frg_unlock(&huge.lock);
    frg_pagemap_set(FRG_BASE(s), 1, s);
    return true;
}

void *frg_huge_alloc(size_t size, size_t align, bool zero) {
    size_t usable = frg_align_up(size, FRG_PAGE);
    if (usable < size || usable > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    struct frg_span *s = NULL;
    if (align <= FRG_PAGE) {
        frg_lock(&huge.lock);
        s = cache_take(usable);
        frg_unlock(&huge.lock);
    }
    if (s && s->u.huge.map_size / 8 > usable) {
        /* far bigger than needed: give the surplus back (a smaller surplus
         * stays: a program cycling through buffers of varying sizes keeps
         * its pages resident, as glibc's heap does) */
        frg_os_trim_tail((void *)FRG_BASE(s), s->u.huge.map_size, usable);
        s->u.huge.map_size = usable;
    }
    if (s && s->u.huge.map_size < usable && !grow_mapping(s, usable, &frg_span_freed)) {
        destroy(s, true);
        s = NULL;
    }
    if (s) {
        if (zero)
            memset((void *)FRG_BASE(s), 0, usable);
    } else {
        s = frg_pool_alloc(&frg_run_span_pool);
        if (!s) {
            errno = ENOMEM;
            return NULL;
        }
        void *p = frg_os_map_aligned(usable, align, FRG_MAP_HUGE);
        if (!p) {
            frg_pool_free(&frg_run_span_pool, s);
            errno = ENOMEM;
            return NULL;
        }
        s->base = FRG_ENC_BASE((uintptr_t)p);
        s->u.huge.map_size = usable;
    }
    if (!publish(s, usable)) {
        destroy(s, false);
        errno = ENOMEM;
        return NULL;
    }
    return (void *)FRG_BASE(s);
}

static void trim_cache_locked(struct frg_span **victims, size_t *nvictims, size_t max) {
    while (huge.cache_tail && huge.stats.cached_bytes > frg_opt.huge_cache_max && *nvictims < max) {
        struct frg_span *v = huge.cache_tail;
        cache_unlink(v);
        victims[(*nvictims)++] = v;
    }
}

void frg_huge_free(struct frg_span *s) {
    frg_pagemap_set(FRG_BASE(s), 1, &frg_span_freed);
    struct frg_span *victims[8];
    size_t nvictims = 0;
    frg_lock(&huge.lock);
    huge.stats.live--;
    huge.stats.live_usable -= s->u.huge.usable;
    huge.stats.live_mapped -= s->u.huge.map_size;
    huge.stats.nfree++;
    if (s->u.huge.map_size <= frg_opt.huge_cache_max) {
        s->u.huge.freed_ns = frg_os_now_ns();
        s->prev = NULL;
        s->next = huge.cache_head;
        if (huge.cache_head)
            huge.cache_head->prev = s;
        else
            huge.cache_tail = s;
        huge.cache_head = s;
        huge.stats.cached++;
        huge.stats.cached_bytes += s->u.huge.map_size;
        s = NULL;
        trim_cache_locked(victims, &nvictims, FRG_ARRAY_LEN(victims));
    }
    frg_unlock(&huge.lock);
    frg_purge_notify();
    if (s)
        destroy(s, true);
    for (size_t i = 0; i < nvictims; i++)
        destroy(victims[i], true);
}

void *frg_huge_realloc(struct frg_span *s, size_t size) {
    size_t usable = frg_align_up(size, FRG_PAGE);
    if (usable < size || usable > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    size_t old_usable = s->u.huge.usable, old_map = s->u.huge.map_size;
    size_t new_map = old_map;
    uintptr_t old_base = FRG_BASE(s);
    if (usable > old_map) {
        if (!grow_mapping(s, usable, s))
            return NULL;
        new_map = usable;
    } else if (usable <= old_map / 2) {
        /* shrinking a lot: give the tail back now */
        frg_os_trim_tail((void *)old_base, old_map, usable);
        new_map = usable;
    }
    if (FRG_BASE(s) != old_base) /* grow_mapping cleared the old entry */
        frg_pagemap_set(FRG_BASE(s), 1, s);
    s->u.huge.map_size = new_map;
    s->u.huge.usable = usable;
    s->npages = (uint32_t)(usable / FRG_PAGE > UINT32_MAX ? UINT32_MAX : usable / FRG_PAGE);
    frg_lock(&huge.lock);
    huge.stats.live_usable += usable - old_usable;
    huge.stats.live_mapped += new_map - old_map;
    frg_unlock(&huge.lock);
    return (void *)FRG_BASE(s);
}

size_t frg_huge_purge(uint64_t freed_before_ns) {
    size_t bytes = 0;
    for (;;) {
        struct frg_span *victims[16];
        size_t n = 0;
        frg_lock(&huge.lock);
        while (huge.cache_tail && huge.cache_tail->u.huge.freed_ns < freed_before_ns &&
               n < FRG_ARRAY_LEN(victims)) {
            struct frg_span *v = huge.cache_tail;
            cache_unlink(v);
            victims[n++] = v;
        }
        frg_unlock(&huge.lock);
        if (!n)
            return bytes;
        for (size_t i = 0; i < n; i++) {
            bytes += victims[i]->u.huge.map_size;
            destroy(victims[i], true);
        }
    }
}

void frg_huge_stats(struct frg_huge_stats *out) {
    frg_lock(&huge.lock);
    *out = huge.stats;
    frg_unlock(&huge.lock);
}

void frg_huge_lock_all(void) { frg_lock(&huge.lock); }
void frg_huge_unlock_all(void) { frg_unlock(&huge.lock); }
void frg_huge_reinit_locks(void) { frg_lock_reinit(&huge.lock); }
