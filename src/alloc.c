/*
 * alloc.c - the public allocation API: dispatch by size and by span kind.
 *
 * Owns: the frg_* allocation entry points, glibc's semantics for them
 * (alignment, zero sizes, overflow, errno), misuse detection on free and
 * realloc.  Locking: none here; each layer locks itself.  Small objects go
 * through the per-CPU caches (percpu.h), large ones to the page heap
 * (large.h), huge ones to their own mappings (huge.h).
 */
#include "frgmalloc.h"

#include <errno.h>
#include <string.h>

#include "central.h"
#include "huge.h"
#include "init.h"
#include "large.h"
#include "override.h"
#include "pageheap.h"
#include "pagemap.h"
#include "percpu.h"
#include "purge.h"
#include "report.h"
#include "slab.h"
#include "transfer.h"
#include "vg.h"

#define MAX_REQUEST ((size_t)PTRDIFF_MAX)

/* Word 1 of a free small object holds frg_fastpath.free_key; the cache clears it. */
FRG_INLINE void *small_alloc(uintptr_t cls) { return frg_cache_alloc(cls); }

static FRG_NOINLINE void *big_alloc(size_t size, size_t align, bool zero) {
    /* Runs of a large class the CPU caches take come from them like small
     * objects (their word 1 likewise); the table is 0 until the caches are
     * set up.  A zeroed run comes from the cache only if it has one at
     * hand; else from large.c, which knows whether fresh pages are zero
     * already. */
    unsigned cls;
    if (size > FRG_SMALL_MAX && size <= FRG_LARGE_MAX && align <= FRG_PAGE &&
        (cls = frg_percpu_large_class[(size + FRG_PAGE - 1) >> FRG_PAGE_SHIFT])) {
        if (!zero)
            return frg_cache_alloc(cls);
        void *p = frg_cache_take_cached(cls);
        if (p)
            return memset(p, 0, frg_class_size(cls));
    }
    if (FRG_UNLIKELY(size > MAX_REQUEST || align > MAX_REQUEST / 2 + 1)) {
        errno = ENOMEM;
        return NULL;
    }
    if (!frg_ensure_init())
        return NULL;
    frg_note_activity();
    if (size <= FRG_LARGE_MAX && align <= FRG_LARGE_ALIGN_MAX)
        return frg_large_alloc(size, align, zero);
    return frg_huge_alloc(size, align, zero);
}

FRG_INLINE void *malloc_impl(size_t size) {
    /* the commonest sizes first: one compare before the table load */
    if (FRG_LIKELY(size <= FRG_LOOKUP_MAX))
        return small_alloc(frg_tiny_size_to_class(size));
    if (FRG_LIKELY(size <= FRG_SMALL_MAX))
        return small_alloc(frg_size_to_class(size));
    return big_alloc(size, FRG_QUANTUM, false);
}

/* malloc and free start on a cache line: their hit paths are 26 and 56
 * instructions, and where they started mattered (fastpath, 11 interleaved
 * runs: 6.58 ns/pair at an offset of 48 bytes, 6.28 aligned; 16 and
 * 256 B likewise; bench/RESULTS.md §4). */
FRG_API FRG_ALIGNED(64) void *frg_malloc(size_t size) {
    void *p = malloc_impl(size);
    FRG_VG_MALLOC(p, size, 0);
    return p;
}

/* ---- misuse checks ------------------------------------------------------- */

enum freed_answer { LIVE, FREED, UNSURE };

/* Does span s (of the object p points at) hold objects the CPU caches
 * take: a slab, or a run of a large class they cache (sclass set)? */
FRG_INLINE bool cached_kind(const struct frg_span *s) {
    return s->kind == FRG_SPAN_SLAB || (s->kind == FRG_SPAN_LARGE && s->sclass);
}

/* Word 1 matched the free key: p may be sitting free in a cache.  Flush
 * every CPU cache (and, for a small class, its transfer cache) so that
 * every free object of the class is back in its slab, and every free run
 * back in large.c, which marks it freed (usable size 0); then ask.  Exact;
 * slow, but valid programs almost never get here.  UNSURE if a CPU's
 * cache could not be drained (only with rseq_fence:migrate, when the
 * kernel would not move this thread there): p may be sitting in it. */
static FRG_COLD enum freed_answer cached_is_freed(void *p, unsigned cls) {
    bool all = false;
    for (int tries = 0; tries < 3 && !all; tries++)
        all = frg_percpu_drain_all_exact();
    if (!all)
        return UNSURE;
    if (cls >= FRG_NCLASSES) {
        const struct frg_span *s = frg_pagemap_lookup(p);
        bool live = s && s->kind == FRG_SPAN_LARGE && FRG_BASE(s) == (uintptr_t)p &&
                    __atomic_load_n(&s->u.large.usable, __ATOMIC_RELAXED);
        return live ? LIVE : FREED;
    }
    frg_transfer_drain(cls);
    frg_lock(&frg_central[cls].lock);
    struct frg_span *s = frg_pagemap_lookup(p);
    bool freed = !s || s->kind != FRG_SPAN_SLAB || !frg_slab_is_live(s, p);
    frg_unlock(&frg_central[cls].lock);
    return freed ? FREED : LIVE;
}

/* Does word 1 of the object p (small, or a run of a large class) hold the
 * free key?  Under memcheck the word may be undefined (a live object the
 * program never wrote) or inaccessible (a freed one): our look is not the
 * program's, so errors are not reported for it. */
static bool holds_free_key(const void *p) {
    FRG_VG_QUIET_BEGIN();
    uint64_t word = __atomic_load_n((const uint64_t *)p + 1, __ATOMIC_ACQUIRE);
    FRG_VG_QUIET_END();
    FRG_VG_DEFINED(&word, sizeof word);
    return word == frg_fastpath.free_key;
}

/* Why `p` (with page-map entry `s`) is not the start of a live object:
 * "invalid" (not ours), "use-after-free" (freed memory) or "interior"
 * (inside an object); NULL if it is fine. */
static const char *misuse_kind(const void *p, const struct frg_span *s) {
    if (!s || s == &frg_span_freed) { /* unless inside a large run: its first page is mapped */
        const struct frg_span *run = frg_pageheap_large_holding(p);
        if (!run)
            return !s ? "invalid" : "use-after-free";
        s = run;
    }
    if (s->kind == FRG_SPAN_SLAB)
        return frg_class_is_object_start(&frg_classes[s->sclass], (uintptr_t)p - FRG_BASE(s))
                   ? NULL : "interior";
    if (s->kind == FRG_SPAN_LARGE && !__atomic_load_n(&s->u.large.usable, __ATOMIC_RELAXED))
        return "use-after-free"; /* a freed run kept in large.c's cache */
    if ((uintptr_t)p == FRG_BASE(s))
        return NULL;
    /* inside a run a CPU cache may hold (its word 1 is the free key) */
    if (cached_kind(s) && holds_free_key((void *)FRG_BASE(s)) &&
        cached_is_freed((void *)FRG_BASE(s), s->sclass) == FREED)
        return "use-after-free";
    return "interior";
}

/* "frgmalloc: <kind> <op> of <p>", e.g. "invalid free of 0x..."; a free of
 * freed memory is the classic "double free". */
static FRG_COLD void report(const char *op, const char *kind, const void *p) {
    char what[64];
    if (!strcmp(op, "free") && !strcmp(kind, "use-after-free"))
        kind = "double";
    size_t k = strlen(kind), o = strlen(op);
    memcpy(what, kind, k);
    what[k] = ' ';
    memcpy(what + k + 1, op, o + 1);
    frg_report_misuse(what, p);
}

/* After word 1 of p was read (no_free_key, holds_free_key): is p's
 * page-map entry, kept at `slot`, still the `e` read first?
 * The sweep clears a page's slab flag before its madvise takes the page
 * (and the keys in it) away, and each clear bumps the entry's clear
 * count.  A word 1 read as zero from the fresh page was read after the
 * flag was cleared (the fault or the TLB shootdown that made the fresh
 * page visible here orders them), so this read sees the flag clear, or
 * set again by an allocation that brought the page back, with another
 * count: either way not `e`, and the free takes the exact path. */
FRG_INLINE bool entry_unchanged(const uint64_t *slot, uint64_t e) {
    return __atomic_load_n(slot, __ATOMIC_RELAXED) == e;
}

/* May the small object p (page-map entry e, kept at `slot`) be free?  Its
 * word 1 holds the free key, or its page was given back while the slab
 * held live objects (the entry lost its slab flag; the key went with the
 * page; the entry is read again after the word, as in free).  If so,
 * small_is_freed tells exactly. */
static bool maybe_freed(const uint64_t *slot, uint64_t e, const void *p) {
    return !(e & FRG_PM_SLAB) || holds_free_key(p) || !entry_unchanged(slot, e);
}

/* ---- free ------------------------------------------------------------------ */

static FRG_NOINLINE void free_slow(void *p, struct frg_span *s) {
    if (!p)
        return;
    const char *bad = misuse_kind(p, s);
    if (bad) {
        report("free", bad, p);
        return;
    }
    if (cached_kind(s)) {
        switch (cached_is_freed(p, s->sclass)) {
        case FREED:
            frg_report_misuse("double free", p);
            return;
        case UNSURE: /* freeing it might cache it twice: keep it out instead */
            return;
        case LIVE:
            break;
        }
        ((uint64_t *)p)[1] = frg_fastpath.free_key;
        FRG_VG_FREE(p);
        frg_cache_free(s->sclass, p);
        return;
    }
    switch (s->kind) {
    case FRG_SPAN_LARGE:
        FRG_VG_FREE(p);
        frg_note_activity();
        frg_large_free(s);
        return;
    case FRG_SPAN_HUGE:
        FRG_VG_FREE(p);
        frg_note_activity();
        frg_huge_free(s);
        return;
    }
}

/* p lies in a slab page whose page-map entry is e: is it the start of an
 * object?  The entry and the constant class table tell; the span
 * descriptor, which other CPUs write, is not read. */
FRG_INLINE bool slab_object_start(uint64_t e, const void *p) {
    return frg_class_is_object_start(&frg_classes[frg_pm_class(e)], frg_pm_slab_offset(e, p));
}

/* Word 1 of the small object p holds no free key, read so that a later
 * read of p's page-map entry cannot come first (see entry_unchanged). */
FRG_INLINE bool no_free_key(const uint64_t *w, uint64_t key) {
#if defined(__x86_64__) || defined(__i386__)
    bool none = w[1] != key; /* the CPU keeps loads in order: only the compiler must */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return none;
#else
    return __atomic_load_n(w + 1, __ATOMIC_ACQUIRE) != key;
#endif
}

FRG_API FRG_ALIGNED(64) void frg_free(void *p) {
    const uint64_t *slot = frg_pagemap_slot(p);
    uint64_t e = frg_pagemap_read(slot); /* acquire: word 1 is read after it */
    if (FRG_LIKELY(e & FRG_PM_SLAB)) {
        uint64_t *w = p, key = frg_fastpath.free_key;
        FRG_VG_DEFINED(w + 1, 8);
        if (FRG_LIKELY(slab_object_start(e, p) && no_free_key(w, key) && entry_unchanged(slot, e))) {
            w[1] = key;
            FRG_VG_FREE(p);
            frg_cache_free(frg_pm_class(e), p);
            return;
        }
    }
    free_slow(p, frg_pm_span(e));
}

/* ---- calloc, realloc ------------------------------------------------------- */

FRG_API void *frg_calloc(size_t nmemb, size_t size) {
    size_t total;
    if (FRG_UNLIKELY(__builtin_mul_overflow(nmemb, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    void *p;
    if (FRG_VG_ENABLED) { /* memcheck must see the block allocated before we zero it */
        p = malloc_impl(total);
        FRG_VG_MALLOC(p, total, 0);
        if (p)
            memset(p, 0, total);
        return p;
    }
    if (FRG_LIKELY(total <= FRG_SMALL_MAX)) {
        p = small_alloc(frg_size_to_class(total));
        if (p)
            memset(p, 0, total);
    } else {
        p = big_alloc(total, FRG_QUANTUM, true);
    }
    FRG_VG_MALLOC(p, total, 1);
    return p;
}

static size_t usable_of(const struct frg_span *s) {
    switch (s->kind) {
    case FRG_SPAN_SLAB: return frg_class_size(s->sclass);
    case FRG_SPAN_LARGE: return s->u.large.usable;
    default: return s->u.huge.usable;
    }
}

static void *realloc_move(void *p, size_t old_usable, size_t size) {
    void *q = frg_malloc(size);
    if (!q)
        return NULL;
    FRG_VG_QUIET_BEGIN(); /* the old block's usable tail beyond its request */
    memcpy(q, p, old_usable < size ? old_usable : size);
    FRG_VG_QUIET_END();
    frg_free(p);
    return q;
}

FRG_API void *frg_realloc(void *p, size_t size) {
    if (!p)
        return frg_malloc(size);
    if (size == 0) {
        frg_free(p);
        return NULL;
    }
    const uint64_t *slot = frg_pagemap_slot(p);
    uint64_t e = frg_pagemap_read(slot);
    /* A live small object staying small: decided from the page-map entry. */
    if (FRG_LIKELY((e & FRG_PM_SLAB) && size <= FRG_SMALL_MAX && !FRG_VG_ENABLED) &&
        slab_object_start(e, p) && !maybe_freed(slot, e, p)) {
        unsigned cls = frg_pm_class(e);
        if (frg_size_to_class(size) == cls)
            return p;
        return realloc_move(p, frg_class_size(cls), size);
    }
    struct frg_span *s = frg_pm_span(e);
    const char *bad = misuse_kind(p, s);
    enum freed_answer freed = LIVE;
    if (!bad && cached_kind(s) && maybe_freed(slot, e, p))
        freed = cached_is_freed(p, s->sclass);
    if (freed == FREED)
        bad = "use-after-free";
    if (FRG_UNLIKELY(bad != NULL)) {
        report("realloc", bad, p);
        errno = ENOMEM;
        return NULL;
    }
    if (FRG_UNLIKELY(size > MAX_REQUEST)) {
        errno = ENOMEM;
        return NULL;
    }
    /* memcheck tracks blocks by request size: always move.  UNSURE: p may
     * sit in a cache that could not be drained, so it is neither kept nor
     * resized in place (a cached run resized would no longer fit its
     * class); the move's free of it is refused the same way (free_slow). */
    if (FRG_VG_ENABLED || freed == UNSURE)
        return realloc_move(p, usable_of(s), size);
    switch (s->kind) {
    case FRG_SPAN_SLAB:
        if (size <= FRG_SMALL_MAX && frg_size_to_class(size) == s->sclass)
            return p;
        break;
    case FRG_SPAN_LARGE:
        if (size > FRG_SMALL_MAX && size <= FRG_LARGE_MAX && frg_large_resize(s, size))
            return p;
        break;
    case FRG_SPAN_HUGE:
        if (size > FRG_LARGE_MAX)
            return frg_huge_realloc(s, size);
        break;
    }
    return realloc_move(p, usable_of(s), size);
}

FRG_API void *frg_reallocarray(void *p, size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return frg_realloc(p, total);
}

/* ---- aligned allocation ---------------------------------------------------- */

/* `align` is a power of two. */
static void *aligned_impl(size_t align, size_t size) {
    if (align <= FRG_QUANTUM)
        return malloc_impl(size);
    if (size <= FRG_SMALL_MAX && align <= FRG_PAGE) {
        /* Slabs start on a page, so objects of a class whose size is a
         * multiple of `align` are all aligned. */
        unsigned cls = frg_size_to_class(size < align ? align : size);
        while (cls < FRG_NCLASSES && frg_class_size(cls) % align)
            cls++;
        if (cls < FRG_NCLASSES)
            return small_alloc(cls);
    }
    return big_alloc(size ? size : 1, align, false);
}

static void *aligned_alloc_pow2(size_t align, size_t size) {
    void *p = aligned_impl(align, size);
    FRG_VG_MALLOC(p, size, 0);
    return p;
}

FRG_API int frg_posix_memalign(void **memptr, size_t align, size_t size) {
    if (!frg_is_pow2(align) || align % sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = aligned_alloc_pow2(align, size);
    if (!p)
        return ENOMEM;
    errno = saved;
    *memptr = p;
    return 0;
}

FRG_API void *frg_aligned_alloc(size_t align, size_t size) {
    if (!frg_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_alloc_pow2(align, size);
}

FRG_API void *frg_memalign(size_t align, size_t size) {
    /* glibc: alignments that are not powers of two are rounded up. */
    if (align > MAX_REQUEST / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!frg_is_pow2(align))
        align = align <= 1 ? 1 : (size_t)1 << (frg_log2(align) + 1);
    return aligned_alloc_pow2(align, size);
}

FRG_API void *frg_valloc(size_t size) { return aligned_alloc_pow2(FRG_PAGE, size); }

FRG_API void *frg_pvalloc(size_t size) {
    size_t rounded = frg_align_up(size ? size : 1, FRG_PAGE);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned_alloc_pow2(FRG_PAGE, rounded);
}

FRG_API size_t frg_malloc_usable_size(void *p) {
    if (!p)
        return 0;
    const uint64_t *slot = frg_pagemap_slot(p);
    uint64_t e = frg_pagemap_read(slot);
    if (FRG_LIKELY(e & FRG_PM_SLAB) && slab_object_start(e, p) && !maybe_freed(slot, e, p))
        return frg_class_size(frg_pm_class(e));
    struct frg_span *s = frg_pm_span(e);
    const char *bad = misuse_kind(p, s);
    if (!bad && cached_kind(s) && maybe_freed(slot, e, p) && cached_is_freed(p, s->sclass) == FREED)
        bad = "use-after-free";
    if (bad) {
        report("malloc_usable_size", bad, p);
        return 0;
    }
    return usable_of(s);
}

/* ---- the glibc names (libfrgmalloc.so only) -------------------------------- */

FRG_OVERRIDE(malloc, frg_malloc)
FRG_OVERRIDE(free, frg_free)
FRG_OVERRIDE(cfree, frg_free)
FRG_OVERRIDE(calloc, frg_calloc)
FRG_OVERRIDE(realloc, frg_realloc)
FRG_OVERRIDE(reallocarray, frg_reallocarray)
FRG_OVERRIDE(posix_memalign, frg_posix_memalign)
FRG_OVERRIDE(aligned_alloc, frg_aligned_alloc)
FRG_OVERRIDE(memalign, frg_memalign)
FRG_OVERRIDE(valloc, frg_valloc)
FRG_OVERRIDE(pvalloc, frg_pvalloc)
FRG_OVERRIDE(malloc_usable_size, frg_malloc_usable_size)
FRG_OVERRIDE(__libc_malloc, frg_malloc)
FRG_OVERRIDE(__libc_free, frg_free)
FRG_OVERRIDE(__libc_calloc, frg_calloc)
FRG_OVERRIDE(__libc_realloc, frg_realloc)
FRG_OVERRIDE(__libc_memalign, frg_memalign)
FRG_OVERRIDE(__libc_valloc, frg_valloc)
FRG_OVERRIDE(__libc_pvalloc, frg_pvalloc)
