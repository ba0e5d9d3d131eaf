/*
 * test_purge.c - resident memory follows live memory.
 *
 * Each scenario runs in a fresh process (this program re-executed) because
 * options are read once per process:
 *  - idle_return: free a large working set and make no further allocator
 *    call: RSS comes back to within a margin of live memory within 2 s;
 *  - idle_return_live: the same with 8 MiB still live;
 *  - burst_end: the same in a process that goes on allocating a little
 *    (its CPU cache changes at every look of the purger, so the process
 *    never looks idle): RSS still comes back within a second, because the
 *    end of the burst of frees is seen and purged as if idle;
 *  - burst_rounds: a program that frees and rebuilds its working set
 *    (mostly large runs) every 300 ms, less than decay_ms, is not purged
 *    at every round: each end of a round is seen as the end of a burst,
 *    but the boost of the dirty budget it earned stays resident (the
 *    stash's slabs too), so at most two rounds' worth of pages are purged
 *    in eight (one measured; eight when a burst's end dropped the boost,
 *    two and a third when it purged the stash whole; 1.6, and 2.2 to 3.7
 *    under UBSan, when a boost that fell short once stayed short; 1.6
 *    under ASan on a loaded machine, whose rebuilds took 400 ms); a
 *    round that takes longer than decay_ms (a heavily loaded machine)
 *    voids the bound, since its pages then do stay unused that long;
 *  - trim: with the purger off and a dirty budget large enough to keep
 *    everything, malloc_trim(0) returns 1 and RSS drops at once; a second
 *    trim returns 0;
 *  - pingpong_large / pingpong_small: freeing and reallocating the same
 *    working set 400 times costs a bounded number of madvise calls;
 *  - retain: wholly free chunks beyond retain_max are unmapped;
 *  - madv_free: the MADV_FREE mode works;
 *  - fault_madvise: a failing madvise loses nothing and is retried later;
 *  - offload / no_offload: a burst of frees over the dirty budget is purged
 *    down to the budget within 300 ms, by the freeing thread itself (the
 *    default) or, with purge_offload:true, by the purger thread at its
 *    request;
 *  - slab_pages_trim / slab_pages_idle: slabs of several pages that each
 *    keep one live object give back their other pages, at malloc_trim or
 *    when the process is idle; the live objects keep their contents, a
 *    double free, realloc or malloc_usable_size of a freed object on such
 *    a page is still reported, also after an allocation has brought the
 *    page back into use, and the pages come back into use when the class
 *    allocates again;
 *  - large_cache_idle: a freed large run kept for reuse goes back when the
 *    process stays idle;
 *  - large_cache_bounds / large_cache_no_budget: a CPU keeps freed large
 *    runs in its cache (at most 8 of a class, large_cache_max bytes in
 *    all) and in its shard of large.c's cache (at most 8 runs and
 *    large_cache_max bytes), none without a dirty budget;
 *  - large_cache_steal: a run freed on one CPU that its cache has no room
 *    for is reused by an allocation on another;
 *  - large_cache_half: a free that finds its class holding all the runs
 *    it may gives half of them to the shard with it (a consumer's CPU),
 *    and a miss takes them back in one call;
 *  - large_cache_steal_more: a steal moves up to 3 more runs of its size
 *    to the thief's own shard (a producer's next misses);
 *  - transfer_budget / transfer_no_budget: objects of a one-object class
 *    that the transfer cache's own bound has no room for are held there
 *    within the dirty budget only (none without one), counted against it,
 *    reused, and drained by malloc_trim;
 *  - transfer_budget_shrink: when the budget shrinks below what they take,
 *    the class's next flush gives them back;
 *  - transfer_decay_dated: objects the purger takes out of the transfer
 *    cache after a tick untouched empty their slabs into the stash dated
 *    from their last use, so the pages leave decay_ms after it, not
 *    decay_ms after the purger's look (purger passes driven with a
 *    synthetic clock).
 */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "central.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "pageheap.h"
#include "pagemap.h"
#include "percpu.h"
#include "stats.h"
#include "purge.h"
#include "transfer.h"

#define MIB (1024L * 1024)

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll RSS without calling the allocator until it is <= limit. */
static long wait_rss_below(long limit_kib, long max_ms, long *elapsed) {
    long rss = tu_rss_kib();
    for (*elapsed = 0; rss > limit_kib && *elapsed < max_ms; *elapsed += 50) {
        sleep_ms(50);
        rss = tu_rss_kib();
    }
    return rss;
}

/* About `bytes` in mixed small objects (16 B - 2 KiB, mostly small) and a
 * few large ones, all touched. */
static void **build(long bytes, size_t *count) {
    size_t cap = (size_t)(bytes / 64), n = 0;
    void **objs = frg_malloc(cap * sizeof *objs);
    uint64_t seed = 42;
    long used = 0;
    while (used < bytes && n < cap) {
        uint64_t r = tu_rand(&seed);
        size_t sz = r % 100 == 0 ? 65536 + r % 200000 : r % 4 == 0 ? 256 + r % 1792 : 16 + r % 240;
        objs[n] = frg_malloc(sz);
        memset(objs[n], 0x5a, sz);
        used += (long)sz;
        n++;
    }
    *count = n;
    return objs;
}

/* Run on the first CPU this process may use; returns the CPUs whose
 * caches and shards of the large-run cache it may then fill: 1, or all it
 * may run on if it could not pin itself (the cache has at most 64). */
static long pin_to_one_cpu(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 64;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set))
            return tu_pin(cpu) ? 1 : (CPU_COUNT(&set) < 64 ? CPU_COUNT(&set) : 64);
    return 64;
}

static void idle_return(long keep_live) {
    long cpus_filled = pin_to_one_cpu();
    long base = tu_rss_kib();
    size_t n;
    void **objs = build(256 * MIB, &n);
    void *live = keep_live ? frg_malloc((size_t)keep_live) : NULL;
    if (live)
        memset(live, 1, (size_t)keep_live);
    long peak = tu_rss_kib();
    for (size_t i = 0; i < n; i++)
        frg_free(objs[i]);
    frg_free(objs);
    /* From here on: no allocator call at all. */
    long growth = peak - base;
    /* eager purging: at once, down to live + the dirty budget (4 MiB) +
     * twice the transfer cache's bound (transfer_max, 4 MiB of free objects
     * kept for reuse until decay_ms, and about as much again for the rest
     * of the slabs they keep in use; measured 6-8 MiB together) + the
     * large caches (large_cache_max, 8 MiB, per CPU in its cache and in
     * its shard: within the dirty budget when they last asked, but the
     * budget shrinks with the heap; given back after decay_ms or a tick
     * unused; the thread stays on one CPU, so only one of each fills) + 2%.
     * "At once" allows 300 ms: a free that finds another purge running (the
     * purger's pass) leaves its pages to that purge, which may still be in
     * madvise when the last free returns, or descheduled on a loaded
     * machine (make -j2 check runs valgrind next to this: 100 ms was once
     * not enough).  Decay could not be what brings RSS down this soon: it
     * only purges pages left unused for decay_ms (500 ms). */
    long soon = base + keep_live / 1024 + growth / 50 + 4096 + 2 * (long)(frg_opt.transfer_max >> 10) +
                2 * (long)(frg_opt.large_cache_max >> 10) * cpus_filled;
    long soon_waited, rss_now = wait_rss_below(soon, 300, &soon_waited);
    /* decay: within 2 s, down to live + 1% + 1 MiB (metadata, page map) */
    long limit = base + keep_live / 1024 + growth / 100 + 1024;
    long waited, rss = wait_rss_below(limit, 3000, &waited);
    printf("base %ld peak %ld after-free %ld KiB (%ld ms) final %ld KiB after %ld ms "
           "(limits %ld, %ld)\n", base, peak, rss_now, soon_waited, rss, waited, soon, limit);
    if (rss_now > soon)
        TU_FAIL("RSS right after the frees %ld KiB > %ld KiB\n", rss_now, soon);
    if (rss > limit || waited > 2000)
        TU_FAIL("RSS %ld KiB did not fall below %ld KiB within 2 s\n", rss, limit);
    TU_PASS();
}

static void burst_end(void) {
    long cpus_filled = pin_to_one_cpu();
    long base = tu_rss_kib();
    size_t n;
    void **objs = build(128 * MIB, &n);
    enum { TRICKLE_MAX = 1000 };
    void **trickle = frg_malloc(TRICKLE_MAX * sizeof *trickle);
    long peak = tu_rss_kib();
    /* Free in random order: the objects the cache keeps at the end are
     * scattered, one or two to a slab, as a program's are. */
    uint64_t seed = 7;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = tu_rand(&seed) % (i + 1);
        void *t = objs[i];
        objs[i] = objs[j];
        objs[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        frg_free(objs[i]);
    frg_free(objs);
    /* From here on a trickle: a 48-byte object allocated and kept every
     * 5 ms (9 KiB a second); RSS polled meanwhile. */
    long growth = peak - base;
    long limit = base + growth / 100 + 2048;
    long rss = tu_rss_kib(), waited = 0;
    size_t kept = 0;
    while (rss > limit && waited < 3000 && kept < TRICKLE_MAX) {
        trickle[kept++] = frg_malloc(48);
        sleep_ms(5);
        waited += 5;
        if (waited % 25 == 0)
            rss = tu_rss_kib();
    }
    struct frg_stats st;
    frg_stats_collect(&st);
    printf("base %ld peak %ld KiB; %ld KiB (limit %ld) after %ld ms of trickle; %zu KiB "
           "cached, %zu KiB fragmented; CPUs filled %ld; free bursts ended %llu\n",
           base, peak, rss, limit, waited, st.cached >> 10, st.fragmented >> 10, cpus_filled,
           (unsigned long long)st.purge_bursts);
    for (size_t i = 0; i < kept; i++)
        frg_free(trickle[i]);
    frg_free(trickle);
    if (rss > limit || waited > 1000)
        TU_FAIL("RSS %ld KiB did not fall below %ld KiB within 1 s of trickle\n", rss, limit);
    if (st.purge_bursts == 0)
        TU_FAIL("no end of a free burst was counted\n");
    TU_PASS();
}

static void burst_rounds(void) {
    enum { ROUNDS = 8 };
    uint64_t purged0 = frg_os_counters.purged_bytes;
    long round_kib = 0;
    uint64_t busy_ns = 0; /* the longest build and free of a round */
    for (int r = 0; r < ROUNDS; r++) {
        long before = tu_rss_kib();
        uint64_t t0 = frg_os_now_ns();
        size_t n;
        void **objs = build(48 * MIB, &n);
        long grown = tu_rss_kib() - before;
        if (grown > round_kib)
            round_kib = grown;
        for (size_t i = 0; i < n; i++)
            frg_free(objs[i]);
        frg_free(objs);
        uint64_t t = frg_os_now_ns() - t0;
        busy_ns = t > busy_ns ? t : busy_ns;
        sleep_ms(300);
    }
    struct frg_stats st;
    frg_stats_collect(&st);
    long purged_kib = (long)((frg_os_counters.purged_bytes - purged0) >> 10);
    printf("%d rounds of ~%ld KiB, 300 ms apart (build and free: at most %llu ms): %llu bursts "
           "seen, %ld KiB purged\n", ROUNDS, round_kib, (unsigned long long)(busy_ns / 1000000),
           (unsigned long long)st.purge_bursts, purged_kib);
    if (st.purge_bursts == 0)
        TU_FAIL("no end of a round was seen as the end of a burst\n");
    /* The scenario's premise is a program that takes its freed pages
     * again within decay_ms; on a machine so loaded that one round's build
     * and free take longer than that (up to 1,036 ms seen under make -j2
     * check on a slow virtual machine), pages do stay unused for decay_ms
     * and are meant to be purged. */
    if (busy_ns > frg_opt.decay_ms * 1000000ull) {
        printf("a round took longer than decay_ms (%llu ms): the bound does not apply\n",
               (unsigned long long)frg_opt.decay_ms);
        TU_PASS();
    }
    if (purged_kib > 2 * round_kib)
        TU_FAIL("%ld KiB purged, more than two rounds (%ld KiB each)\n", purged_kib, round_kib);
    TU_PASS();
}

static void trim(void) {
    long base = tu_rss_kib();
    size_t n;
    void **objs = build(128 * MIB, &n);
    long peak = tu_rss_kib();
    for (size_t i = 0; i < n; i++)
        frg_free(objs[i]);
    frg_free(objs);
    long before = tu_rss_kib();
    int r = frg_malloc_trim(0);
    long after = tu_rss_kib();
    printf("base %ld peak %ld before-trim %ld after-trim %ld KiB, trim returned %d\n", base,
           peak, before, after, r);
    if (r != 1)
        TU_FAIL("malloc_trim returned %d\n", r);
    if (before - base < (peak - base) / 2)
        TU_FAIL("memory came back before the trim although nothing should purge it\n");
    if (after > base + (peak - base) / 50 + 2048)
        TU_FAIL("RSS after trim %ld KiB is not near the baseline %ld KiB\n", after, base);
    if (frg_malloc_trim(0) != 0)
        TU_FAIL("a second trim released memory again\n");
    TU_PASS();
}

static void pingpong(size_t obj, size_t count) {
    void **p = frg_malloc(count * sizeof *p);
    uint64_t before = 0;
    for (int round = 0; round < 400; round++) {
        if (round == 5) /* after warm-up: budget and boost settled */
            before = frg_os_counters.madvise_calls;
        for (size_t i = 0; i < count; i++) {
            p[i] = frg_malloc(obj);
            memset(p[i], round, obj);
        }
        for (size_t i = 0; i < count; i++)
            frg_free(p[i]);
    }
    uint64_t calls = frg_os_counters.madvise_calls - before;
    printf("%zu x %zu B, 395 rounds: %llu madvise calls\n", count, obj,
           (unsigned long long)calls);
    if (calls > 40)
        TU_FAIL("ping-pong made %llu madvise calls\n", (unsigned long long)calls);
    TU_PASS();
}

static void retain(void) {
    enum { N = 100 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = frg_malloc(1 << 20); /* 100 MiB of large objects: ~25 chunks */
        memset(p[i], 3, 1 << 20);
    }
    for (int i = 0; i < N; i++)
        frg_free(p[i]);
    frg_malloc_trim(0);
    struct frg_stats st;
    frg_stats_collect(&st);
    printf("chunks %zu, unmapped %zu\n", st.chunks, st.chunks_unmapped);
    if (st.chunks * (4 << 20) > (16 << 20) + (8 << 20)) /* retain_max 16M + live */
        TU_FAIL("%zu chunks still mapped\n", st.chunks);
    if (st.chunks_unmapped == 0)
        TU_FAIL("no chunk was unmapped\n");
    TU_PASS();
}

static void madv_free(void) {
    size_t n;
    void **objs = build(64 * MIB, &n);
    for (size_t i = 0; i < n; i++)
        frg_free(objs[i]);
    frg_free(objs);
    if (frg_malloc_trim(0) != 1)
        TU_FAIL("trim with MADV_FREE released nothing\n");
    objs = build(64 * MIB, &n); /* reuse of MADV_FREE'd pages */
    for (size_t i = 0; i < n; i++)
        frg_free(objs[i]);
    frg_free(objs);
    TU_PASS();
}

static void fault_madvise(void) {
    /* the option makes the 1st madvise fail; pages stay dirty, not lost */
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = frg_malloc(256 << 10);
        memset(p[i], 1, 256 << 10);
    }
    for (int i = 0; i < 64; i++)
        frg_free(p[i]);
    frg_malloc_trim(0); /* first madvise fails, the rest succeed */
    frg_malloc_trim(0);
    struct frg_stats st;
    frg_stats_collect(&st);
    if (st.dirty != 0)
        TU_FAIL("%zu dirty bytes left after retrying\n", st.dirty);
    if (!frg_pageheap_validate())
        TU_FAIL("page heap inconsistent\n");
    TU_PASS();
}

/* 64 MiB of large objects freed at once: far over the 4 MiB dirty budget. */
static void eager_burst(bool offloaded) {
    enum { N = 256 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = frg_malloc(256 << 10);
        memset(p[i], 1, 256 << 10);
    }
    struct frg_stats st;
    frg_stats_collect(&st);
    uint64_t before = st.purge_offloaded;
    for (int i = 0; i < N; i++)
        frg_free(p[i]);
    /* The budget is dirty_min here: next to nothing stays in use. */
    long waited = 0;
    for (frg_stats_collect(&st); st.dirty > frg_opt.dirty_min && waited < 300; waited += 10) {
        sleep_ms(10);
        frg_stats_collect(&st);
    }
    /* With the offload the request is made at the first free over the
     * budget; frees that outrun the purger past twice the budget purge
     * themselves, so the purger's own purge may come after the dirty pages
     * are down (a sanitizer build wakes it late): give it a second. */
    for (long w = 0; offloaded && st.purge_offloaded == before && w < 1000; w += 10) {
        sleep_ms(10);
        frg_stats_collect(&st);
    }
    printf("dirty %zu KiB after %ld ms, %llu purges offloaded\n", st.dirty >> 10, waited,
           (unsigned long long)(st.purge_offloaded - before));
    if (st.dirty > frg_opt.dirty_min)
        TU_FAIL("dirty pages %zu KiB still over the budget after 300 ms\n", st.dirty >> 10);
    if (offloaded && st.purge_offloaded == before)
        TU_FAIL("no eager purge ran on the purger thread\n");
    if (!offloaded && st.purge_offloaded != before)
        TU_FAIL("purge_offload:false, yet the purger ran eager purges\n");
    TU_PASS();
}

/* 3,000 slabs of the 1792 B class (4 pages, 9 objects): the object at
 * index 4 (bytes 7168-8959: pages 1 and 2) stays live in each, the other
 * eight are freed, so pages 0 and 3 of every slab hold only free objects:
 * 23 MiB of the 47 can go back although no slab is empty. */
#define SP_SIZE 1792
#define SP_SLABS 3000
static bool is_kept(const void *p) {
    const struct frg_span *s = frg_pagemap_lookup(p);
    return (uintptr_t)p - FRG_BASE(s) == 4 * SP_SIZE;
}

static void slab_pages(bool trim) {
    if (frg_classes[frg_size_to_class(SP_SIZE)].slab_pages != 4)
        TU_FAIL("the test assumes 4-page slabs for %d B objects\n", SP_SIZE);
    size_t n = (size_t)SP_SLABS * 9;
    char **p = frg_malloc(n * sizeof *p);
    long base = tu_rss_kib();
    for (size_t i = 0; i < n; i++) {
        p[i] = frg_malloc(SP_SIZE);
        memset(p[i], (int)(i % 251) + 1, SP_SIZE);
    }
    long peak = tu_rss_kib();
    size_t kept = 0;
    char *ghost = NULL; /* a freed object at a slab's start: on a purged page */
    for (size_t i = 0; i < n; i++) {
        if (is_kept(p[i]))
            kept++;
        else {
            const struct frg_span *s = frg_pagemap_lookup(p[i]);
            if (!ghost && (uintptr_t)p[i] == FRG_BASE(s))
                ghost = p[i];
            frg_free(p[i]);
            p[i] = NULL;
        }
    }
    /* the two pages of each kept object, plus the page-map and descriptor
     * pages, 2 MiB of slack and the dirty budget (the pages of slabs
     * that did empty, if any) */
    long limit = base + (long)kept * 8 + 2048 + (long)(frg_opt.dirty_min >> 10);
    long waited = 0, rss;
    if (trim) {
        frg_malloc_trim(0);
        rss = tu_rss_kib();
    } else {
        rss = wait_rss_below(limit, 3000, &waited); /* no allocator call */
    }
    struct frg_stats st;
    frg_stats_collect(&st);
    /* idle: the last pages go once the CPU caches have drained too */
    for (long w = 0; !trim && st.slab_purged < kept * 2 * FRG_PAGE && w < 3000; w += 50) {
        sleep_ms(50);
        frg_stats_collect(&st);
    }
    printf("base %ld peak %ld KiB, %zu slabs kept, RSS %ld KiB after %ld ms (limit %ld), "
           "slab_purged %zu KiB, fragmented %zu KiB\n", base, peak, kept, rss, waited, limit,
           st.slab_purged >> 10, st.fragmented >> 10);
    if (kept < SP_SLABS * 9 / 10)
        TU_FAIL("only %zu slabs had an object at index 4\n", kept);
    if (rss > limit)
        TU_FAIL("RSS %ld KiB did not fall below %ld KiB\n", rss, limit);
    if (st.slab_purged < kept * 2 * FRG_PAGE)
        TU_FAIL("slab_purged %zu < 2 pages per kept slab\n", st.slab_purged);
    for (size_t i = 0; i < n; i++)
        if (p[i])
            for (size_t b = 0; b < SP_SIZE; b++)
                if ((unsigned char)p[i][b] != i % 251 + 1)
                    TU_FAIL("kept object %zu lost byte %zu\n", i, b);
    if (trim) { /* misuse:report: the free key went with the page; still caught */
        uint64_t reports = st.misuse_reports;
        frg_free(ghost);
        void *r = frg_realloc(ghost, 100);
        size_t u = frg_malloc_usable_size(ghost);
        frg_stats_collect(&st);
        if (st.misuse_reports != reports + 3 || r || u)
            TU_FAIL("misuse of a freed object on a purged page: %llu reports, realloc %p, "
                    "usable %zu\n", (unsigned long long)(st.misuse_reports - reports), r, u);
        /* One allocation takes object 0 of a slab (the lowest free) and
         * brings its page back into use: a double free of any other freed
         * object of that slab, on that page or not, is still reported. */
        char *q = frg_malloc(SP_SIZE);
        const struct frg_span *qs = frg_pagemap_lookup(q);
        uintptr_t qbase = FRG_BASE(qs);
        reports = st.misuse_reports;
        unsigned tried = 0;
        for (unsigned k = 0; k < 9; k++) {
            char *f = (char *)qbase + k * SP_SIZE;
            if (f != q && !is_kept(f)) {
                frg_free(f);
                tried++;
            }
        }
        frg_stats_collect(&st);
        if (st.misuse_reports != reports + tried)
            TU_FAIL("double frees in a slab whose purged page came back: %llu of %u reported\n",
                    (unsigned long long)(st.misuse_reports - reports), tried);
        frg_free(q);
    }
    /* allocate the freed places again: their pages come back into use */
    for (size_t i = 0; i < n; i++)
        if (!p[i]) {
            p[i] = frg_malloc(SP_SIZE);
            memset(p[i], 7, SP_SIZE);
        }
    frg_percpu_drain_all(false); /* so the cached objects' slabs count too */
    frg_stats_collect(&st);
    printf("after reallocating: slab_purged %zu KiB, RSS %ld KiB\n", st.slab_purged >> 10,
           tu_rss_kib());
    if (st.slab_purged > (size_t)(frg_opt.cache_max + frg_opt.transfer_max))
        TU_FAIL("slab_purged %zu KiB after the pages were taken again\n", st.slab_purged >> 10);
    if (!frg_central_validate() || !frg_pageheap_validate())
        TU_FAIL("heap inconsistent\n");
    for (size_t i = 0; i < n; i++)
        frg_free(p[i]);
    frg_free(p);
    frg_malloc_trim(0);
    frg_stats_collect(&st);
    if (st.slab_purged != 0 || !frg_central_validate() || !frg_pageheap_validate())
        TU_FAIL("after freeing everything: slab_purged %zu, or heap inconsistent\n",
                st.slab_purged);
    TU_PASS();
}

static void s_slab_trim(void) { slab_pages(true); }
static void s_slab_idle(void) { slab_pages(false); }
/* Only a large block is freed, then nothing happens: the purger, woken by
 * the cache itself, gives the cached run back within a few ticks. */
static void large_cache_idle(void) {
    char *p = frg_malloc(512 * 1024);
    memset(p, 1, 512 * 1024);
    frg_free(p);
    struct frg_stats st;
    frg_stats_collect(&st);
    if (st.large_cached_bytes != 512 * 1024)
        TU_FAIL("large cache holds %zu bytes, expected 512 KiB\n", st.large_cached_bytes);
    long waited = 0;
    for (; st.large_cached_bytes && waited < 3000; waited += 50) {
        sleep_ms(50);
        frg_stats_collect(&st);
    }
    printf("cached run given back after %ld ms\n", waited);
    if (st.large_cached_bytes)
        TU_FAIL("the cached run is still there after 3 s\n");
    TU_PASS();
}

static void s_offload(void) { eager_burst(true); }
static void s_no_offload(void) { eager_burst(false); }
/* CPUs 0 and 1 both allowed to this process? */
static bool have_cpus_0_1(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(0, &set) && CPU_ISSET(1, &set);
}

/* The run caches' bounds: a CPU's cache keeps at most 8 runs of a class
 * and large_cache_max bytes in all, its shard of large.c's cache at most
 * 8 runs and large_cache_max bytes (oldest out first), and neither keeps
 * any when the dirty budget has no room.  The thread stays on one CPU so
 * that every free lands in one cache and one shard. */
static void large_cache_bounds(void) {
    if (!tu_pin(0)) {
        printf("CPU 0 is not ours (cpuset): skipped\n");
        TU_PASS();
    }
    void *p[20];
    struct frg_stats st;
    size_t small = 104 << 10, big = 320 << 10; /* classes of 26 and 80 pages */
    /* without CPU caches only the shard keeps runs */
    bool caches = frg_percpu_ncpus() > 0;
    for (int i = 0; i < 20; i++)
        p[i] = frg_malloc(small);
    for (int i = 0; i < 20; i++)
        frg_free(p[i]);
    frg_stats_collect(&st);
    bool budget = frg_opt.dirty_min > 0;
    size_t want = budget ? 8 + (caches ? 8 : 0) : 0;
    printf("%zu B runs: %zu cached, %zu bytes\n", small, st.large_cached_count, st.large_cached_bytes);
    if (st.large_cached_count != want || st.large_cached_bytes != want * small)
        TU_FAIL("cached %zu runs, %zu bytes; expected %zu runs\n", st.large_cached_count,
                st.large_cached_bytes, want);
    frg_malloc_trim(0); /* empties the cache, and drops the budget's boost */
    for (int i = 0; i < 5; i++)
        p[i] = frg_malloc(big);
    for (int i = 0; i < 5; i++)
        frg_free(p[i]);
    frg_stats_collect(&st);
    printf("%zu B runs: %zu cached, %zu bytes\n", big, st.large_cached_count, st.large_cached_bytes);
    /* (without a budget of its own the heap still gains a boost here: the
     * pages malloc_trim purged came straight back) 3 runs of 320 KiB fit
     * in 1 MiB: 3 in the cache, 2 in the shard */
    size_t levels = caches ? 2 : 1;
    if (st.large_cached_bytes > levels * frg_opt.large_cache_max ||
        (budget && st.large_cached_count != (caches ? 5 : 3)))
        TU_FAIL("cached %zu runs, %zu bytes (bound %zu a level)\n", st.large_cached_count,
                st.large_cached_bytes, frg_opt.large_cache_max);
    /* taking every run back empties the shard; at the purger's next look
     * (called here: background:false) the budget counts nothing for it,
     * and a purge gives the cache's capacity up */
    for (size_t i = 0; i < st.large_cached_count; i++)
        p[i] = frg_malloc(big);
    frg_large_cache_release(false);
    frg_percpu_drain_all(true);
    if (frg_large_cached_bytes() != 0)
        TU_FAIL("emptied caches still count %zu bytes against the budget\n",
                frg_large_cached_bytes());
    if (!frg_pageheap_validate())
        TU_FAIL("page heap inconsistent\n");
    TU_PASS();
}

/* A block freed on one CPU that its cache has no room for is cached in
 * that CPU's shard; an allocation on another CPU takes it from there (a
 * producer and a consumer).  A cache holds two runs of 512 KiB
 * (large_cache_max set to 1 MiB).  The frees run on a thread of their own, so
 * that in lease mode too they fill another cache than the allocation's. */
struct runs_to_free {
    void **runs;
    int n;
};
static void *free_runs_pinned_to_1(void *arg) {
    struct runs_to_free *r = arg;
    tu_pin(1);
    for (int i = 0; i < r->n; i++)
        frg_free(r->runs[i]);
    return NULL;
}

/* Free runs[0..n) on a thread of its own that runs on CPU 1; false if the
 * thread could not be started. */
static bool free_on_cpu_1(void **runs, int n) {
    struct runs_to_free r = {runs, n};
    pthread_t consumer;
    return pthread_create(&consumer, NULL, free_runs_pinned_to_1, &r) == 0 &&
           pthread_join(consumer, NULL) == 0;
}

static void large_cache_steal(void) {
    if (frg_percpu_ncpus() < 2 || !have_cpus_0_1()) {
        printf("CPUs 0 and 1 are not both ours: skipped\n");
        TU_PASS();
    }
    struct frg_stats st;
    void *steal_runs[3];
    tu_pin(0);
    for (int i = 0; i < 3; i++)
        steal_runs[i] = frg_malloc(512 << 10);
    /* two into CPU 1's cache, the last into its shard */
    if (!free_on_cpu_1(steal_runs, 3))
        TU_FAIL("pthread_create failed\n");
    char *p = steal_runs[2];
    frg_stats_collect(&st);
    uint64_t hits = st.large_cache_hits;
    char *q = frg_malloc(512 << 10);
    frg_stats_collect(&st);
    printf("freed on CPU 1 %p, allocated on CPU 0 %p, cache hits +%llu\n", (void *)p, (void *)q,
           (unsigned long long)(st.large_cache_hits - hits));
    if (q != p || st.large_cache_hits != hits + 1)
        TU_FAIL("the run cached on CPU 1 was not reused on CPU 0\n");
    frg_free(q);
    TU_PASS();
}

/* A class that holds all the runs it may (8) gives the shard half of them
 * with the run that did not fit: 9 frees leave 5 runs in the CPU's cache
 * and 4 in its shard, so 9 allocations find the first 5 in the cache (no
 * shard hit: the newest first), and the 6th takes the 4 back from the
 * shard in one call (4 shard hits at once; the last 3 then hit the cache).
 * Giving one run at a time would leave 8 and 1; taking one at a time
 * would count the shard hits 1, 2, 3, 4. */
static void large_cache_half(void) {
    if (frg_percpu_ncpus() == 0 || !tu_pin(0) || (!frg_opt.dirty_min && !frg_opt.dirty_ratio)) {
        printf("no CPU caches, no dirty budget, or CPU 0 is not ours: skipped\n");
        TU_PASS();
    }
    enum { RUNS = 9 };
    size_t size = 104 << 10; /* 26 pages: 8 slots within 1 MiB */
    void *p[RUNS];
    struct frg_stats st;
    for (int i = 0; i < RUNS; i++)
        p[i] = frg_malloc(size);
    for (int i = 0; i < RUNS; i++)
        frg_free(p[i]);
    frg_stats_collect(&st);
    uint64_t hits = st.large_cache_hits;
    size_t cached = st.large_cached_count;
    uint64_t shard_hits[RUNS];
    for (int i = 0; i < RUNS; i++) {
        p[i] = frg_malloc(size);
        frg_stats_collect(&st);
        shard_hits[i] = st.large_cache_hits - hits;
    }
    printf("%zu runs cached; shard hits after each of %d allocations:", cached, RUNS);
    for (int i = 0; i < RUNS; i++)
        printf(" %llu", (unsigned long long)shard_hits[i]);
    printf("\n");
    if (cached != RUNS)
        TU_FAIL("%zu runs cached, expected %d\n", cached, RUNS);
    for (int i = 0; i < RUNS; i++)
        if (shard_hits[i] != (i < 5 ? 0u : 4u))
            TU_FAIL("allocation %d: %llu shard hits, expected %d\n", i,
                    (unsigned long long)shard_hits[i], i < 5 ? 0 : 4);
    for (int i = 0; i < RUNS; i++)
        frg_free(p[i]);
    TU_PASS();
}

/* A steal takes one run from another CPU's shard and moves up to 3 more
 * of that size to the thief's shard.  9 frees on CPU 1 leave 5 runs in
 * its cache and 4 in its shard (large_cache_half); a malloc on CPU 0 then
 * takes one of the 4 and moves the other 3 to CPU 0's shard, where the
 * next 3 mallocs there find them.  Without the move they would stay on
 * CPU 1's shard: 0 and 3. */

static void large_cache_steal_more(void) {
    if (frg_percpu_ncpus() < 2 || !have_cpus_0_1() || (!frg_opt.dirty_min && !frg_opt.dirty_ratio)) {
        printf("CPUs 0 and 1 are not both ours, or no dirty budget: skipped\n");
        TU_PASS();
    }
    size_t size = 104 << 10; /* 26 pages: 8 slots within 1 MiB */
    tu_pin(0);
    void *more_runs[9];
    for (int i = 0; i < 9; i++)
        more_runs[i] = frg_malloc(size);
    if (!free_on_cpu_1(more_runs, 9))
        TU_FAIL("pthread_create failed\n");
    unsigned before0 = frg_large_shard_runs(0), before1 = frg_large_shard_runs(1);
    void *p = frg_malloc(size);
    unsigned after0 = frg_large_shard_runs(0), after1 = frg_large_shard_runs(1);
    struct frg_stats st;
    frg_stats_collect(&st);
    uint64_t hits = st.large_cache_hits;
    void *q[3];
    for (int i = 0; i < 3; i++)
        q[i] = frg_malloc(size);
    frg_stats_collect(&st);
    printf("shard runs before the steal: CPU 0 %u, CPU 1 %u; after: %u, %u; "
           "next 3 mallocs: %llu shard hits, CPU 0's shard then %u\n",
           before0, before1, after0, after1, (unsigned long long)(st.large_cache_hits - hits),
           frg_large_shard_runs(0));
    if (before0 != 0 || before1 != 4)
        TU_FAIL("CPU 1's frees left %u and %u runs in the shards, expected 0 and 4\n", before0,
                before1);
    if (after0 != 3 || after1 != 0)
        TU_FAIL("after the steal the shards hold %u and %u runs, expected 3 and 0\n", after0,
                after1);
    if (st.large_cache_hits - hits != 3 || frg_large_shard_runs(0) != 0)
        TU_FAIL("the moved runs were not found on CPU 0's shard\n");
    frg_free(p);
    for (int i = 0; i < 3; i++)
        frg_free(q[i]);
    TU_PASS();
}

/* A one-object class: 32 KiB objects, 8-page slabs. */
#define TB_SIZE (32 << 10)
#define TB_COUNT 1024 /* 32 MiB */

/* Without CPU caches (percpu:off) frees go straight to the central lists. */
static void tb_skip_without_caches(void) {
    if (frg_fastpath.cache_mode == FRG_CACHE_OFF) {
        printf("percpu:off has no transfer cache: skipped\n");
        TU_PASS();
    }
}

static void **tb_fill(size_t n) {
    tb_skip_without_caches();
    if (frg_classes[frg_size_to_class(TB_SIZE)].nobjs != 1)
        TU_FAIL("the test assumes one-object slabs for %d B objects\n", TB_SIZE);
    void **p = frg_malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        p[i] = frg_malloc(TB_SIZE);
        memset(p[i], 7, TB_SIZE);
    }
    return p;
}

static void transfer_budget(void) {
    long base = tu_rss_kib();
    void **p = tb_fill(TB_COUNT);
    for (size_t i = 0; i < TB_COUNT; i++)
        frg_free(p[i]);
    size_t held = frg_transfer_budget_bytes(), all = frg_transfer_bytes();
    int64_t room = frg_purge_keep_room();
    long rss = tu_rss_kib();
    printf("freed %d x %d B: %zu bytes in the transfer cache, %zu of them on the budget "
           "(dirty_min %zu), room left %lld; RSS +%ld KiB\n", TB_COUNT, TB_SIZE, all, held,
           frg_opt.dirty_min, (long long)room, rss - base);
    bool budget = frg_opt.dirty_min > 0;
    if (budget ? held == 0 : held != 0)
        TU_FAIL("%zu bytes held on a dirty budget of %zu\n", held, frg_opt.dirty_min);
    /* one thread: each admission had room for what it took (the room
     * itself may go below zero afterwards, as the heap's dirty pages grow) */
    if (held > frg_opt.dirty_min)
        TU_FAIL("held %zu bytes on a budget of %zu (room %lld)\n", held, frg_opt.dirty_min,
                (long long)room);
    /* kept resident: the budget, transfer_max, what this class may keep
     * in the CPU caches (1/32 of cache_max each), 2 MiB of metadata and
     * slack; the rest of the 32 MiB went back at once */
    long bound = (long)((frg_opt.dirty_min + frg_opt.transfer_max +
                         frg_opt.cache_max / 32 * frg_percpu_ncpus()) >> 10) + 2048;
    if (rss - base > bound)
        TU_FAIL("RSS grew by %ld KiB, bound %ld\n", rss - base, bound);
    /* the held objects are handed out again */
    size_t objs = frg_transfer_objs(frg_size_to_class(TB_SIZE));
    for (size_t i = 0; i < TB_COUNT; i++)
        p[i] = frg_malloc(TB_SIZE);
    if (frg_transfer_bytes() != 0 || frg_transfer_budget_bytes() != 0)
        TU_FAIL("of %zu objects held, %zu still held after as many mallocs\n", objs,
                frg_transfer_objs(frg_size_to_class(TB_SIZE)));
    for (size_t i = 0; i < TB_COUNT; i++)
        frg_free(p[i]);
    frg_malloc_trim(0);
    if (frg_transfer_budget_bytes() != 0)
        TU_FAIL("malloc_trim left %zu bytes on the budget\n", frg_transfer_budget_bytes());
    frg_free(p);
    TU_PASS();
}

/* dirty_min:0, dirty_ratio:25: the budget follows the pages in use.  A
 * ballast of large blocks makes room; freed 32 KiB objects are held on
 * it; freeing the ballast shrinks the budget below what they take, and
 * the class's next flush gives them back. */
static void transfer_budget_shrink(void) {
    enum { BALLAST = 64 };
    tb_skip_without_caches();
    void *ballast[BALLAST];
    for (int i = 0; i < BALLAST; i++) {
        ballast[i] = frg_malloc(1 << 20);
        memset(ballast[i], 3, 1 << 20);
    }
    void **p = tb_fill(TB_COUNT);
    for (size_t i = 64; i < TB_COUNT; i++) /* the first 64 stay live */
        frg_free(p[i]);
    size_t held = frg_transfer_budget_bytes();
    for (int i = 0; i < BALLAST; i++)
        frg_free(ballast[i]);
    int64_t room = frg_purge_keep_room();
    for (size_t i = 0; i < 64; i++)
        frg_free(p[i]);
    size_t after = frg_transfer_budget_bytes();
    printf("held on the budget: %zu bytes; ballast freed: room %lld; after 64 more frees: "
           "%zu bytes\n", held, (long long)room, after);
    if (held == 0)
        TU_FAIL("nothing was held on the ballast's budget\n");
    if (room >= 0)
        TU_FAIL("freeing the ballast left room %lld: the test proves nothing\n", (long long)room);
    if (after >= held)
        TU_FAIL("the overrun budget still holds %zu of %zu bytes\n", after, held);
    frg_free(p);
    TU_PASS();
}

static void transfer_decay_dated(void) {
    tb_skip_without_caches();
    enum { N = 64 };
    void **p = tb_fill(N);
    unsigned cls = frg_size_to_class(TB_SIZE);
    for (size_t i = 0; i < N; i++)
        frg_free(p[i]);
    uint64_t decay = frg_opt.decay_ms * 1000000ull, tick = decay / 4;
    uint64_t t0 = frg_os_now_ns() + 1000000000ull;
    void *busy[3];
    /* each pass follows an allocation, so no CPU cache looks idle and the
     * process is not taken for idle (which would purge everything) */
    busy[0] = frg_malloc(64);
    frg_purge_decay_pass(t0); /* marks what the class holds */
    busy[1] = frg_malloc(64);
    frg_purge_decay_pass(t0 + tick); /* untouched for a tick: to the slabs, stashed */
    size_t stashed = __atomic_load_n(&frg_central[cls].nstash, __ATOMIC_RELAXED);
    busy[2] = frg_malloc(64);
    frg_purge_decay_pass(t0 + decay + tick / 2);
    size_t left = __atomic_load_n(&frg_central[cls].nstash, __ATOMIC_RELAXED);
    printf("%d objects of %d B untouched since t0: %zu slabs stashed at t0 + tick, %zu left "
           "at t0 + decay_ms + tick/2 (transfer cache %zu objects)\n", N, TB_SIZE, stashed,
           left, frg_transfer_objs(cls));
    if (stashed == 0)
        TU_FAIL("the transfer cache's untouched objects did not reach the stash\n");
    if (left != 0)
        TU_FAIL("%zu stashed slabs outlived decay_ms after their objects' last use\n", left);
    for (int i = 0; i < 3; i++)
        frg_free(busy[i]);
    frg_free(p);
    TU_PASS();
}

static void s_idle(void) { idle_return(0); }
static void s_idle_live(void) { idle_return(8 * MIB); }
static void s_pp_large(void) { pingpong(256 << 10, 128); }  /* 32 MiB */
static void s_pp_small(void) { pingpong(200, 100000); }     /* 20 MiB */
static const struct tu_scenario scenarios[] = {
    {"idle_return", "", s_idle},
    {"idle_return_live", "", s_idle_live},
    {"burst_end", "", burst_end},
    {"burst_rounds", "", burst_rounds},
    {"trim", "background:false,dirty_min:1G", trim},
    /* the purger is off: its time-bounded decay passes are not the point */
    {"pingpong_large", "background:false", s_pp_large},
    {"pingpong_small", "background:false", s_pp_small},
    {"retain", "retain_max:16M", retain},
    {"madv_free", "purge:free", madv_free},
    {"fault_madvise", "fault_madvise:1,background:false", fault_madvise},
    {"offload", "purge_offload:true", s_offload},
    {"no_offload", "", s_no_offload},
    {"slab_pages_trim", "background:false,misuse:report", s_slab_trim},
    {"slab_pages_idle", "", s_slab_idle},
    {"large_cache_idle", "", large_cache_idle},
    {"large_cache_bounds", "background:false,large_cache_max:1M", large_cache_bounds},
    {"large_cache_no_budget", "background:false,dirty_min:0,dirty_ratio:0,large_cache_max:1M",
     large_cache_bounds},
    {"large_cache_steal", "background:false,large_cache_max:1M", large_cache_steal},
    {"large_cache_half", "background:false,large_cache_max:1M", large_cache_half},
    {"large_cache_steal_more", "background:false,large_cache_max:1M", large_cache_steal_more},
    {"transfer_budget", "background:false,dirty_min:8M,dirty_ratio:0", transfer_budget},
    {"transfer_no_budget", "background:false,dirty_min:0,dirty_ratio:0", transfer_budget},
    {"transfer_budget_shrink", "background:false,dirty_min:0,dirty_ratio:25", transfer_budget_shrink},
    {"transfer_decay_dated", "background:false,decay_ms:1000,dirty_min:64M,dirty_ratio:0",
     transfer_decay_dated},
};

TU_SCENARIO_MAIN("purge", scenarios)
