/*
 * test_mallctl.c - frg_mallctl and friends: every documented name reads
 * with its documented type and size; stats move by the right amounts;
 * purging lowers resident memory; errors follow jemalloc (ENOENT, EINVAL,
 * EPERM); name-to-mib translation; mallinfo2 agrees with mallctl.
 */
#include "testutil.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>

static uint64_t refresh(void) {
    uint64_t e = 1;
    size_t sz = sizeof e;
    CU_ASSERT_EQUAL(frg_mallctl("epoch", &e, &sz, &e, sz), 0);
    return e;
}

static size_t get_size(const char *name) {
    size_t v = 0, sz = sizeof v;
    CU_ASSERT_EQUAL(frg_mallctl(name, &v, &sz, NULL, 0), 0);
    return v;
}

/* Read every name in docs/mallctl.md with the size its type column says. */
static void test_every_documented_name(void) {
    const char *dir = getenv("srcdir");
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/docs/mallctl.md", dir ? dir : ".");
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int names = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        char name[256], type[64];
        if (sscanf(line, "| `%255[^`]` | %63[^|]|", name, type) != 2)
            continue;

        for (char *p; (p = strstr(name, "<i>"));) { /* index 0 always exists */
            p[0] = '0';
            memmove(p + 1, p + 3, strlen(p + 3) + 1);
        }
        size_t want = !strncmp(type, "bool", 4) ? sizeof(bool)
                    : !strncmp(type, "size_t", 6) ? sizeof(size_t)
                    : !strncmp(type, "uint64_t", 8) ? sizeof(uint64_t)
                    : !strncmp(type, "unsigned", 8) ? sizeof(unsigned)
                    : !strncmp(type, "uint32_t", 8) ? sizeof(uint32_t)
                    : !strncmp(type, "const char", 10) ? sizeof(char *) : 0;
        unsigned ncpus = 0;
        size_t nsz = sizeof ncpus;
        frg_mallctl("stats.percpu.ncpus", &ncpus, &nsz, NULL, 0);
        if (strstr(name, "percpu.cpu.") && ncpus == 0)
            continue; /* percpu:off has no per-CPU caches to index */
        int r;
        if (want == 0) { /* an action */
            r = frg_mallctl(name, NULL, NULL, NULL, 0);
        } else {
            unsigned char buf[16];
            size_t sz = want;
            r = frg_mallctl(name, buf, &sz, NULL, 0);
            if (!r && sz != want)
                r = -1;
            if (!r && want == sizeof(char *) && type[0] == 'c' && !*(const char **)buf)
                r = -2; /* a string must not be NULL */
        }
        if (r) {
            fprintf(stderr, "\n    %s (%s): %d", name, type, r);
            bad++;
        }
        names++;
    }
    fclose(f);
    CU_ASSERT(names > 60);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_allocated_moves_exactly(void) {
    refresh();
    size_t before = get_size("stats.allocated");
    enum { N = 30 };
    void *large[N], *small[N];
    for (int i = 0; i < N; i++) {
        large[i] = frg_malloc(100 * 1024); /* 25 pages: a run of its class's 26 */
        small[i] = frg_malloc(100);        /* class 112 */
    }
    refresh();
    CU_ASSERT_EQUAL(get_size("stats.allocated") - before, (size_t)N * (26 * 4096 + 112));
    CU_ASSERT_EQUAL(get_size("stats.large.count") >= N, 1);
    for (int i = 0; i < N; i++) {
        frg_free(large[i]);
        frg_free(small[i]);
    }
    refresh();
    CU_ASSERT_EQUAL(get_size("stats.allocated"), before);
    /* the bins see the small ones as cached, not lost */
    size_t cached = 0, sz = sizeof cached;
    CU_ASSERT_EQUAL(frg_mallctl("stats.bins.6.cached", &cached, &sz, NULL, 0), 0);
}

static void test_purge_lowers_resident(void) {
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = frg_malloc(200 * 1024);
        memset(p[i], 1, 200 * 1024);
    }
    for (int i = 0; i < 64; i++)
        frg_free(p[i]);
    for (int i = 0; i < 2000; i++)
        frg_free(frg_malloc(64)); /* something in a CPU cache too */
    refresh();
    size_t resident = get_size("stats.resident"), dirty = get_size("stats.dirty");
    CU_ASSERT(dirty > 0);
    CU_ASSERT_EQUAL(frg_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0);
    refresh();
    CU_ASSERT(get_size("stats.resident") < resident);
    CU_ASSERT_EQUAL(get_size("stats.dirty"), 0);
    CU_ASSERT_EQUAL(get_size("stats.percpu.cached"), 0);
    CU_ASSERT_EQUAL(frg_mallctl("arena.0.purge", NULL, NULL, NULL, 0), 0);
    CU_ASSERT_EQUAL(frg_mallctl("arena.1.purge", NULL, NULL, NULL, 0), ENOENT);
    CU_ASSERT_EQUAL(frg_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
}

/* A freed large run is kept in the CPU's cache, handed out again to a
 * request of its class (zeroed for calloc), not to another class, counted
 * as cached and not as allocated, and given back by a purge.  The thread
 * stays on one CPU meanwhile: moved between the free and the malloc, it
 * would find the other CPU's cache (seen under make -j2 check's load). */
static void test_large_cache(void) {
    enum { RUN = 128 * 1024 };
    cpu_set_t was;
    int cpu = sched_getcpu();
    bool pinned = cpu >= 0 && sched_getaffinity(0, sizeof was, &was) == 0 && tu_pin(cpu);
    CU_ASSERT_EQUAL(frg_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0);
    refresh();
    CU_ASSERT_EQUAL(get_size("stats.large.cached"), 0);
    size_t allocated = get_size("stats.allocated");
    char *p = frg_malloc(RUN);
    memset(p, 7, RUN);
    refresh();
    CU_ASSERT_EQUAL(get_size("stats.allocated") - allocated, RUN);
    frg_free(p);
    refresh();
    CU_ASSERT_EQUAL(get_size("stats.allocated"), allocated);
    CU_ASSERT_EQUAL(get_size("stats.large.cached"), RUN);
    CU_ASSERT_EQUAL(get_size("stats.large.cached_count"), 1);
    CU_ASSERT(get_size("stats.cached") >= RUN);
    char *q = frg_malloc(RUN - 4 * 1024 + 1); /* 32 pages, its class */
    CU_ASSERT_PTR_EQUAL(q, p);
    CU_ASSERT_EQUAL(frg_malloc_usable_size(q), RUN);
    frg_free(q);
    char *z = frg_calloc(1, RUN);
    CU_ASSERT_PTR_EQUAL(z, p);
    size_t nonzero = 0;
    for (size_t i = 0; z && i < RUN; i++)
        nonzero += z[i] != 0;
    CU_ASSERT_EQUAL(nonzero, 0);
    frg_free(z);
    char *smaller = frg_malloc(RUN / 2 + 4096); /* 17 pages: another class, and not within 1/8 */
    CU_ASSERT_PTR_NOT_EQUAL(smaller, p);
    frg_free(smaller);
    CU_ASSERT(get_size("stats.large.cached") > 0);
    CU_ASSERT_EQUAL(frg_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0);
    refresh();
    CU_ASSERT_EQUAL(get_size("stats.large.cached"), 0);
    CU_ASSERT_EQUAL(get_size("stats.large.cached_count"), 0);
    if (pinned)
        sched_setaffinity(0, sizeof was, &was);
}

static void test_errors(void) {
    size_t v, sz = sizeof v;
    CU_ASSERT_EQUAL(frg_mallctl("stats.nosuch", &v, &sz, NULL, 0), ENOENT);
    CU_ASSERT_EQUAL(frg_mallctl("stats", &v, &sz, NULL, 0), ENOENT); /* not a leaf */
    CU_ASSERT_EQUAL(frg_mallctl("stats.allocated.x", &v, &sz, NULL, 0), ENOENT);
    CU_ASSERT_EQUAL(frg_mallctl("", &v, &sz, NULL, 0), ENOENT);
    CU_ASSERT_EQUAL(frg_mallctl(NULL, &v, &sz, NULL, 0), ENOENT);
    CU_ASSERT_EQUAL(frg_mallctl("stats.bins.80.size", &v, &sz, NULL, 0), ENOENT);
    CU_ASSERT_EQUAL(frg_mallctl("stats.bins.x.size", &v, &sz, NULL, 0), ENOENT);
    uint32_t small;
    size_t ssz = sizeof small;
    CU_ASSERT_EQUAL(frg_mallctl("stats.allocated", &small, &ssz, NULL, 0), EINVAL);
    CU_ASSERT_EQUAL(ssz, sizeof small); /* what fit was copied */
    CU_ASSERT_EQUAL(frg_mallctl("stats.allocated", NULL, NULL, &v, sizeof v), EPERM);
    CU_ASSERT_EQUAL(frg_mallctl("opt.dirty_min", NULL, NULL, &v, sizeof v), EPERM);
    uint32_t e32 = 1;
    CU_ASSERT_EQUAL(frg_mallctl("epoch", NULL, NULL, &e32, sizeof e32), EINVAL);
    CU_ASSERT_EQUAL(frg_mallctl("arena.0.purge", &v, &sz, NULL, 0), EPERM);
    const char *ver;
    size_t vsz = sizeof ver;
    CU_ASSERT_EQUAL(frg_mallctl("version", &ver, &vsz, NULL, 0), 0);
    CU_ASSERT_STRING_EQUAL(ver, FRGMALLOC_VERSION);
}

static void test_mib(void) {
    size_t mib[8], len = 8;
    CU_ASSERT_EQUAL(frg_mallctlnametomib("stats.bins.3.size", mib, &len), 0);
    CU_ASSERT_EQUAL(len, 4);
    unsigned nbins;
    size_t nsz = sizeof nbins;
    CU_ASSERT_EQUAL(frg_mallctl("arenas.nbins", &nbins, &nsz, NULL, 0), 0);
    size_t total = 0;
    for (size_t i = 0; i < nbins; i++) {
        mib[2] = i;
        size_t v, sz = sizeof v;
        CU_ASSERT_EQUAL(frg_mallctlbymib(mib, len, &v, &sz, NULL, 0), 0);
        total += v;
    }
    CU_ASSERT(total > 65536);
    mib[2] = nbins;
    size_t v, sz = sizeof v;
    CU_ASSERT_EQUAL(frg_mallctlbymib(mib, len, &v, &sz, NULL, 0), ENOENT);
    len = 2;
    CU_ASSERT_EQUAL(frg_mallctlnametomib("stats.bins.3.size", mib, &len), ENOENT);
    len = 8;
    CU_ASSERT_EQUAL(frg_mallctlnametomib("stats.nosuch", mib, &len), ENOENT);
}

static void test_views_agree(void) {
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = frg_malloc(100 * 1024);
    refresh();
    struct mallinfo2 mi = frg_mallinfo2();
    size_t small = get_size("stats.small_allocated"), large = get_size("stats.large.allocated");
    CU_ASSERT_EQUAL(mi.uordblks, small + large);
    CU_ASSERT_EQUAL(mi.keepcost, get_size("stats.dirty"));
    CU_ASSERT_EQUAL(mi.hblkhd, get_size("stats.huge.allocated"));
    for (int i = 0; i < 100; i++)
        frg_free(p[i]);
}

static void collect(void *opaque, const char *text) {
    size_t *len = opaque;
    *len += strlen(text);
}

static void test_stats_print(void) {
    size_t len = 0;
    frg_malloc_stats_print(collect, &len, "");
    CU_ASSERT(len > 500);
    size_t jlen = 0;
    frg_malloc_stats_print(collect, &jlen, "J");
    CU_ASSERT(jlen > 1000);
    size_t blen = 0;
    frg_malloc_stats_print(collect, &blen, "Jb");
    CU_ASSERT(blen < jlen);
}

static void register_tests(void) {
    TU_SUITE(mallctl);
    TU_TEST(mallctl, test_every_documented_name);
    TU_TEST(mallctl, test_allocated_moves_exactly);
    TU_TEST(mallctl, test_purge_lowers_resident);
    TU_TEST(mallctl, test_large_cache);
    TU_TEST(mallctl, test_errors);
    TU_TEST(mallctl, test_mib);
    TU_TEST(mallctl, test_views_agree);
    TU_TEST(mallctl, test_stats_print);
}

TU_MAIN
