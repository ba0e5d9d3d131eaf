/*
 * test_fork.c - fork while other threads allocate: the child (and its own
 * child) can allocate and free, objects inherited from the parent are
 * intact and can be freed, and the heap's structures validate; a fork
 * taken while another thread purges leaves the child a whole page heap.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#include "central.h"
#include "pageheap.h"
#include "purge.h"

static atomic_int stop;

static void *churn(void *arg) {
    uint64_t seed = (uintptr_t)arg + 99;
    void *slot[256] = {0};
    while (!atomic_load(&stop)) {
        int k = (int)(tu_rand(&seed) % 256);
        frg_free(slot[k]);
        size_t n = tu_rand(&seed) % 50 == 0 ? 70000 + tu_rand(&seed) % 500000
                                            : 1 + tu_rand(&seed) % 2000;
        slot[k] = frg_malloc(n);
        memset(slot[k], k, n < 64 ? n : 64);
    }
    for (int k = 0; k < 256; k++)
        frg_free(slot[k]);
    return NULL;
}

/* What a child does: use the heap hard, free what the parent left it. */
static int child_work(char **inherited, int ninherited, int depth) {
    for (int i = 0; i < ninherited; i++) {
        if (!tu_check(inherited[i], 100, (uint8_t)i))
            return 10;
        frg_free(inherited[i]);
    }
    void *p[1000];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 1000; i++) {
            p[i] = frg_malloc(1 + (size_t)(i * 37 + round) % 5000);
            tu_fill(p[i], 16, (uint8_t)i);
        }
        for (int i = 0; i < 1000; i++) {
            if (!tu_check(p[i], 16, (uint8_t)i))
                return 11;
            frg_free(p[i]);
        }
    }
    if (!frg_central_validate() || !frg_pageheap_validate())
        return 12;
    if (depth == 0) { /* a grandchild too */
        pid_t g = fork();
        if (g == 0)
            _exit(child_work(NULL, 0, 1));
        int st;
        waitpid(g, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 13;
    }
    return 0;
}

static void test_fork_under_load(void) {
    /* tests/valgrind.sh sets fewer: under memcheck each fork costs seconds
     * (30 took two minutes), and what memcheck checks in the fork handlers
     * shows in the first few */
    long rounds = tu_env_long("FRG_FORK_ROUNDS", 30);
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i);
    int failures = 0;
    for (int f = 0; f < rounds; f++) {
        char *inherited[8];
        for (int i = 0; i < 8; i++) {
            inherited[i] = frg_malloc(100 + (size_t)i * 1000);
            tu_fill(inherited[i], 100, (uint8_t)i);
        }
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0)
            _exit(child_work(inherited, 8, 0));
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failures++;
            fprintf(stderr, "\n    child %d: status 0x%x\n", f, st);
        }
        for (int i = 0; i < 8; i++)
            frg_free(inherited[i]);
        usleep(2000);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT(frg_central_validate());
    CU_ASSERT(frg_pageheap_validate());
}

static void *fork_from_thread(void *arg) {
    (void)arg;
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_work(NULL, 0, 1));
    int st;
    waitpid(pid, &st, 0);
    return (void *)(uintptr_t)(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_fork_from_thread(void) {
    pthread_t t;
    void *ok;
    pthread_create(&t, NULL, fork_from_thread, NULL);
    pthread_join(t, &ok);
    CU_ASSERT_PTR_EQUAL(ok, (void *)1);
}

/* Frees 32 MiB at a time and purges it (malloc_trim's page-heap step; a
 * ping-pong like this one soon stops purging eagerly, see the boost in
 * pageheap_purge.c), so this thread spends much of its time in madvise. */
static void *purge_churn(void *arg) {
    (void)arg;
    enum { N = 4096 };
    static void *p[N];
    while (!atomic_load(&stop)) {
        for (int i = 0; i < N; i++) {
            p[i] = frg_malloc(8192);
            if (p[i])
                memset(p[i], i, 8192);
        }
        for (int i = 0; i < N; i++)
            frg_free(p[i]);
        frg_pageheap_purge(UINT64_MAX);
    }
    return NULL;
}

/* The child of a fork taken while another thread was purging: no page is
 * left detached by the purge it will never finish, and it purges (eagerly
 * and fully) like any process. */
static int purge_child(void) {
    frg_purge_stop(); /* the child's own purger must not be mid-purge below */
    struct frg_pageheap_stats st;
    frg_pageheap_stats(&st);
    if (st.purging_pages)
        return 20;
    void *p[4096];
    for (int i = 0; i < 4096; i++)
        if (!(p[i] = frg_malloc(8192)))
            return 21;
    for (int i = 0; i < 4096; i++)
        frg_free(p[i]);
    frg_pageheap_purge(UINT64_MAX);
    frg_pageheap_stats(&st);
    if (st.dirty_pages || st.purging_pages)
        return 22;
    return frg_pageheap_validate() ? 0 : 23;
}

static void test_fork_during_purge(void) {
    /* tests/valgrind.sh sets 0: memcheck runs one thread at a time, so the
     * race cannot happen there and each fork costs seconds */
    long rounds = tu_env_long("FRG_FORK_PURGE_ROUNDS", 60);
    if (rounds <= 0)
        return;
    atomic_store(&stop, 0);
    pthread_t t;
    pthread_create(&t, NULL, purge_churn, NULL);
    int failures = 0;
    uint64_t seed = 7;
    for (int f = 0; f < rounds; f++) {
        usleep(100 + (useconds_t)(tu_rand(&seed) % 1000));
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0)
            _exit(purge_child());
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failures++;
            fprintf(stderr, "\n    child %d: status 0x%x\n", f, st);
        }
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT(frg_pageheap_validate());
}

static void register_tests(void) {
    TU_SUITE(fork);
    TU_TEST(fork, test_fork_under_load);
    TU_TEST(fork, test_fork_during_purge);
    TU_TEST(fork, test_fork_from_thread);
}

TU_MAIN
