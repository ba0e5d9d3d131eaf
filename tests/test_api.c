/*
 * test_api.c - the glibc allocation API's documented semantics, through
 * the frg_* entry points: zero sizes, alignment, calloc, realloc edge
 * cases, overflow and impossible sizes, errno, usable size, large and
 * huge objects (contents kept through malloc, calloc, realloc and reuse),
 * mallinfo2 and malloc_trim.
 */
#include "testutil.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>

#define MIB ((size_t)1 << 20)

static void test_malloc_zero_unique(void) {
    void *a = frg_malloc(0), *b = frg_malloc(0);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    CU_ASSERT(frg_malloc_usable_size(a) >= 1);
    frg_free(a);
    frg_free(b);
}

static void test_alignment_16(void) {
    static const size_t sizes[] = {1, 7, 15, 16, 17, 24, 33, 100, 128, 129, 255, 1000, 1025,
                                   4095, 4097, 20000, 65536, 65537, 300000, 1048576,
                                   1048577, 5000000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *p = frg_malloc(sizes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
        size_t u = frg_malloc_usable_size(p);
        CU_ASSERT(u >= sizes[i]);
        memset(p, 0xab, u); /* all of the usable size is writable */
        frg_free(p);
    }
}

static void test_calloc(void) {
    for (size_t n = 1; n < 3 * MIB; n = n * 3 + 7) {
        /* dirty the memory first so calloc cannot rely on fresh pages */
        unsigned char *d = frg_malloc(n);
        memset(d, 0xff, n);
        frg_free(d);
        unsigned char *p = frg_calloc(1, n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += p[i] != 0;
        CU_ASSERT_EQUAL(bad, 0);
        frg_free(p);
    }
    errno = 0;
    CU_ASSERT_PTR_NULL(frg_calloc(SIZE_MAX / 2, 3));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    errno = 0;
    CU_ASSERT_PTR_NULL(frg_calloc((size_t)1 << 33, (size_t)1 << 33));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    void *z = frg_calloc(0, 10);
    CU_ASSERT_PTR_NOT_NULL(z);
    frg_free(z);
}

static void test_realloc_edges(void) {
    char *p = frg_realloc(NULL, 40); /* realloc(NULL, n) is malloc */
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    strcpy(p, "frgmalloc");
    p = frg_realloc(p, 5000);
    CU_ASSERT_STRING_EQUAL(p, "frgmalloc");
    errno = 0;
    CU_ASSERT_PTR_NULL(frg_realloc(p, 0)); /* frees and returns NULL */
    CU_ASSERT_EQUAL(errno, 0);

    char *q = frg_malloc(100);
    memset(q, 7, 100);
    errno = 0;
    CU_ASSERT_PTR_NULL(frg_realloc(q, SIZE_MAX - 100));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    CU_ASSERT_EQUAL(q[99], 7); /* the original survives a failed realloc */
    errno = 0;
    CU_ASSERT_PTR_NULL(frg_reallocarray(q, SIZE_MAX / 4, 8));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    CU_ASSERT_EQUAL(q[0], 7);
    q = frg_reallocarray(q, 30, 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT(frg_malloc_usable_size(q) >= 300);
    CU_ASSERT_EQUAL(q[50], 7);
    frg_free(q);
}

static void test_impossible_sizes(void) {
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4095, (size_t)PTRDIFF_MAX + 1,
                                   (size_t)1 << 62};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        errno = 0;
        CU_ASSERT_PTR_NULL(frg_malloc(sizes[i]));
        CU_ASSERT_EQUAL(errno, ENOMEM);
        errno = 0;
        CU_ASSERT_PTR_NULL(frg_aligned_alloc(4096, sizes[i]));
        CU_ASSERT_EQUAL(errno, ENOMEM);
        void *m = (void *)1;
        CU_ASSERT_EQUAL(frg_posix_memalign(&m, 64, sizes[i]), ENOMEM);
        CU_ASSERT_PTR_EQUAL(m, (void *)1);
        errno = 0;
        CU_ASSERT_PTR_NULL(frg_pvalloc(sizes[i]));
        CU_ASSERT_EQUAL(errno, ENOMEM);
    }
    /* a size the kernel refuses: 64 TiB */
    errno = 0;
    CU_ASSERT_PTR_NULL(frg_malloc((size_t)1 << 46));
    CU_ASSERT_EQUAL(errno, ENOMEM);
}

static void test_posix_memalign_args(void) {
    void *m = (void *)1;
    CU_ASSERT_EQUAL(frg_posix_memalign(&m, 3, 10), EINVAL);
    CU_ASSERT_EQUAL(frg_posix_memalign(&m, 4, 10), EINVAL); /* < sizeof(void*) */
    CU_ASSERT_EQUAL(frg_posix_memalign(&m, 24, 10), EINVAL);
    CU_ASSERT_EQUAL(frg_posix_memalign(&m, 0, 10), EINVAL);
    CU_ASSERT_PTR_EQUAL(m, (void *)1); /* untouched on error */
    CU_ASSERT_EQUAL(frg_posix_memalign(&m, 8, 10), 0);
    CU_ASSERT_PTR_NOT_EQUAL(m, (void *)1);
    frg_free(m);
    errno = 0;
    CU_ASSERT_PTR_NULL(frg_aligned_alloc(48, 96));
    CU_ASSERT_EQUAL(errno, EINVAL);
    void *r = frg_memalign(48, 10); /* glibc rounds to the next power of two */
    CU_ASSERT_PTR_NOT_NULL(r);
    CU_ASSERT_EQUAL((uintptr_t)r % 64, 0);
    frg_free(r);
}

static void test_valloc_pvalloc(void) {
    void *v = frg_valloc(100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL((uintptr_t)v % 4096, 0);
    frg_free(v);
    void *p = frg_pvalloc(5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL((uintptr_t)p % 4096, 0);
    CU_ASSERT(frg_malloc_usable_size(p) >= 8192);
    memset(p, 1, 8192);
    frg_free(p);
    void *z = frg_pvalloc(0);
    CU_ASSERT_PTR_NOT_NULL(z);
    CU_ASSERT(frg_malloc_usable_size(z) >= 4096);
    frg_free(z);
}

static void test_free_keeps_errno(void) {
    static const size_t sizes[] = {8, 3000, 70000, 2 * MIB, 40 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = frg_malloc(sizes[i]);
        memset(p, 1, sizes[i]);
        errno = 4242;
        frg_free(p);
        CU_ASSERT_EQUAL(errno, 4242);
    }
    errno = 77;
    frg_free(NULL);
    CU_ASSERT_EQUAL(errno, 77);
    errno = 78;
    CU_ASSERT_EQUAL(frg_malloc_trim(0) >= 0, 1);
    CU_ASSERT_EQUAL(errno, 78);
}

static void test_usable_size(void) {
    CU_ASSERT_EQUAL(frg_malloc_usable_size(NULL), 0);
    for (size_t n = 1; n < 2 * MIB; n += n / 3 + 1) {
        char *p = frg_malloc(n);
        size_t u = frg_malloc_usable_size(p);
        CU_ASSERT(u >= n);
        CU_ASSERT(u <= n + n / 4 + 4096); /* class rounding or page rounding */
        memset(p, 0x5a, u);
        frg_free(p);
    }
}

static void test_huge_objects(void) {
    size_t n = 64 * MIB + 123;
    char *p = frg_malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p[0] = 1;
    p[n - 1] = 2;
    CU_ASSERT(frg_malloc_usable_size(p) >= n);
    frg_free(p);
    /* reuse of a cached huge mapping keeps calloc's promise */
    char *q = frg_malloc(8 * MIB);
    memset(q, 0xee, 8 * MIB);
    frg_free(q);
    unsigned char *z = frg_calloc(1, 6 * MIB);
    size_t bad = 0;
    for (size_t i = 0; i < 6 * MIB; i += 512)
        bad += z[i] != 0;
    CU_ASSERT_EQUAL(bad, 0);
    frg_free(z);
}

/* Large classes under churn: blocks of 64 KiB - 1 MiB, from malloc, calloc
 * and realloc, freed and reused through the CPU caches and large.c.  Each
 * block is filled with a pattern of its own over its whole size and checked
 * before it is freed or resized; calloc's blocks read zero, also when they
 * are freed runs reused (a first version's calloc took a garbage pointer
 * when its CPU's cache was empty: gcc read an asm output on the miss
 * path; rseq.h). */
static void test_large_classes(void) {
    enum { SLOTS = 24, ROUNDS = 3000 };
    unsigned char *p[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned seed = 12345, bad = 0;
    for (int r = 0; r < ROUNDS; r++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)(seed >> 8) % SLOTS;
        if (p[i]) {
            unsigned char mark = (unsigned char)(i + 1);
            bad += p[i][0] != mark || p[i][size[i] / 2] != mark || p[i][size[i] - 1] != mark;
            if (seed & 0x10000) {
                frg_free(p[i]);
                p[i] = NULL;
                continue;
            }
            size_t n = 65537 + (seed >> 4) % (1u << 20);
            unsigned char *q = frg_realloc(p[i], n);
            CU_ASSERT_PTR_NOT_NULL_FATAL(q);
            size_t kept = n < size[i] ? n : size[i];
            bad += q[0] != mark || q[kept - 1] != mark;
            p[i] = q;
            size[i] = n;
        } else {
            size_t n = 65537 + (seed >> 4) % (1u << 20);
            bool zeroed = seed & 0x20000;
            p[i] = zeroed ? frg_calloc(1, n) : frg_malloc(n);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p[i]);
            if (zeroed)
                for (size_t k = 0; k < n; k += 4093)
                    bad += p[i][k] != 0;
            size[i] = n;
        }
        CU_ASSERT(frg_malloc_usable_size(p[i]) >= size[i]);
        memset(p[i], i + 1, size[i]);
    }
    for (int i = 0; i < SLOTS; i++)
        frg_free(p[i]);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_mallinfo2_tracks_allocation(void) {
    /* empty the run caches first: a cached run of up to 1/8 more pages
     * (27-29) may serve a 26-page request, which the sums below exclude */
    frg_malloc_trim(0);
    struct mallinfo2 before = frg_mallinfo2();
    enum { N = 40 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = frg_malloc(100 * 1024); /* large: 25 pages, a run of its class's 26 */
    struct mallinfo2 during = frg_mallinfo2();
    CU_ASSERT_EQUAL(frg_malloc_usable_size(p[0]), 26 * 4096);
    CU_ASSERT_EQUAL(during.uordblks - before.uordblks, (size_t)N * 26 * 4096);
    CU_ASSERT_EQUAL(during.arena, during.uordblks + during.fordblks);
    void *h = frg_malloc(10 * MIB);
    struct mallinfo2 withhuge = frg_mallinfo2();
    CU_ASSERT_EQUAL(withhuge.hblks, during.hblks + 1);
    CU_ASSERT_EQUAL(withhuge.hblkhd - during.hblkhd, 10 * MIB);
    frg_free(h);
    for (int i = 0; i < N; i++)
        frg_free(p[i]);
    struct mallinfo2 after = frg_mallinfo2();
    CU_ASSERT_EQUAL(after.uordblks, before.uordblks);
}

static void test_trim_releases(void) {
    enum { N = 64 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = frg_malloc(256 * 1024);
        memset(p[i], 1, 256 * 1024);
    }
    for (int i = 0; i < N; i++)
        frg_free(p[i]);
    CU_ASSERT_EQUAL(frg_malloc_trim(0), 1);
    struct mallinfo2 mi = frg_mallinfo2();
    CU_ASSERT_EQUAL(mi.keepcost, 0); /* nothing left to purge */
    CU_ASSERT_EQUAL(frg_malloc_trim(0), 0); /* and a second trim finds nothing */
}

static void test_mallopt(void) {
    CU_ASSERT_EQUAL(frg_mallopt(M_ARENA_MAX, 2), 1);
    CU_ASSERT_EQUAL(frg_mallopt(M_MMAP_THRESHOLD, 1 << 20), 1);
    CU_ASSERT_EQUAL(frg_mallopt(12345, 1), 0);
}

static void test_malloc_info_xml(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_EQUAL(frg_malloc_info(0, f), 0);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "<malloc version=\"1\">"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "</malloc>"));
    free(buf);
    CU_ASSERT_EQUAL(frg_malloc_info(1, stdout), -1);
}

static void register_tests(void) {
    TU_SUITE(api);
    TU_TEST(api, test_malloc_zero_unique);
    TU_TEST(api, test_alignment_16);
    TU_TEST(api, test_calloc);
    TU_TEST(api, test_realloc_edges);
    TU_TEST(api, test_impossible_sizes);
    TU_TEST(api, test_posix_memalign_args);
    TU_TEST(api, test_valloc_pvalloc);
    TU_TEST(api, test_free_keeps_errno);
    TU_TEST(api, test_usable_size);
    TU_TEST(api, test_huge_objects);
    TU_TEST(api, test_large_classes);
    TU_TEST(api, test_mallinfo2_tracks_allocation);
    TU_TEST(api, test_trim_releases);
    TU_TEST(api, test_mallopt);
    TU_TEST(api, test_malloc_info_xml);
}

TU_MAIN
