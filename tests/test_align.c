/*
 * test_align.c - alignment sweep: every power-of-two alignment from 16 B
 * to 1 GiB, for small, large and huge sizes, through posix_memalign,
 * aligned_alloc and memalign; the memory is usable and writable.
 */
#include "testutil.h"

#include <errno.h>

static const size_t sizes[] = {1, 8, 100, 1000, 4095, 4096, 10000, 65536, 70000,
                               300000, 1 << 20, (1 << 20) + 1, 3 << 20};

static void check(void *p, size_t align, size_t size) {
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL((uintptr_t)p & (align - 1), 0);
    CU_ASSERT(frg_malloc_usable_size(p) >= size);
    memset(p, 0x3c, size);
}

static void test_sweep(void) {
    for (size_t align = 16; align <= ((size_t)1 << 30); align <<= 1) {
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            size_t size = sizes[i];
            if (align >= ((size_t)1 << 24) && size > 4096)
                continue; /* keep the address-space use of the sweep modest */
            void *p;
            CU_ASSERT_EQUAL_FATAL(frg_posix_memalign(&p, align, size), 0);
            check(p, align, size);
            frg_free(p);
            p = frg_aligned_alloc(align, size);
            check(p, align, size);
            frg_free(p);
            p = frg_memalign(align, size);
            check(p, align, size);
            frg_free(p);
        }
    }
}

/* Many live aligned objects at once: no overlap, each aligned. */
static void test_many_live(void) {
    enum { N = 2000 };
    static void *p[N];
    static size_t sz[N];
    uint64_t seed = 7;
    for (int i = 0; i < N; i++) {
        size_t align = (size_t)16 << (tu_rand(&seed) % 9); /* 16 .. 4096 */
        sz[i] = 1 + tu_rand(&seed) % 3000;
        CU_ASSERT_EQUAL_FATAL(frg_posix_memalign(&p[i], align, sz[i]), 0);
        CU_ASSERT_EQUAL((uintptr_t)p[i] & (align - 1), 0);
        tu_fill(p[i], sz[i], (uint8_t)i);
    }
    size_t bad = 0;
    for (int i = 0; i < N; i++) {
        bad += !tu_check(p[i], sz[i], (uint8_t)i);
        frg_free(p[i]);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void register_tests(void) {
    TU_SUITE(align);
    TU_TEST(align, test_sweep);
    TU_TEST(align, test_many_live);
}

TU_MAIN
