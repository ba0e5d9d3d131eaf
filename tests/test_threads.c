/*
 * test_threads.c - thread lifecycle: many short-lived threads (objects
 * they leave behind are freed by others, thread-exit destructors free
 * memory), and 512 threads that allocate then sit idle: the memory held in
 * per-CPU caches stays bounded by the number of CPUs, not threads; and,
 * on frgmalloc's own rseq area, that each thread registers it and that a
 * thread holding another library's area is served correctly without it;
 * in lease mode, that leases come back from exiting threads, from threads
 * a fork child does not have, and not from a holder stuck in its fast
 * path.
 */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "options.h"
#include "percpu.h"
#include "stats.h"

static pthread_key_t key;
static void *leftovers[64 * 16];
static pthread_mutex_t left_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t nleft;

static void key_destructor(void *p) {
    if (!tu_check(p, 777, 0x42))
        abort();
    frg_free(p); /* allocation work at thread exit */
}

static void *short_lived(void *arg) {
    uint64_t seed = (uintptr_t)arg;
    void *local[200];
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + tu_rand(&seed) % 3000;
        local[i] = frg_malloc(n);
        memset(local[i], 1, n);
    }
    for (int i = 0; i < 200; i += 2)
        frg_free(local[i]);
    pthread_mutex_lock(&left_lock);
    for (int i = 1; i < 200 && nleft < sizeof leftovers / sizeof *leftovers; i += 50)
        leftovers[nleft++] = local[i];
    pthread_mutex_unlock(&left_lock);
    for (int i = 1; i < 200; i += 2)
        if (i % 50 != 1)
            frg_free(local[i]);
    void *tls = frg_malloc(777);
    tu_fill(tls, 777, 0x42);
    pthread_setspecific(key, tls);
    return NULL;
}

static void test_thread_churn(void) {
    pthread_key_create(&key, key_destructor);
    frg_malloc_trim(0);
    struct frg_stats before;
    frg_stats_collect(&before);
    for (int round = 0; round < 60; round++) {
        pthread_t t[16];
        for (int i = 0; i < 16; i++)
            CU_ASSERT_EQUAL_FATAL(
                pthread_create(&t[i], NULL, short_lived, (void *)(uintptr_t)(round * 16 + i + 1)), 0);
        for (int i = 0; i < 16; i++)
            pthread_join(t[i], NULL);
        /* objects of exited threads are freed by this thread */
        pthread_mutex_lock(&left_lock);
        for (size_t i = 0; i < nleft; i++)
            frg_free(leftovers[i]);
        nleft = 0;
        pthread_mutex_unlock(&left_lock);
    }
    frg_malloc_trim(0);
    struct frg_stats after;
    frg_stats_collect(&after);
    CU_ASSERT_EQUAL(after.allocated, before.allocated); /* nothing stranded */
}

/* ---- 512 idle threads ------------------------------------------------------ */

static pthread_barrier_t start_barrier, done_barrier, exit_barrier;

static void *allocate_then_idle(void *arg) {
    uint64_t seed = (uintptr_t)arg + 1;
    void *objs[2048];
    memset(objs, 0, sizeof objs); /* stack pages count before the baseline */
    pthread_barrier_wait(&start_barrier);
    size_t used = 0, n = 0;
    while (used < 256 * 1024 && n < 2048) {
        size_t sz = 16 + tu_rand(&seed) % 497;
        objs[n] = frg_malloc(sz);
        memset(objs[n], 2, sz);
        used += sz;
        n++;
    }
    for (size_t i = 0; i < n; i++)
        frg_free(objs[i]);
    pthread_barrier_wait(&done_barrier);
    pthread_barrier_wait(&exit_barrier); /* idle: no allocator calls */
    return NULL;
}

static void test_512_threads_bounded(void) {
    enum { N = 512 };
    static pthread_t t[N];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&start_barrier, NULL, N + 1);
    pthread_barrier_init(&done_barrier, NULL, N + 1);
    pthread_barrier_init(&exit_barrier, NULL, N + 1);
    frg_malloc_trim(0);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], &attr, allocate_then_idle, (void *)(uintptr_t)i), 0);
    long rss_before = tu_rss_kib();
    pthread_barrier_wait(&start_barrier);
    pthread_barrier_wait(&done_barrier);
    long rss_after = tu_rss_kib();
    struct frg_stats st;
    frg_stats_collect(&st);
    /* The bound: per-CPU capacity (and the leases', two per CPU by
     * default), whatever the number of threads, and the transfer cache's
     * own bound. */
    size_t bound = (size_t)frg_percpu_ncaches() * frg_opt.cache_max;
    CU_ASSERT(st.percpu_cached <= bound);
    CU_ASSERT(st.percpu_capacity <= bound);
    CU_ASSERT(st.transfer_cached <= frg_opt.transfer_max);
    bound += frg_opt.transfer_max;
    /* All 512 threads' objects are free: what is resident beyond the
     * caches is at most the dirty budget and slab fragmentation. */
    long growth_kib = rss_after - rss_before;
    fprintf(stderr, "\n    512 threads: RSS growth %ld KiB, cached %zu KiB (bound %zu KiB)\n",
            growth_kib, (st.percpu_cached + st.transfer_cached) / 1024, bound / 1024);
    CU_ASSERT(growth_kib * 1024 <= (long)(bound + frg_opt.dirty_min + (4 << 20)));
    pthread_barrier_wait(&exit_barrier);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_attr_destroy(&attr);
}

/* ---- frgmalloc's own rseq area (run-modes.sh's rseq-own run) ------------ */
#if FRG_HAVE_RSEQ

/* Allocate, fill, free and check a few hundred small objects; true if
 * every object kept its contents. */
static bool small_churn_intact(uint64_t seed) {
    enum { N = 300 };
    void *p[N];
    size_t n[N];
    bool ok = true;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            n[i] = 16 + tu_rand(&seed) % 1009;
            p[i] = frg_malloc(n[i]);
            if (!p[i])
                return false;
            tu_fill(p[i], n[i], (uint8_t)i);
        }
        for (int i = 0; i < N; i++) {
            ok &= tu_check(p[i], n[i], (uint8_t)i) != 0;
            frg_free(p[i]);
        }
    }
    return ok;
}

/* 1: objects intact and this thread now on the CPU caches' fast path. */
static void *own_area_thread(void *arg) {
    bool ok = small_churn_intact((uintptr_t)arg);
    return (void *)(uintptr_t)(ok && frg_rseq_cpu() >= 0);
}

/* A struct rseq of the test's own, as a library registering its own would
 * have one. */
static __thread struct {
    uint32_t cpu_id_start;
    int32_t cpu_id;
    uint64_t rseq_cs;
    uint32_t flags, node_id, mm_cid, unused;
} foreign_area __attribute__((aligned(32)));

/* 1: with another area registered first, errno untouched by the first
 * allocation (whose registration the kernel refuses), objects intact and
 * this thread off the fast path; 2: could not register the other area. */
static void *foreign_area_thread(void *arg) {
    foreign_area.cpu_id = -1;
    if (syscall(__NR_rseq, &foreign_area, sizeof foreign_area, 0, 0x53053053) != 0)
        return (void *)2;
    errno = 4242;
    void *first = frg_malloc(32);
    bool ok = first && errno == 4242;
    frg_free(first);
    ok &= small_churn_intact((uintptr_t)arg) && frg_rseq_cpu() < 0;
    syscall(__NR_rseq, &foreign_area, sizeof foreign_area, 1 /* unregister */, 0x53053053);
    return (void *)(uintptr_t)ok;
}

/* 1: a vfork child that allocates (not allowed by POSIX, but it happens)
 * leaves the parent thread's area untouched, so the parent registers it
 * itself at its first allocation; 2: no vfork. */
static void *vfork_thread(void *arg) {
    (void)arg;
    if (frg_rseq_cpu() != -1) /* nothing allocated yet on this thread */
        return (void *)3;
    pid_t pid = vfork();
    if (pid == 0) {
        frg_free(frg_malloc(100));
        _exit(0);
    }
    if (pid < 0)
        return (void *)2;
    waitpid(pid, NULL, 0);
    bool untouched = frg_rseq_cpu() == -1;
    frg_free(frg_malloc(100));
    return (void *)(uintptr_t)(untouched && frg_rseq_cpu() >= 0);
}

static void test_own_rseq_area(void) {
    struct frg_stats st;
    frg_stats_collect(&st);
    if (st.rseq_area != FRG_RSEQ_AREA_OWN)
        return; /* glibc's area or none: nothing of ours to register */
    uint64_t registered = st.rseq_own_registered, refused = st.rseq_own_refused;
    CU_ASSERT(registered >= 1); /* the thread that initialised the library */
    enum { N = 8 };
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, own_area_thread, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < N; i++) {
        void *r;
        pthread_join(t[i], &r);
        CU_ASSERT_EQUAL(r, (void *)1);
    }
    frg_stats_collect(&st);
    CU_ASSERT_EQUAL(st.rseq_own_registered, registered + N);
    CU_ASSERT_EQUAL(st.rseq_own_refused, refused);

    pthread_t f;
    void *r;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&f, NULL, foreign_area_thread, (void *)99), 0);
    pthread_join(f, &r);
    CU_ASSERT_EQUAL(r, (void *)1);
    frg_stats_collect(&st);
    CU_ASSERT_EQUAL(st.rseq_own_registered, registered + N);
    CU_ASSERT_EQUAL(st.rseq_own_refused, refused + 1);

    CU_ASSERT_EQUAL_FATAL(pthread_create(&f, NULL, vfork_thread, NULL), 0);
    pthread_join(f, &r);
    CU_ASSERT_EQUAL(r, (void *)1);
}
#endif

/* ---- drains racing with the fast paths on another CPU -------------------- */

static atomic_int race_stop;
static atomic_long race_dups, race_rounds;

/* On CPU 1: take 8 objects from the cache, check that none is handed out
 * twice, give them back; over and over.  A drain that moved an object
 * while a sequence here was popping it would hand it out twice. */
static void *cache_user(void *arg) {
    (void)arg;
    if (!tu_pin(1))
        return (void *)1;
    while (!atomic_load_explicit(&race_stop, memory_order_relaxed)) {
        void *p[8];
        bool dup[8] = {false};
        for (int i = 0; i < 8; i++) {
            p[i] = frg_malloc(48);
            for (int j = 0; j < i; j++)
                if (p[j] == p[i] && !dup[j]) {
                    atomic_fetch_add(&race_dups, 1);
                    dup[i] = true;
                }
        }
        for (int i = 8; i-- > 0;)
            if (!dup[i])
                frg_free(p[i]); /* a duplicate is freed once */
        atomic_fetch_add_explicit(&race_rounds, 1, memory_order_relaxed);
    }
    return NULL;
}

/* Drain every CPU from CPU 0 for a second while CPU 1 works its cache:
 * the fence (membarrier or moving onto CPU 1, cpufence.c) must keep the
 * two apart.  In lease mode the thread on CPU 1 works its lease, which
 * every drain takes back (lease.c): the revocation must keep them apart.
 * Needs 2 CPUs and rseq or lease mode. */
static void test_drain_races_fast_path(void) {
    bool lease = frg_fastpath.cache_mode == FRG_CACHE_LEASE;
    if ((frg_fastpath.cache_mode != FRG_CACHE_RSEQ && !lease) || frg_percpu_ncpus() < 2)
        return;
    struct frg_lease_stats before, after;
    frg_lease_stats(&before);
    cpu_set_t saved;
    if (sched_getaffinity(0, sizeof saved, &saved) != 0 || !CPU_ISSET(0, &saved) ||
        !CPU_ISSET(1, &saved) || !tu_pin(0))
        return; /* CPUs 0 and 1 are not both ours to use */
    atomic_store(&race_stop, 0);
    atomic_store(&race_dups, 0);
    atomic_store(&race_rounds, 0);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, cache_user, NULL), 0);
    long drains = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        frg_percpu_drain_all(false);
        drains++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) < 1000000000L);
    atomic_store(&race_stop, 1);
    void *r;
    pthread_join(t, &r);
    sched_setaffinity(0, sizeof saved, &saved);
    fprintf(stderr, "\n    %ld drains against %ld rounds on CPU 1: %ld objects handed out twice\n",
            drains, atomic_load(&race_rounds), atomic_load(&race_dups));
    CU_ASSERT_EQUAL(r, NULL);
    CU_ASSERT_EQUAL(atomic_load(&race_dups), 0);
    if (lease) { /* the thread held its lease again and again, and lost it */
        frg_lease_stats(&after);
        fprintf(stderr, "    leases granted %llu, taken back %llu\n",
                (unsigned long long)(after.grants - before.grants),
                (unsigned long long)(after.revokes - before.revokes));
        CU_ASSERT(after.grants - before.grants > 10); /* thousands; fewer under valgrind */
        CU_ASSERT(after.revokes - before.revokes > 10);
    }
}

/* ---- lease mode: thread exit, fork, a holder stuck in its fast path ------- */

/* The calling thread holds a lease now. */
static bool holds_lease(void) {
    return frg_lease_self && !__atomic_load_n(&frg_lease_self->revoked, __ATOMIC_RELAXED);
}

/* A thread-specific value whose destructor allocates: it runs after the
 * library's exit hook (whose key was made first), which must not let it
 * take a lease again. */
static pthread_key_t alloc_at_exit_key;
static bool alloc_at_exit_made;
static void alloc_at_exit(void *p) {
    frg_free(p);
    frg_free(frg_malloc(200));
}

static void *lease_user(void *arg) {
    for (int i = 0; i < 1000; i++)
        frg_free(frg_malloc(16 + (size_t)i % 512));
    void *p = frg_malloc(64);
    bool held = holds_lease();
    frg_free(p);
    if (alloc_at_exit_made)
        pthread_setspecific(alloc_at_exit_key, frg_malloc(32));
    /* hand the record to the caller (what this thread did happens before
     * what the caller does with it), then wait to be told to go */
    struct frg_lease_rec **handoff = arg;
    if (handoff)
        __atomic_store_n(handoff, frg_lease_self, __ATOMIC_RELEASE);
    while (handoff && __atomic_load_n(handoff, __ATOMIC_ACQUIRE))
        sched_yield();
    return (void *)(uintptr_t)held;
}

/* A thread that works, holds a lease and waits; *rec gets its record. */
static pthread_t start_lease_holder(struct frg_lease_rec **rec) {
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, lease_user, (void *)rec), 0);
    while (!__atomic_load_n(rec, __ATOMIC_ACQUIRE))
        sched_yield();
    return t;
}

static void stop_lease_holder(pthread_t t, struct frg_lease_rec **rec) {
    __atomic_store_n(rec, NULL, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
}

static unsigned leases_held(void) {
    struct frg_lease_stats ls;
    frg_lease_stats(&ls);
    return ls.held;
}

/* Threads that come and go each get a lease and give it back when they
 * exit, and allocating in a later exit hook takes none: more threads than
 * leases, one after another, all served. */
static void test_lease_thread_exit(void) {
    if (frg_fastpath.cache_mode != FRG_CACHE_LEASE)
        return;
    if (!alloc_at_exit_made)
        alloc_at_exit_made = pthread_key_create(&alloc_at_exit_key, alloc_at_exit) == 0;
    CU_ASSERT_FATAL(alloc_at_exit_made);
    frg_percpu_drain_all(false); /* main's lease too */
    struct frg_lease_stats before, after;
    frg_lease_stats(&before);
    unsigned n = 3 * frg_lease_count();
    for (unsigned i = 0; i < n; i++) {
        pthread_t t;
        void *held;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, lease_user, NULL), 0);
        pthread_join(t, &held);
        CU_ASSERT_EQUAL(held, (void *)1);
        CU_ASSERT_EQUAL(leases_held(), 0);
    }
    frg_lease_stats(&after);
    CU_ASSERT_EQUAL(after.grants - before.grants, n);
    CU_ASSERT_EQUAL(after.revokes - before.revokes, n);
}

/* In a fork child the leases of the parent's other threads are free. */
static void test_lease_fork(void) {
    if (frg_fastpath.cache_mode != FRG_CACHE_LEASE)
        return;
    struct frg_lease_rec *rec = NULL;
    pthread_t t = start_lease_holder(&rec);
    frg_free(frg_malloc(64)); /* main holds one too */
    unsigned parent_held = leases_held();
    pid_t pid = fork();
    if (pid == 0) {
        bool ok = leases_held() == (unsigned)holds_lease();
        pthread_t c;
        void *held = NULL;
        ok &= pthread_create(&c, NULL, lease_user, NULL) == 0 && pthread_join(c, &held) == 0;
        _exit(ok && held == (void *)1 ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    stop_lease_holder(t, &rec);
    CU_ASSERT(parent_held >= 2);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A holder stopped inside its fast path (a debugger, SIGSTOP): a drain
 * gives up waiting for it within a bound, leaves its lease alone, and says
 * so; once it moves on, its next slow path would reopen the lease, and the
 * next drain takes it back. */
static void test_lease_holder_stuck(void) {
    if (frg_fastpath.cache_mode != FRG_CACHE_LEASE)
        return;
    struct frg_lease_rec *rec = NULL;
    pthread_t t = start_lease_holder(&rec);
    struct frg_lease_rec *r = rec;
    uint32_t idx = r->idx;
    struct frg_lease_stats before, after;
    frg_lease_stats(&before);
    __atomic_store_n(&r->busy, 1, __ATOMIC_SEQ_CST); /* as if stopped mid-pop */
    if (__atomic_load_n(&r->revoked, __ATOMIC_SEQ_CST) || !frg_lease_held(idx)) {
        /* the purger took the idle lease first: nothing to test this time */
        __atomic_store_n(&r->busy, 0, __ATOMIC_RELEASE);
        stop_lease_holder(t, &rec);
        printf("(the purger took the lease first) ");
        return;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_FALSE(frg_percpu_drain_all_exact());
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    frg_lease_stats(&after);
    CU_ASSERT(secs < 2.0);
    /* the purger may have given up on it too */
    CU_ASSERT(after.revoke_timeouts - before.revoke_timeouts >= 1);
    CU_ASSERT(frg_lease_held(idx) && r->idx == idx); /* still the holder's */
    CU_ASSERT(__atomic_load_n(&r->revoked, __ATOMIC_RELAXED)); /* kept out until it reopens */
    __atomic_store_n(&r->busy, 0, __ATOMIC_RELEASE);
    CU_ASSERT_TRUE(frg_percpu_drain_all_exact());
    frg_lease_stats(&after);
    CU_ASSERT(after.revokes > before.revokes);
    CU_ASSERT(__atomic_load_n(&r->revoked, __ATOMIC_RELAXED));
    stop_lease_holder(t, &rec);
}

static void register_tests(void) {
    TU_SUITE(threads);
    TU_TEST(threads, test_thread_churn);
    TU_TEST(threads, test_512_threads_bounded);
    TU_TEST(threads, test_drain_races_fast_path);
    TU_TEST(threads, test_lease_thread_exit);
    TU_TEST(threads, test_lease_fork);
    TU_TEST(threads, test_lease_holder_stuck);
#if FRG_HAVE_RSEQ
    TU_TEST(threads, test_own_rseq_area);
#endif
}

TU_MAIN
