/*
 * test_hardening.c - the allocator survives what production throws at it.
 *
 *  - overflow: writing past the end of objects (into neighbours) cannot
 *    corrupt allocator state: metadata is out of band, and the structure
 *    validators still pass after heavy churn;
 *  - fault_mmap / fault_madvise: an mmap or madvise that fails (injected
 *    with the fault_* options) gives NULL + ENOMEM or a later retry, never a
 *    crash or a lock left held; later allocations succeed;
 *  - rlimit: under RLIMIT_AS the heap runs out for real, malloc returns
 *    NULL + ENOMEM, and after frees it allocates again;
 *  - signals: threads allocating while signals keep interrupting them
 *    (aborting restartable sequences mid-way) keep their data intact.
 * Scenarios run in fresh processes (this program re-executed) because
 * options are read once per process.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "central.h"
#include "pageheap.h"


static void validate_or_fail(void) {
    if (!frg_central_validate() || !frg_pageheap_validate())
        TU_FAIL("structure validation failed\n");
}

/* ---- overflow ---------------------------------------------------------------- */

static void overflow(void) {
    enum { N = 20000 };
    static unsigned char *p[N];
    static size_t sz[N];
    uint64_t seed = 99;
    for (int round = 0; round < 30; round++) {
        for (int i = 0; i < N; i++) {
            sz[i] = 16 + tu_rand(&seed) % 2000;
            p[i] = frg_malloc(sz[i]);
            size_t usable = frg_malloc_usable_size(p[i]);
            uintptr_t chunk_end = ((uintptr_t)p[i] | ((4u << 20) - 1)) + 1;
            size_t over = 48; /* scribble 48 bytes past the usable end */
            if ((uintptr_t)p[i] + usable + over <= chunk_end)
                memset(p[i], 0xA5, usable + over);
        }
        for (int i = 0; i < N; i += 1 + (int)(tu_rand(&seed) % 3))
            frg_free(p[i]), p[i] = NULL;
        for (int i = 0; i < N; i++)
            frg_free(p[i]);
        if (round % 10 == 9)
            validate_or_fail();
    }
    frg_malloc_trim(0);
    validate_or_fail();
    printf("30 rounds of 20000 objects overflowed by 48 bytes: heap consistent\n");
    TU_PASS();
}

/* ---- injected faults -------------------------------------------------------- */

/* Allocate until one call fails (the injected fault), then check it was a
 * clean ENOMEM and that the next allocations of every kind succeed. */
static void fault_mmap(void) {
    void *keep[4096];
    int n = 0, failed = 0;
    for (; n < 4096 && !failed; n++) {
        size_t size = n % 3 == 0 ? (2u << 20) + (size_t)n * 4096 /* huge: own mapping */
                    : n % 3 == 1 ? 300000                      /* large: chunks */
                                 : 4000;                       /* small: slabs */
        errno = 0;
        keep[n] = frg_malloc(size);
        if (!keep[n]) {
            if (errno != ENOMEM)
                TU_FAIL("malloc failed with errno %d, not ENOMEM\n", errno);
            failed = 1;
        } else {
            memset(keep[n], 1, 4096 < size ? 4096 : size);
        }
    }
    if (!failed)
        TU_FAIL("no allocation failed: the fault was not injected\n");
    for (int i = 0; i < 200; i++) { /* afterwards everything works */
        void *a = frg_malloc(4000), *b = frg_malloc(300000), *c = frg_malloc(3u << 20);
        if (!a || !b || !c)
            TU_FAIL("allocation failed after the fault\n");
        frg_free(a), frg_free(b), frg_free(c);
    }
    for (int i = 0; i < n; i++)
        frg_free(keep[i]);
    frg_malloc_trim(0);
    validate_or_fail();
    printf("fault after %d allocations: ENOMEM, then all fine\n", n);
    TU_PASS();
}

static void fault_madvise(void) {
    for (int round = 0; round < 20; round++) {
        void *p[64];
        for (int i = 0; i < 64; i++) {
            p[i] = frg_malloc(200000);
            memset(p[i], round, 200000);
        }
        for (int i = 0; i < 64; i++)
            frg_free(p[i]);
        frg_malloc_trim(0);
    }
    validate_or_fail();
    TU_PASS();
}

/* ---- running out of address space for real ---------------------------------- */

static void rlimit(void) {
    struct rlimit rl = {256u << 20, 256u << 20};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        TU_FAIL("setrlimit: %s\n", strerror(errno));
    static void *p[1 << 16];
    size_t n = 0, bytes = 0;
    for (; n < sizeof p / sizeof *p; n++) {
        size_t size = n % 2 ? 100000 : 1000;
        errno = 0;
        if (!(p[n] = frg_malloc(size))) {
            if (errno != ENOMEM)
                TU_FAIL("errno %d instead of ENOMEM\n", errno);
            break;
        }
        memset(p[n], 7, size);
        bytes += size;
    }
    if (n == sizeof p / sizeof *p)
        TU_FAIL("never ran out of memory\n");
    void *h = frg_malloc(64u << 20);
    if (h)
        TU_FAIL("a 64 MiB allocation succeeded with the address space exhausted\n");
    for (size_t i = 0; i < n; i += 2) /* free half */
        frg_free(p[i]), p[i] = NULL;
    frg_malloc_trim(0); /* unmaps free chunks, giving address space back */
    size_t again = 0;
    for (size_t i = 0; i < n; i += 2)
        if ((p[i] = frg_malloc(1000)))
            again++;
    if (again < n / 4)
        TU_FAIL("only %zu allocations succeeded after freeing\n", again);
    for (size_t i = 0; i < n; i++)
        frg_free(p[i]);
    validate_or_fail();
    printf("ran out after %zu objects (%zu MiB), recovered\n", n, bytes >> 20);
    TU_PASS();
}

/* ---- signals interrupting allocation ------------------------------------------ */

static atomic_long signals_taken;
static atomic_int stop;
static void on_signal(int sig) {
    (void)sig;
    atomic_fetch_add(&signals_taken, 1); /* no allocation in the handler */
}

static void *sig_worker(void *arg) {
    uint64_t seed = (uintptr_t)arg + 5;
    void *slot[512] = {0};
    size_t size[512] = {0};
    long bad = 0;
    while (!atomic_load(&stop)) {
        int k = (int)(tu_rand(&seed) % 512);
        if (slot[k]) {
            bad += !tu_check(slot[k], size[k] < 64 ? size[k] : 64, (uint8_t)k);
            frg_free(slot[k]);
        }
        size[k] = 1 + tu_rand(&seed) % 3000;
        slot[k] = frg_malloc(size[k]);
        tu_fill(slot[k], size[k] < 64 ? size[k] : 64, (uint8_t)k);
    }
    for (int k = 0; k < 512; k++) {
        if (slot[k])
            bad += !tu_check(slot[k], size[k] < 64 ? size[k] : 64, (uint8_t)k);
        frg_free(slot[k]);
    }
    return (void *)bad;
}

static void signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, sig_worker, (void *)(uintptr_t)i);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do { /* a signal to some worker every ~20 us for 2 s */
        pthread_kill(t[atomic_load(&signals_taken) % 4], SIGUSR1);
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < 2);
    atomic_store(&stop, 1);
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    if (bad)
        TU_FAIL("%ld corrupted objects\n", bad);
    validate_or_fail();
    printf("%ld signals delivered during allocation, data intact\n", atomic_load(&signals_taken));
    TU_PASS();
}

/* ---- driver ------------------------------------------------------------------------ */

static const struct tu_scenario scenarios[] = {
    {"overflow", "", overflow},
    {"fault_mmap_1", "fault_mmap:1", fault_mmap},
    {"fault_mmap_3", "fault_mmap:3", fault_mmap},
    {"fault_mmap_8", "fault_mmap:8", fault_mmap},
    {"fault_mmap_20", "fault_mmap:20", fault_mmap},
    {"fault_madvise", "fault_madvise:2", fault_madvise},
    {"rlimit", "background:false", rlimit},
    {"signals", "", signals},
};
TU_SCENARIO_MAIN("hardening", scenarios)
