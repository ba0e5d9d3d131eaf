/*
 * test_sizeclass.c - the size-class table: every small size maps to the
 * smallest class that holds it, rounding waste stays within its bound, slab
 * tails are small, and object indexes computed by reciprocal are exact;
 * and the large classes.
 */
#include "testutil.h"

#include "sizeclass.h"

static void test_minimal_class(void) {
    size_t bad = 0;
    for (size_t n = 0; n <= FRG_SMALL_MAX; n++) {
        unsigned c = frg_size_to_class(n);
        if (c >= FRG_NCLASSES || frg_class_size(c) < (n ? n : 1) ||
            (c > 0 && frg_class_size(c - 1) >= n))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Internal waste of rounding: under 16 bytes up to 128 B, under 1/8 of
 * the request above. */
static void test_waste_bound(void) {
    size_t worst_small = 0;
    double worst_mid = 0, worst_big = 0;
    for (size_t n = 1; n <= FRG_SMALL_MAX; n++) {
        size_t waste = frg_class_size(frg_size_to_class(n)) - n;
        double r = (double)waste / n;
        if (n <= 128) {
            if (waste > worst_small)
                worst_small = waste;
        } else if (n <= 4096) {
            if (r > worst_mid)
                worst_mid = r;
        } else if (r > worst_big) {
            worst_big = r;
        }
    }
    CU_ASSERT(worst_small < 16);
    CU_ASSERT(worst_mid < 0.125);
    CU_ASSERT(worst_big < 0.125);
}

static void test_table_shape(void) {
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        const struct frg_class_info *ci = &frg_classes[c];
        size_t slab = (size_t)ci->slab_pages * 4096;
        CU_ASSERT_EQUAL(ci->size % 16, 0);
        CU_ASSERT(c == 0 || ci->size > frg_classes[c - 1].size);
        CU_ASSERT(ci->nobjs >= 1 && ci->nobjs <= 256);
        CU_ASSERT_EQUAL(ci->nobjs, slab / ci->size);
        CU_ASSERT(ci->slab_pages >= 1 && ci->slab_pages <= FRG_SLAB_MAX_PAGES);
        CU_ASSERT((slab - (size_t)ci->nobjs * ci->size) * 16 <= slab); /* tail <= 1/16 */
        CU_ASSERT_EQUAL(ci->recip, (uint32_t)(((1ull << 32) + ci->size - 1) / ci->size));
    }
    CU_ASSERT_EQUAL(frg_class_size(FRG_NCLASSES - 1), FRG_SMALL_MAX);
}

static void test_object_index_exact(void) {
    size_t bad = 0;
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        const struct frg_class_info *ci = &frg_classes[c];
        for (uint32_t i = 0; i < ci->nobjs; i++)
            for (uint32_t d = 0; d < ci->size; d += (ci->size > 64 ? ci->size / 61 : 1))
                bad += frg_class_obj_index(ci->recip, (uintptr_t)i * ci->size + d) != i;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* free() accepts exactly the object starts: every offset of every slab,
 * the unusable tail included.  Powers of two, whose test cannot see a
 * tail, have none. */
static void test_object_start_exact(void) {
    size_t bad = 0, starts = 0;
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        const struct frg_class_info *ci = &frg_classes[c];
        size_t slab = (size_t)ci->slab_pages * 4096;
        if (!(ci->size & (ci->size - 1)))
            CU_ASSERT_EQUAL((size_t)ci->nobjs * ci->size, slab);
        CU_ASSERT(ci->start_below <= ci->div_magic);
        for (uintptr_t off = 0; off < slab; off++) {
            bool want = off % ci->size == 0 && off / ci->size < ci->nobjs;
            bool got = frg_class_is_object_start(ci, off);
            bad += want != got;
            starts += got;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(starts > 0);
}

/* Fullness lists use floor(used * 8 / nobjs) through a reciprocal. */
static void test_fullness_reciprocal(void) {
    size_t bad = 0;
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        const struct frg_class_info *ci = &frg_classes[c];
        for (uint64_t used = 0; used <= ci->nobjs; used++)
            bad += ((used * 8 * ci->nobjs_recip) >> 32) != used * 8 / ci->nobjs &&
                   ci->nobjs > 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* The large classes: every large size rounds up to the smallest class
 * that holds it, wasting under 1/8, each class knows its own pages, and
 * its table entry (sizeclass.c) has that size and passes the object-start
 * check at offset 0 only (a run is one object). */
static void test_large_classes(void) {
    size_t bad = 0;
    for (size_t n = FRG_SMALL_MAX + 1; n <= FRG_LARGE_MAX; n += 511) {
        size_t pages = frg_large_run_pages(n);
        unsigned l = frg_large_class_of(pages);
        bad += l >= FRG_NLARGE_CLASSES || pages * FRG_PAGE < n ||
               (pages * FRG_PAGE - n) * 8 >= n + 8 * FRG_PAGE ||
               (l > 0 && frg_large_class_pages(l - 1) * FRG_PAGE >= n);
    }
    CU_ASSERT_EQUAL(bad, 0);
    for (unsigned l = 0; l < FRG_NLARGE_CLASSES; l++) {
        const struct frg_class_info *ci = &frg_classes[FRG_NCLASSES + l];
        size_t pages = frg_large_class_pages(l);
        CU_ASSERT_EQUAL(frg_large_class_of(pages), l);
        CU_ASSERT_EQUAL(ci->size, pages * FRG_PAGE);
        CU_ASSERT_EQUAL(ci->slab_pages, pages);
        CU_ASSERT_EQUAL(ci->nobjs, 1);
        CU_ASSERT(frg_class_is_object_start(ci, 0));
        size_t starts = 0;
        for (uintptr_t off = 1; off < 65536; off++) /* free() sees offsets mod 2^16 */
            starts += frg_class_is_object_start(ci, off);
        CU_ASSERT_EQUAL(starts, 0);
    }
    CU_ASSERT_EQUAL(frg_large_class_pages(FRG_NLARGE_CLASSES - 1) * FRG_PAGE, FRG_LARGE_MAX);
}

static void register_tests(void) {
    TU_SUITE(sizeclass);
    TU_TEST(sizeclass, test_minimal_class);
    TU_TEST(sizeclass, test_waste_bound);
    TU_TEST(sizeclass, test_table_shape);
    TU_TEST(sizeclass, test_object_index_exact);
    TU_TEST(sizeclass, test_object_start_exact);
    TU_TEST(sizeclass, test_fullness_reciprocal);
    TU_TEST(sizeclass, test_large_classes);
}

TU_MAIN
