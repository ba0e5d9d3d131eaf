/*
 * test_stress.c - fixed-seed multi-thread stress: threads (24 by default,
 * on however few cores) replace objects in a shared table, so most frees
 * are cross-thread; every object carries a pattern that is checked when it
 * is freed or reallocated.  Sizes cover small, large and huge objects and
 * every allocation entry point.  A trimming thread drains every CPU's
 * cache every half millisecond meanwhile, so drains (and their fence of
 * the other CPU's restartable sequences) race with the fast paths.  At
 * the end the heap's structure validators must pass and the live byte
 * count must return to where it started.
 *
 * FRG_STRESS_OPS (per thread, default 60000) and FRG_STRESS_THREADS scale
 * it: a long mode is FRG_STRESS_OPS=2000000.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#include "central.h"
#include "pageheap.h"
#include "stats.h"

#define SLOTS 8192

struct obj {
    size_t size;  /* bytes of payload after this header */
    uint64_t tag; /* salt of the pattern */
};

static _Atomic(struct obj *) table[SLOTS];
static atomic_size_t corrupt;
static long ops_per_thread = 60000;

static size_t pick_size(uint64_t *seed) {
    uint64_t r = tu_rand(seed);
    switch (r % 1000) {
    case 0: return (1 << 20) + r % (3 << 20);      /* huge */
    case 1 ... 20: return 65536 + r % (1 << 20);   /* large */
    case 21 ... 150: return 1024 + r % 64512;      /* medium small */
    default: return r % 1024;                      /* small */
    }
}

static struct obj *make(uint64_t *seed) {
    size_t size = pick_size(seed);
    size_t total = sizeof(struct obj) + size;
    struct obj *o;
    switch (tu_rand(seed) % 8) {
    case 0: o = frg_calloc(1, total); break;
    case 1: o = frg_memalign((size_t)16 << (tu_rand(seed) % 8), total); break;
    case 2: {
        void *m;
        o = frg_posix_memalign(&m, 64, total) == 0 ? m : NULL;
        break;
    }
    default: o = frg_malloc(total); break;
    }
    if (!o)
        return NULL;
    o->size = size;
    o->tag = tu_rand(seed);
    tu_fill(o + 1, size < 256 ? size : 256, (uint8_t)o->tag);
    if (size >= 320)
        tu_fill((char *)(o + 1) + size - 64, 64, (uint8_t)(o->tag >> 8));
    return o;
}

static void verify(const struct obj *o) {
    size_t size = o->size;
    if (!tu_check(o + 1, size < 256 ? size : 256, (uint8_t)o->tag) ||
        (size >= 320 && !tu_check((const char *)(o + 1) + size - 64, 64, (uint8_t)(o->tag >> 8))))
        atomic_fetch_add(&corrupt, 1);
}

static void *worker(void *arg) {
    uint64_t seed = 0x1234567ull + (uintptr_t)arg * 7919;
    for (long i = 0; i < ops_per_thread; i++) {
        size_t k = tu_rand(&seed) % SLOTS;
        struct obj *old = atomic_exchange(&table[k], NULL);
        if (old) {
            verify(old);
            if (tu_rand(&seed) % 10 == 0) { /* realloc keeps the prefix */
                size_t keep = old->size < 256 ? old->size : 256;
                size_t nsize = pick_size(&seed);
                struct obj *n = frg_realloc(old, sizeof(struct obj) + nsize);
                if (n) {
                    if (!tu_check(n + 1, keep < nsize ? keep : nsize, (uint8_t)n->tag))
                        atomic_fetch_add(&corrupt, 1);
                    n->size = nsize;
                    tu_fill(n + 1, nsize < 256 ? nsize : 256, (uint8_t)n->tag);
                    if (nsize >= 320)
                        tu_fill((char *)(n + 1) + nsize - 64, 64, (uint8_t)(n->tag >> 8));
                    old = atomic_exchange(&table[k], n);
                    if (old) {
                        verify(old);
                        frg_free(old);
                    }
                    continue;
                }
            }
            frg_free(old);
        }
        struct obj *o = make(&seed);
        if (o) {
            old = atomic_exchange(&table[k], o);
            if (old) {
                verify(old);
                frg_free(old);
            }
        }
    }
    return NULL;
}

static atomic_bool workers_done;

static void *trimmer(void *arg) {
    (void)arg;
    while (!atomic_load(&workers_done)) {
        frg_malloc_trim(0);
        usleep(500);
    }
    return NULL;
}

static void test_stress(void) {
    int nthreads = (int)tu_env_long("FRG_STRESS_THREADS", 24);
    ops_per_thread = tu_env_long("FRG_STRESS_OPS", ops_per_thread);
    frg_malloc_trim(0);
    struct frg_stats before;
    frg_stats_collect(&before);

    pthread_t t[256], trim_thread;
    atomic_store(&workers_done, false);
    pthread_create(&trim_thread, NULL, trimmer, NULL);
    for (int i = 0; i < nthreads && i < 256; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    for (int i = 0; i < nthreads && i < 256; i++)
        pthread_join(t[i], NULL);
    atomic_store(&workers_done, true);
    pthread_join(trim_thread, NULL);
    for (size_t k = 0; k < SLOTS; k++) {
        struct obj *o = atomic_exchange(&table[k], NULL);
        if (o) {
            verify(o);
            frg_free(o);
        }
    }
    CU_ASSERT_EQUAL(atomic_load(&corrupt), 0);
    CU_ASSERT(frg_central_validate());
    CU_ASSERT(frg_pageheap_validate());
    frg_malloc_trim(0);
    struct frg_stats after;
    frg_stats_collect(&after);
    CU_ASSERT_EQUAL(after.allocated, before.allocated);
    CU_ASSERT_EQUAL(after.percpu_cached, 0);
    CU_ASSERT_EQUAL(after.dirty, 0);
    CU_ASSERT(frg_pageheap_validate());
}

static void register_tests(void) {
    TU_SUITE(stress);
    TU_TEST(stress, test_stress);
}

TU_MAIN
