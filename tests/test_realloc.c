/*
 * test_realloc.c - realloc sequences across small, large and huge sizes,
 * growing and shrinking, with the content checked at every step; in-place
 * resizing where the class or the run allows it.
 */
#include "testutil.h"

/* Content of the first n bytes is determined by (seed, i). */
static void fill_seq(unsigned char *p, size_t from, size_t to, unsigned seed) {
    for (size_t i = from; i < to; i++)
        p[i] = (unsigned char)(i * 131 + seed);
}
static int check_seq(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 131 + seed))
            return 0;
    return 1;
}

static void test_grow_shrink_sequence(void) {
    static const size_t steps[] = {1, 16, 17, 100, 1024, 5000, 65536, 65537, 200000,
                                   1 << 20, (1 << 20) + 1, 6 << 20, 30 << 20, 12 << 20,
                                   500000, 70000, 3000, 48, 8, 40 << 20, 20};
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        size_t n = steps[i];
        p = frg_realloc(p, n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        size_t keep = have < n ? have : n;
        CU_ASSERT(check_seq(p, keep, 9));
        fill_seq(p, keep, n, 9);
        have = n;
    }
    frg_free(p);
}

static void test_random_sequences(void) {
    uint64_t seed = 12345;
    enum { SLOTS = 64 };
    unsigned char *p[SLOTS] = {0};
    size_t n[SLOTS] = {0};
    size_t bad = 0;
    for (int it = 0; it < 20000; it++) {
        int k = (int)(tu_rand(&seed) % SLOTS);
        uint64_t r = tu_rand(&seed);
        size_t want = r % 16 == 0 ? r % (3 << 20) : r % 16 < 4 ? r % 100000 : r % 2000;
        bad += !check_seq(p[k], n[k], (unsigned)k);
        unsigned char *q = frg_realloc(p[k], want);
        if (want == 0) {
            CU_ASSERT_PTR_NULL(q);
            p[k] = NULL;
            n[k] = 0;
            continue;
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        size_t keep = n[k] < want ? n[k] : want;
        bad += !check_seq(q, keep, (unsigned)k);
        fill_seq(q, keep, want, (unsigned)k);
        p[k] = q;
        n[k] = want;
    }
    for (int k = 0; k < SLOTS; k++) {
        bad += !check_seq(p[k], n[k], (unsigned)k);
        frg_free(p[k]);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_in_place(void) {
    /* same size class: same pointer */
    char *p = frg_malloc(100);
    CU_ASSERT_PTR_EQUAL(frg_realloc(p, 110), p);
    CU_ASSERT_PTR_EQUAL(frg_realloc(p, 97), p);
    frg_free(p);
    /* large run: shrinking always stays; growing into free pages stays */
    char *big = frg_malloc(200000);
    CU_ASSERT_PTR_EQUAL(frg_realloc(big, 150000), big);
    char *grown = frg_realloc(big, 190000);
    CU_ASSERT_PTR_EQUAL(grown, big); /* the pages it just gave back are free */
    frg_free(grown);
    /* huge: mremap keeps content */
    unsigned char *h = frg_malloc(4 << 20);
    fill_seq(h, 0, 4 << 20, 3);
    h = frg_realloc(h, 64 << 20);
    CU_ASSERT(check_seq(h, 4 << 20, 3));
    h = frg_realloc(h, 2 << 20);
    CU_ASSERT(check_seq(h, 2 << 20, 3));
    frg_free(h);
}

static void register_tests(void) {
    TU_SUITE(realloc);
    TU_TEST(realloc, test_grow_shrink_sequence);
    TU_TEST(realloc, test_random_sequences);
    TU_TEST(realloc, test_in_place);
}

TU_MAIN
