/*
 * test_internals.c - white-box tests of the layers below the API: the
 * allocation-free formatter, option parsing, bitmaps, the page map, slabs
 * and the page heap (coalescing, in-place growth, dirty accounting and
 * purging, structure validation).
 */
#include "testutil.h"

#include <sys/mman.h>

#include "bitmap.h"
#include "central.h"
#include "fmt.h"
#include "init.h"
#include "options.h"
#include "pageheap.h"
#include "pool.h"
#include "pagemap.h"
#include "percpu.h"
#include "os.h"
#include "purge.h"
#include "slab.h"
#include "stats.h"
#include "transfer.h"

static void test_fmt(void) {
    char b[128];
    frg_snprintf(b, sizeof b, "%s|%d|%u|%zu|%x|%5d|%-4s|%05u|%c|%%|%.3s", "ab", -42, 7u,
                 (size_t)123456789012ull, 255u, 12, "x", 42u, 'z', "abcdef");
    CU_ASSERT_STRING_EQUAL(b, "ab|-42|7|123456789012|ff|   12|x   |00042|z|%|abc");
    frg_snprintf(b, sizeof b, "%p", (void *)0x1234abcd);
    CU_ASSERT_STRING_EQUAL(b, "0x1234abcd");
    size_t n = frg_snprintf(b, 8, "%s", "truncated text");
    CU_ASSERT_EQUAL(n, 14);
    CU_ASSERT_STRING_EQUAL(b, "truncat");
    frg_snprintf(b, sizeof b, "%ld %lld %lu", -5L, -6LL, 9UL);
    CU_ASSERT_STRING_EQUAL(b, "-5 -6 9");
}

/* Parse in a child so the global options of this process stay untouched;
 * the child reports through its exit code and stderr. */
static void parse_good(void) {
    frg_options_parse("dirty_min:8M,decay_ms:250,misuse:report,background:false,cache_max:auto",
                      "test");
    _exit(frg_opt.dirty_min == (8u << 20) && frg_opt.decay_ms == 250 &&
                  frg_opt.misuse == FRG_MISUSE_REPORT && frg_opt.background == 0 &&
                  frg_opt.cache_max == FRG_OPT_AUTO
              ? 0 : 1);
}
/* "auto" only for an option whose default is auto */
static void parse_bad(void) {
    uint64_t before = frg_opt.dirty_min, transfer = frg_opt.transfer_max;
    frg_options_parse("nosuch:1,dirty_min:lots,decay_ms,dirty_ratio:101,,cache_max:2k,"
                      "transfer_max:auto", "test");
    _exit(frg_opt.dirty_min == before && frg_opt.cache_max == 2048 &&
                  frg_opt.transfer_max == transfer
              ? 0 : 1);
}

/* cache_max's default, "auto", is worked out at start-up (percpu_init.c):
 * 32 MiB shared by the caches, 2 - 16 MiB each; none without caches. */
static void test_cache_max_auto(void) {
    const char *conf = getenv("FRGMALLOC_CONF");
    if (conf && strstr(conf, "cache_max:"))
        return; /* set by whoever runs the test */
    frg_free(frg_malloc(1)); /* initialised */
    unsigned n = frg_percpu_ncaches();
    size_t want = n == 0 ? 0 : (32u << 20) / n;
    if (n)
        want = want < (2u << 20) ? (2u << 20) : want > (16u << 20) ? (16u << 20) : want;
    CU_ASSERT_EQUAL(frg_opt.cache_max, want);
}

static void test_options(void) {
    char err[4096];
    int st = tu_run_child(parse_good, err, sizeof err);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_STRING_EQUAL(err, "");
    st = tu_run_child(parse_bad, err, sizeof err);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "frgmalloc: warning: unknown option 'nosuch' in test, ignored\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad value 'lots' for option 'dirty_min'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "option 'decay_ms' in test has no ':value'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad value '101' for option 'dirty_ratio'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad value 'auto' for option 'transfer_max'"));
    /* one line per problem, nothing else */
    int lines = 0;
    for (char *p = err; *p; p++)
        lines += *p == '\n';
    CU_ASSERT_EQUAL(lines, 5);
}

static void test_bitmap(void) {
    uint64_t bm[4] = {0};
    frg_bm_fill(bm, 3, 130, 1);
    CU_ASSERT_EQUAL(frg_bm_count(bm, 0, 256), 130);
    CU_ASSERT_EQUAL(frg_bm_find(bm, 256, 0, 1), 3);
    CU_ASSERT_EQUAL(frg_bm_find(bm, 256, 3, 0), 133);
    CU_ASSERT_EQUAL(frg_bm_find(bm, 256, 200, 1), 256);
    frg_bm_fill(bm, 60, 10, 0);
    CU_ASSERT_EQUAL(frg_bm_find(bm, 256, 10, 0), 60);
    CU_ASSERT_EQUAL(frg_bm_count(bm, 0, 256), 120);
}

/* The index of a page-map leaf no chunk has needed (the highest). */
static size_t unused_leaf(void) {
    size_t i = ((size_t)1 << FRG_PM_ROOT_BITS) - 1;
    while (i > 0 && frg_pm_root[i])
        i--;
    return i;
}

static void test_pagemap_foreign(void) {
    int local;
    static int global;
    void *libc = malloc(10);
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup(&local));
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup(&global));
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup(libc));
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup((void *)(uintptr_t)0xffff800000001000ull));
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup((void *)((uintptr_t)1 << FRG_VA_BITS)));
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup((void *)(((uintptr_t)1 << FRG_VA_BITS) - 1)));
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup(NULL));
    /* a mapping of the program's own, and a page of it, 4 KiB on */
    char *own = mmap(NULL, 2 * FRG_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(own != MAP_FAILED);
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup(own));
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup(own + FRG_PAGE + 8));
    munmap(own, 2 * FRG_PAGE);
    free(libc);
    void *mine = frg_malloc(10);
    struct frg_span *s = frg_pagemap_lookup(mine);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->kind, FRG_SPAN_SLAB);
    frg_free(mine);
    /* the layout the option asked for, unless the flat one is not possible */
    CU_ASSERT(tu_pagemap_as_expected(frg_opt.pagemap == FRG_PAGEMAP_FLAT ? "flat" : "tree"));
    /* an address in a stretch no leaf covers (in the flat layout: a slice
     * still inaccessible, which the root's entry keeps the lookup from) */
    size_t i = unused_leaf();
    CU_ASSERT_PTR_NULL(frg_pagemap_lookup((void *)(i << (FRG_PAGE_SHIFT + FRG_PM_LEAF_BITS))));
}

/* The VmFlags line of /proc/self/smaps for the mapping holding `addr`
 * (" rd wr mr mw me ac sd dd nh" ...), or "" if none is found. */
static void vm_flags_of(const void *addr, char *out, size_t size) {
    out[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return;
    char line[512];
    bool inside = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
        else if (inside && !strncmp(line, "VmFlags:", 8)) {
            size_t n = strlen(line + 8);
            n = n < size - 1 ? n : size - 1;
            memcpy(out, line + 8, n);
            out[n] = 0;
            break;
        }
    }
    fclose(f);
}

/* A VmFlags line has the two-letter flag `flag`. */
static bool has_vm_flag(const char *flags, const char *flag) {
    for (const char *p = flags; (p = strstr(p, flag)); p += 2)
        if ((p == flags || p[-1] == ' ') && (p[2] == ' ' || p[2] == '\n' || p[2] == 0))
            return true;
    return false;
}

/* The flat layout's memory: never transparent huge pages (one written
 * entry would fault in 2 MiB), left out of core dumps, and a slice no
 * chunk needs inaccessible (no "rd"), so mlockall has nothing to fault in
 * there.  A tree leaf is an ordinary mapping: no hints. */
static void test_pagemap_reservation_flags(void) {
    void *mine = frg_malloc(10); /* its leaf exists */
    const uint64_t *slot = frg_pagemap_slot(mine);
    CU_ASSERT_PTR_NOT_NULL_FATAL(slot);
    char flags[256];
    vm_flags_of(slot, flags, sizeof flags);
    if (!flags[0]) {
        printf("no VmFlags in /proc/self/smaps: not checked\n");
        frg_free(mine);
        return;
    }
    bool flat = frg_pm_flat != NULL;
    CU_ASSERT(has_vm_flag(flags, "rd") && has_vm_flag(flags, "wr"));
    CU_ASSERT_EQUAL(has_vm_flag(flags, "nh"), flat);
    CU_ASSERT_EQUAL(has_vm_flag(flags, "dd"), flat);
    if (has_vm_flag(flags, "nh") != flat || has_vm_flag(flags, "dd") != flat)
        fprintf(stderr, "page map (%s layout) at %p: VmFlags%s", frg_pagemap_layout(), (void *)slot,
                flags);
    if (flat) {
        size_t i = unused_leaf();
        char unused[256];
        vm_flags_of(frg_pm_flat + (i << FRG_PM_LEAF_BITS), unused, sizeof unused);
        CU_ASSERT(unused[0] && !has_vm_flag(unused, "rd") && !has_vm_flag(unused, "wr") &&
                  has_vm_flag(unused, "dd"));
        if (!unused[0] || has_vm_flag(unused, "rd"))
            fprintf(stderr, "unused slice %zu: VmFlags%s\n", i, unused);
    }
    frg_free(mine);
}

/* A slab descriptor for addresses nothing is mapped at, registered in the
 * page map as the real ones are (the slab code keeps page-map flags). */
static void fake_slab(struct frg_span *s, uintptr_t base, unsigned cls) {
    memset(s, 0, sizeof *s);
    s->base = FRG_ENC_BASE(base);
    s->npages = frg_classes[cls].slab_pages;
    s->kind = FRG_SPAN_SLAB;
    frg_slab_format(s, cls);
    CU_ASSERT_FATAL(frg_pagemap_ensure(base, s->npages * FRG_PAGE));
    frg_pagemap_set(base, s->npages, s);
}

static void test_slab_bitmap(void) {
    struct frg_span s;
    fake_slab(&s, 0x100000, 3); /* 64-byte class: 64 objects */
    CU_ASSERT_EQUAL(s.nfree, 64);
    void *out[100];
    CU_ASSERT_EQUAL(frg_slab_take(&s, out, 100), 64);
    CU_ASSERT_PTR_EQUAL(out[0], (void *)0x100000);
    CU_ASSERT_PTR_EQUAL(out[63], (void *)(0x100000 + 63 * 64));
    CU_ASSERT_EQUAL(s.nfree, 0);
    CU_ASSERT_EQUAL(frg_slab_put(&s, out[5]), FRG_PUT_OK);
    CU_ASSERT_EQUAL(frg_slab_put(&s, out[5]), FRG_PUT_DOUBLE_FREE);
    CU_ASSERT_EQUAL(frg_slab_put(&s, (char *)out[6] + 8), FRG_PUT_INTERIOR);
    CU_ASSERT(!frg_slab_is_live(&s, out[5]));
    CU_ASSERT(frg_slab_is_live(&s, out[6]));
    CU_ASSERT(frg_slab_validate(&s));
    CU_ASSERT_EQUAL(frg_slab_take(&s, out, 1), 1);
    CU_ASSERT_PTR_EQUAL(out[0], (void *)(0x100000 + 5 * 64)); /* lowest free first */
    frg_pagemap_set(0x100000, s.npages, NULL);
}

/* Which pages of a multi-page slab hold only free objects, and how the
 * purged mask follows allocation.  1792-byte class: 4 pages, 9 objects;
 * object k spans bytes [1792k, 1792k + 1792). */
static void test_slab_free_pages(void) {
    struct frg_span s;
    unsigned cls = frg_size_to_class(1792);
    CU_ASSERT_EQUAL_FATAL(frg_classes[cls].slab_pages, 4);
    /* real memory: giving a purged page back writes the free key into it */
    char *mem = mmap(NULL, 4 * FRG_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(mem != MAP_FAILED);
    uintptr_t base = (uintptr_t)mem;
    fake_slab(&s, base, cls);
    CU_ASSERT_EQUAL(frg_slab_free_pages(&s), 0xf);
    void *out[9];
    CU_ASSERT_EQUAL_FATAL(frg_slab_take(&s, out, 9), 9);
    CU_ASSERT_EQUAL(frg_slab_free_pages(&s), 0);
    for (int k = 0; k < 3; k++) /* objects 0-2 cover page 0 (and part of 1) */
        CU_ASSERT_EQUAL(frg_slab_put(&s, out[k]), FRG_PUT_OK);
    CU_ASSERT_EQUAL(frg_slab_free_pages(&s), 0x1);
    for (int k = 6; k < 9; k++) /* objects 6-8: bytes 10752-16127, page 3 and part of 2 */
        CU_ASSERT_EQUAL(frg_slab_put(&s, out[k]), FRG_PUT_OK);
    CU_ASSERT_EQUAL(frg_slab_free_pages(&s), 0x9);
    s.purged = 0x9; /* as the central list marks purged pages */
    uint64_t before_clear = frg_pagemap_entry(mem);
    frg_pagemap_set_slab_flag(base, 1, false);
    frg_pagemap_set_slab_flag(base + 3 * FRG_PAGE, 1, false);
    CU_ASSERT(frg_slab_validate(&s));
    CU_ASSERT_EQUAL(frg_slab_take(&s, out, 1), 1); /* object 0: page 0 */
    CU_ASSERT_EQUAL(s.purged, 0x8);
    CU_ASSERT((frg_pagemap_entry(mem) & FRG_PM_SLAB) != 0); /* flag back */
    /* ... but not the same entry: a free that read it before the clear
     * must see that it changed (alloc.c, entry_unchanged) */
    CU_ASSERT(frg_pagemap_entry(mem) != before_clear);
    CU_ASSERT_EQUAL(frg_pagemap_entry(mem) & ~FRG_PM_GEN_MASK, before_clear & ~FRG_PM_GEN_MASK);
    CU_ASSERT_EQUAL(((uint64_t *)(mem + 1792))[1], frg_fastpath.free_key); /* free object 1: key back */
    CU_ASSERT_EQUAL(((uint64_t *)(mem + 3 * 1792))[1], 0); /* object 3 starts on page 1 */
    CU_ASSERT(frg_slab_validate(&s));
    CU_ASSERT_EQUAL(frg_slab_take(&s, out, 2), 2); /* objects 1, 2: pages 0, 1 */
    CU_ASSERT_EQUAL(s.purged, 0x8);
    CU_ASSERT_EQUAL(frg_slab_take(&s, out, 1), 1); /* object 6: pages 2, 3 */
    CU_ASSERT_EQUAL(s.purged, 0);
    CU_ASSERT(frg_slab_validate(&s));
    s.purged = 0x2; /* a page with live objects must never be marked */
    frg_pagemap_set_slab_flag(base + FRG_PAGE, 1, false);
    CU_ASSERT(!frg_slab_validate(&s));
    frg_pagemap_set(base, s.npages, NULL);
    munmap(mem, 4 * FRG_PAGE);
}

/* Every cached free object back in its slab. */
static void drain_caches(void) {
    frg_percpu_drain_all(false);
    for (unsigned c = 0; c < FRG_NCLASSES; c++)
        frg_transfer_drain(c);
}

/* A sweep of free slab pages whose madvise fails gives the pages back as
 * they were: the slab flag set again and the free key in every free
 * object starting there (a purge that failed part-way may have zeroed
 * them), so free()'s fast check still catches a double free there. */
static void test_sweep_failure_puts_keys_back(void) {
    enum { N = 40 };
    unsigned cls = frg_size_to_class(1792);
    const struct frg_class_info *ci = &frg_classes[cls];
    CU_ASSERT_EQUAL_FATAL(ci->slab_pages, 4);
    frg_purge_stop(); /* no background sweep between the steps */
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = frg_malloc(1792);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p[i]);
    }
    /* a slab whose objects are all ours */
    struct frg_span *s = NULL;
    for (int i = 0; i < N && !s; i++) {
        struct frg_span *t = frg_pagemap_lookup(p[i]);
        unsigned mine = 0;
        for (int j = 0; j < N; j++)
            mine += frg_pagemap_lookup(p[j]) == t;
        if (mine == ci->nobjs)
            s = t;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    drain_caches();
    frg_central_purge_free_pages(true); /* the next sweep finds only our page */
    /* objects 0-2 start on page 0 and cover it */
    char *obj0 = (char *)FRG_BASE(s);
    for (int k = 0; k < 3; k++)
        frg_free(obj0 + k * ci->size);
    drain_caches();
    CU_ASSERT_EQUAL(frg_slab_free_pages(s) & 1, 1);
    for (int k = 0; k < 3; k++) /* as if the failed purge had zeroed the page */
        ((uint64_t *)(obj0 + k * ci->size))[1] = 0;
    frg_os_inject_faults(0, 1);
    frg_central_purge_free_pages(true);
    frg_os_inject_faults(0, 0);
    CU_ASSERT_EQUAL(s->purged & 1, 0);
    CU_ASSERT((frg_pagemap_entry(obj0) & FRG_PM_SLAB) != 0);
    for (int k = 0; k < 3; k++)
        CU_ASSERT_EQUAL(((uint64_t *)(obj0 + k * ci->size))[1], frg_fastpath.free_key);
    CU_ASSERT(frg_slab_validate(s));
    for (int i = 0; i < N; i++) {
        uintptr_t off = (uintptr_t)p[i] - FRG_BASE(s);
        if (frg_pagemap_lookup(p[i]) != s || off >= 3 * ci->size)
            frg_free(p[i]);
    }
    frg_purge_start();
}

/* Descriptor pages follow their use: after many descriptors are taken
 * and given back, a purge leaves only the blocks' header pages resident,
 * and the counters agree with the blocks. */
static void test_pool_purges_empty_pages(void) {
    enum { N = 20000 };
    static void *d[N];
    frg_pools_purge();
    size_t before = frg_pool_resident(&frg_span_pool), blocks0 = frg_span_pool.blocks;
    for (int i = 0; i < N; i++) {
        d[i] = frg_pool_alloc(&frg_span_pool);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d[i]);
    }
    size_t grown = frg_span_pool.blocks - blocks0;
    CU_ASSERT(grown >= N * sizeof(struct frg_span) / (64 << 10));
    CU_ASSERT(frg_pool_resident(&frg_span_pool) >= before + (size_t)N * sizeof(struct frg_span));
    for (int i = 0; i < N; i++)
        frg_pool_free(&frg_span_pool, d[i]);
    size_t purged = frg_pools_purge();
    size_t after = frg_pool_resident(&frg_span_pool);
    printf("span pool: %zu new blocks, resident %zu -> %zu KiB, purge gave back %zu KiB\n",
           grown, before >> 10, after >> 10, purged >> 10);
    /* what stays: page 0 (header) of each new block, and what was there */
    CU_ASSERT(after <= before + grown * 4096);
    CU_ASSERT(purged >= (size_t)N * sizeof(struct frg_span) - grown * 4096);
    CU_ASSERT_EQUAL(frg_span_pool.empty_pages, 0);
}

/* The transfer cache gives a flushed batch back on the next refill without
 * touching a slab, holds at most its per-class cap, counts what it holds
 * as cached, gives back to the slabs what stayed untouched for a decay
 * period (all of an idle class, the bottom of a class in use), and
 * everything on a full purge.  The purger thread is stopped meanwhile, so
 * that every decay step is the test's own (at times ahead of its clock). */
static void test_transfer_cache_holds_and_drains(void) {
    enum { BATCH = 32, MAX = 1024 + BATCH };
    static void *o[MAX], *back[BATCH];
    unsigned cls = frg_size_to_class(64);
    size_t cap = frg_opt.transfer_max / 4 / 64;
    cap = cap > 1024 ? 1024 : cap; /* the per-class bound, in objects */
    CU_ASSERT_FATAL(cap % BATCH == 0 && cap + BATCH <= MAX);
    frg_purge_stop();
    frg_percpu_drain_all(true);
    frg_transfer_drain(FRG_NCLASSES);
    size_t out0 = frg_central[cls].objs_out;

    /* a refill of an empty cache comes from the slabs */
    CU_ASSERT_EQUAL_FATAL(frg_transfer_alloc_batch(cls, o, BATCH), BATCH);
    CU_ASSERT_EQUAL(frg_central[cls].objs_out, out0 + BATCH);
    /* flushed, then refilled: the same objects, no slab touched */
    CU_ASSERT_FALSE(frg_transfer_free_batch(cls, o, BATCH));
    CU_ASSERT_EQUAL(frg_transfer_objs(cls), BATCH);
    CU_ASSERT_EQUAL(frg_transfer_bytes(), BATCH * 64);
    uint64_t nmalloc = frg_central[cls].nmalloc;
    CU_ASSERT_EQUAL(frg_transfer_alloc_batch(cls, back, BATCH), BATCH);
    CU_ASSERT_EQUAL(frg_central[cls].nmalloc, nmalloc);
    CU_ASSERT_EQUAL(memcmp(back, o, sizeof back), 0);
    CU_ASSERT_EQUAL(frg_transfer_bytes(), 0);

    /* filled to its cap; the next batch goes to the slabs */
    CU_ASSERT_EQUAL_FATAL(frg_central_alloc_batch(cls, o + BATCH, (unsigned)cap), cap);
    for (size_t i = 0; i < cap + BATCH; i += BATCH)
        frg_transfer_free_batch(cls, o + i, BATCH);
    CU_ASSERT_EQUAL(frg_transfer_objs(cls), cap);
    CU_ASSERT_EQUAL(frg_central[cls].objs_out, out0 + cap);
    struct frg_stats *st = malloc(sizeof *st);
    frg_stats_collect(st);
    CU_ASSERT_EQUAL(st->transfer_cached, cap * 64);
    CU_ASSERT(st->cls[cls].cached >= cap);
    free(st);

    /* unused for a decay period: drained, not before */
    uint64_t idle = 1000000000ull, now = frg_os_now_ns() + 10 * idle;
    frg_transfer_decay(now, idle);            /* starts the period */
    frg_transfer_decay(now + idle - 1, idle); /* not idle long enough */
    CU_ASSERT_EQUAL(frg_transfer_objs(cls), cap);
    CU_ASSERT_EQUAL(frg_transfer_decay(now + idle, idle), cap * 64);
    CU_ASSERT_EQUAL(frg_transfer_objs(cls), 0);
    CU_ASSERT_EQUAL(frg_central[cls].objs_out, out0);

    /* and malloc_trim drains it too */
    CU_ASSERT_EQUAL_FATAL(frg_transfer_alloc_batch(cls, o, BATCH), BATCH);
    frg_transfer_free_batch(cls, o, BATCH);
    CU_ASSERT_EQUAL(frg_transfer_objs(cls), BATCH);
    frg_malloc_trim(0);
    CU_ASSERT_EQUAL(frg_transfer_objs(cls), 0);
    CU_ASSERT_EQUAL(frg_transfer_bytes(), 0);
    CU_ASSERT_EQUAL(frg_central[cls].objs_out, out0);

    /* a class in use gives back only what it did not touch for a period:
     * batch A stays at the bottom while B is taken and given back */
    static void *b[BATCH];
    CU_ASSERT_EQUAL_FATAL(frg_central_alloc_batch(cls, o, BATCH), BATCH);
    CU_ASSERT_EQUAL_FATAL(frg_central_alloc_batch(cls, b, BATCH), BATCH);
    frg_transfer_free_batch(cls, o, BATCH); /* A */
    frg_transfer_free_batch(cls, b, BATCH); /* B */
    frg_transfer_decay(now + 3 * idle, idle); /* starts a period */
    CU_ASSERT_EQUAL(frg_transfer_alloc_batch(cls, back, BATCH), BATCH);
    CU_ASSERT_EQUAL(memcmp(back, b, sizeof back), 0);
    frg_transfer_free_batch(cls, back, BATCH);
    CU_ASSERT_EQUAL(frg_transfer_decay(now + 4 * idle, idle), BATCH * 64); /* A only */
    CU_ASSERT_EQUAL(frg_transfer_objs(cls), BATCH);
    CU_ASSERT_EQUAL(frg_transfer_alloc_batch(cls, back, BATCH), BATCH);
    CU_ASSERT_EQUAL(memcmp(back, b, sizeof back), 0);
    frg_transfer_free_batch(cls, back, BATCH);
    frg_transfer_drain(cls);
    CU_ASSERT_EQUAL(frg_central[cls].objs_out, out0);
    CU_ASSERT(frg_central_validate());
    frg_purge_start();
}

static void test_pageheap_coalesce_and_grow(void) {
    bool z;
    struct frg_span *a = frg_pageheap_alloc(10, 1, FRG_SPAN_LARGE, 0, &z);
    struct frg_span *b = frg_pageheap_alloc(10, 1, FRG_SPAN_LARGE, 0, &z);
    struct frg_span *c = frg_pageheap_alloc(10, 1, FRG_SPAN_LARGE, 0, &z);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(frg_pageheap_validate());
    if (a->chunk == b->chunk && FRG_BASE(b) == FRG_BASE(a) + 10 * 4096 && FRG_BASE(c) == FRG_BASE(b) + 10 * 4096) {
        uintptr_t base = FRG_BASE(a);
        frg_pageheap_free(b);
        CU_ASSERT(frg_pageheap_grow(a, 15)); /* into b's pages */
        CU_ASSERT(!frg_pageheap_grow(a, 25)); /* c is in the way */
        frg_pageheap_shrink(a, 10);
        frg_pageheap_free(c);
        frg_pageheap_free(a);
        /* the three runs coalesced: 30 pages fit at the same place again */
        struct frg_span *d = frg_pageheap_alloc(30, 1, FRG_SPAN_LARGE, 0, &z);
        CU_ASSERT_EQUAL(FRG_BASE(d), base);
        frg_pageheap_free(d);
    } else {
        frg_pageheap_free(a);
        frg_pageheap_free(b);
        frg_pageheap_free(c);
        CU_FAIL("three fresh runs were not adjacent");
    }
    CU_ASSERT(frg_pageheap_validate());
}

static void test_pageheap_aligned_and_purge(void) {
    bool z;
    struct frg_span *s = frg_pageheap_alloc(3, 64, FRG_SPAN_LARGE, 0, &z);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(FRG_BASE(s) % (64 * 4096), 0);
    memset((void *)FRG_BASE(s), 1, 3 * 4096);
    frg_pageheap_free(s);
    struct frg_pageheap_stats st;
    frg_pageheap_stats(&st);
    CU_ASSERT(st.dirty_pages >= 3);
    CU_ASSERT(frg_pageheap_purge(UINT64_MAX) >= 3 * 4096);
    frg_pageheap_stats(&st);
    CU_ASSERT_EQUAL(st.dirty_pages, 0);
    /* purged pages read as zero and are reported so */
    struct frg_span *t = frg_pageheap_alloc(3, 64, FRG_SPAN_LARGE, 0, &z);
    CU_ASSERT(z);
    CU_ASSERT_EQUAL(((unsigned char *)FRG_BASE(t))[100], 0);
    frg_pageheap_free(t);
    CU_ASSERT(frg_pageheap_validate());
}

/* Decay purges the pages that stayed dirty for a whole generation and
 * keeps the ones in use since: a run taken and freed again is spared. */
static void test_pageheap_decay_spares_reused_pages(void) {
    bool z;
    frg_purge_stop(); /* no background pass between the steps */
    frg_pageheap_purge(UINT64_MAX);
    struct frg_span *a = frg_pageheap_alloc(64, 1, FRG_SPAN_LARGE, 0, &z);
    struct frg_span *b = frg_pageheap_alloc(64, 1, FRG_SPAN_LARGE, 0, &z);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(FRG_BASE(b), FRG_BASE(a) + 64 * 4096); /* fresh, adjacent */
    uintptr_t base = FRG_BASE(a);
    memset((void *)base, 1, 128 * 4096);
    frg_pageheap_free(a);
    frg_pageheap_free(b);
    struct frg_pageheap_stats st;
    frg_pageheap_stats(&st);
    CU_ASSERT_EQUAL(st.dirty_pages, 128);
    /* the generation that began at the free has nothing old yet: a pass
     * purges nothing and begins the next one with all 128 pages in it */
    CU_ASSERT_EQUAL(frg_pageheap_purge(frg_os_now_ns() + 1), 0);
    /* the first 64 pages are reused (resident pages are taken first) */
    struct frg_span *c = frg_pageheap_alloc(64, 1, FRG_SPAN_LARGE, 0, &z);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(FRG_BASE(c), base);
    CU_ASSERT(!z);
    frg_pageheap_free(c);
    /* the next pass purges only the 64 pages nobody took */
    CU_ASSERT_EQUAL(frg_pageheap_purge(frg_os_now_ns() + 1), 64 * 4096);
    frg_pageheap_stats(&st);
    CU_ASSERT_EQUAL(st.dirty_pages, 64);
    CU_ASSERT(frg_pageheap_validate());
    /* and the one after that the rest, unused since */
    CU_ASSERT_EQUAL(frg_pageheap_purge(frg_os_now_ns() + 1), 64 * 4096);
    frg_pageheap_stats(&st);
    CU_ASSERT_EQUAL(st.dirty_pages, 0);
    CU_ASSERT(frg_pageheap_validate());
    frg_purge_start();
}

/* Several ranges purged at once: each purged range reads as zero, the
 * pages between them keep their data, and a range the kernel refuses (an
 * unmapped page in the middle) is reported without losing the ranges
 * after it.  With a kernel that takes one process_madvise for all of them,
 * a batch of valid ranges costs one call. */
static void test_os_purge_ranges(void) {
    const size_t pg = FRG_PAGE;
    unsigned char *p = frg_os_map(9 * pg, FRG_MAP_META);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 0xAB, 9 * pg);
    frg_os_unmap(p + 3 * pg, pg);
    struct frg_os_range r[5] = {{p, pg}, {p + 2 * pg, pg}, {p + 3 * pg, pg},
                                {p + 4 * pg, 2 * pg}, {p + 7 * pg, pg}};
    bool ok[5];
    CU_ASSERT_EQUAL(frg_os_purge_ranges(r, 5, ok), 5 * pg);
    CU_ASSERT(ok[0] && ok[1] && !ok[2] && ok[3] && ok[4]);
    size_t purged[] = {0, 2, 4, 5, 7}, kept[] = {1, 6, 8};
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(p[purged[i] * pg + 17], 0);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(p[kept[i] * pg + 17], 0xAB);

    /* all valid: one call if the kernel batches, else one per range */
    memset(p + 4 * pg, 0xCD, 5 * pg);
    struct frg_os_range v[3] = {{p + 4 * pg, pg}, {p + 6 * pg, pg}, {p + 8 * pg, pg}};
    uint64_t before = frg_os_counters.madvise_calls;
    CU_ASSERT_EQUAL(frg_os_purge_ranges(v, 3, ok), 3 * pg);
    uint64_t calls = frg_os_counters.madvise_calls - before;
    CU_ASSERT(calls == 1 || calls == 3);
    CU_ASSERT(ok[0] && ok[1] && ok[2]);
    CU_ASSERT(p[4 * pg] == 0 && p[5 * pg] == 0xCD && p[6 * pg] == 0 && p[7 * pg] == 0xCD &&
              p[8 * pg] == 0);

    /* purge_vector:false: one madvise per range, same outcome */
    memset(p + 4 * pg, 0xEF, 5 * pg);
    frg_opt.purge_vector = 0;
    before = frg_os_counters.madvise_calls;
    CU_ASSERT_EQUAL(frg_os_purge_ranges(v, 3, ok), 3 * pg);
    CU_ASSERT_EQUAL(frg_os_counters.madvise_calls - before, 3);
    frg_opt.purge_vector = 1;
    CU_ASSERT(ok[0] && ok[1] && ok[2]);
    CU_ASSERT(p[4 * pg] == 0 && p[5 * pg] == 0xEF && p[6 * pg] == 0 && p[7 * pg] == 0xEF &&
              p[8 * pg] == 0);
    frg_os_unmap(p, 3 * pg);
    frg_os_unmap(p + 4 * pg, 5 * pg);
}

/* frg_os_move carries a mapping's content onto the target and leaves all
 * of the target usable, also with free space just below the old mapping
 * and a reservation just after it: the layout in which valgrind 3.19's
 * memcheck marked the grown part of an mremap move inaccessible
 * (tests/valgrind.sh runs this under memcheck; os_linux.c copies there). */
static void test_os_move_layout(void) {
    const size_t mb = (size_t)1 << 20;
    frg_purge_stop(); /* no chunk mapped or unmapped meanwhile */
    uint64_t mapped_before = frg_os_counters.mapped_bytes;
    char *area = mmap(NULL, 8 * mb, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CU_ASSERT_FATAL(area != MAP_FAILED);
    char *a = frg_os_map(mb, FRG_MAP_HUGE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    /* into the reservation, then free the pages just below it */
    char *old = mremap(a, mb, mb, MREMAP_MAYMOVE | MREMAP_FIXED, area + 2 * mb);
    CU_ASSERT_FATAL(old == area + 2 * mb);
    munmap(old - 16 * FRG_PAGE, 16 * FRG_PAGE);
    memset(old, 0x5a, mb);
    unsigned char *target = frg_os_map(2 * mb, FRG_MAP_HUGE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(target);
    CU_ASSERT_FATAL(frg_os_move(old, mb, target, 2 * mb));
    memset(target + mb, 0xa5, mb);
    size_t bad = 0;
    for (size_t i = 0; i < 2 * mb; i += 997)
        bad += target[i] != (i < mb ? 0x5a : 0xa5);
    CU_ASSERT_EQUAL(bad, 0);
    frg_os_unmap(target, 2 * mb);
    CU_ASSERT_EQUAL(frg_os_counters.mapped_bytes, mapped_before);
    /* what is left of the reservation (the rest is vacant: leave it be) */
    munmap(area, 2 * mb - 16 * FRG_PAGE);
    munmap(area + 3 * mb, 5 * mb);
    frg_purge_start();
}

static void register_tests(void) {
    TU_SUITE(internals);
    TU_TEST(internals, test_fmt);
    TU_TEST(internals, test_options);
    TU_TEST(internals, test_cache_max_auto);
    TU_TEST(internals, test_bitmap);
    TU_TEST(internals, test_pagemap_foreign);
    TU_TEST(internals, test_pagemap_reservation_flags);
    TU_TEST(internals, test_slab_bitmap);
    TU_TEST(internals, test_slab_free_pages);
    TU_TEST(internals, test_sweep_failure_puts_keys_back);
    TU_TEST(internals, test_pool_purges_empty_pages);
    TU_TEST(internals, test_transfer_cache_holds_and_drains);
    TU_TEST(internals, test_pageheap_coalesce_and_grow);
    TU_TEST(internals, test_pageheap_aligned_and_purge);
    TU_TEST(internals, test_pageheap_decay_spares_reused_pages);
    TU_TEST(internals, test_os_purge_ranges);
    TU_TEST(internals, test_os_move_layout);
}

TU_MAIN
