/*
 * threads512.c - memory an allocator keeps for many idle threads.
 *
 * Protocol (isolates allocator memory from thread stacks):
 *   1. create T threads (default 512, 256 KiB stacks); each touches the top
 *      32 KiB of its stack and waits at barrier 1.  No allocator call yet.
 *   2. main samples VmRSS (and RssAnon): the baseline.
 *   3. release: each thread allocates small objects (uniform 16..512 B)
 *      until it holds `bytes` (default 256 KiB), writing a byte in each,
 *      then frees them all (in allocation order) and waits at barrier 3:
 *      alive, idle, no more allocator calls.
 *   4. main samples RSS right after all threads arrived, and again after
 *      `wait` seconds (default 2) of idling;
 *   5. threads exit, are joined; a last sample (after exit) for reference.
 * Output: RESULT bench=threads512 threads=T bytes=B growth_mib=X
 *         growth_2s_mib=Y growth_exit_mib=Z anon_growth_2s_mib=W
 *         base_mib=V work_secs=S
 *   growth = VmRSS - baseline.  (The brief's peer figures: glibc 18 MiB,
 *   jemalloc 27, tcmalloc 123, mimalloc 174; frgmalloc's target <= 4 MiB.)
 *
 * Everything the benchmark itself needs (pointer arrays) is mmap'ed and
 * pre-touched before the baseline, and main reads /proc/self/status with
 * open/read into a stack buffer, so only the allocator's own memory grows.
 */
#include "tp_common.h"

#include <pthread.h>
#include <sys/mman.h>

#define STACK_SIZE (256 * 1024)
#define STACK_TOUCH (32 * 1024)

static long nthreads;
static size_t bytes_per_thread;
static pthread_barrier_t b_ready, b_go, b_done, b_exit;
static char ***ptrs; /* ptrs[t]: thread t's pointer array (mmap'ed) */
static size_t *counts;

/* Thread t's object sizes: a fixed sequence, replayed by main to size the
 * pointer arrays and by the thread to allocate. */
static size_t next_size(tp_rng *r) { return tp_rng_range(r, 16, 512); }

static __attribute__((noinline)) void touch_stack(void) {
    volatile char buf[STACK_TOUCH];
    for (size_t i = 0; i < sizeof buf; i += 1024)
        buf[i] = 1;
    tp_use(buf);
}

static void *work(void *arg) {
    long t = (long)arg;
    touch_stack();
    pthread_barrier_wait(&b_ready);
    pthread_barrier_wait(&b_go);
    tp_span_mark();
    tp_rng rng;
    tp_rng_seed(&rng, (uint64_t)t + 1);
    char **p = ptrs[t];
    for (size_t i = 0; i < counts[t]; i++) {
        p[i] = malloc(next_size(&rng));
        tp_opaque(p[i]);
        p[i][0] = (char)i;
    }
    for (size_t i = 0; i < counts[t]; i++)
        free(p[i]);
    tp_span_mark();
    pthread_barrier_wait(&b_done);
    pthread_barrier_wait(&b_exit);
    return NULL;
}

static double mib(long kib) { return (double)kib / 1024.0; }

int main(int argc, char **argv) {
    nthreads = tp_arg(argc, argv, "threads", 512);
    bytes_per_thread = (size_t)tp_arg(argc, argv, "bytes", 256 * 1024);
    double wait = tp_arg_f(argc, argv, "wait", 2.0);
    if (nthreads < 1 || nthreads > 8192 || wait < 0) {
        fprintf(stderr, "threads512: bad arguments\n");
        return 2;
    }

    /* Size each thread's pointer array by replaying its size sequence. */
    size_t total = 0, hdr = (size_t)nthreads * (sizeof(char **) + sizeof(size_t));
    size_t *cnt_tmp = mmap(NULL, (size_t)nthreads * sizeof(size_t), PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (cnt_tmp == MAP_FAILED)
        return 1;
    for (long t = 0; t < nthreads; t++) {
        tp_rng rng;
        tp_rng_seed(&rng, (uint64_t)t + 1);
        size_t got = 0, n = 0;
        while (got < bytes_per_thread)
            got += next_size(&rng), n++;
        cnt_tmp[t] = n;
        total += n;
    }
    size_t len = hdr + total * sizeof(char *);
    char *region = mmap(NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (region == MAP_FAILED)
        return 1;
    memset(region, 0, len); /* make sure every page is resident now */
    ptrs = (char ***)region;
    counts = (size_t *)(region + (size_t)nthreads * sizeof(char **));
    char **next = (char **)(region + hdr);
    for (long t = 0; t < nthreads; t++) {
        counts[t] = cnt_tmp[t];
        ptrs[t] = next;
        next += cnt_tmp[t];
    }

    unsigned parties = (unsigned)nthreads + 1;
    pthread_barrier_init(&b_ready, NULL, parties);
    pthread_barrier_init(&b_go, NULL, parties);
    pthread_barrier_init(&b_done, NULL, parties);
    pthread_barrier_init(&b_exit, NULL, parties);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK_SIZE);
    pthread_t *tid = mmap(NULL, (size_t)nthreads * sizeof(pthread_t), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (tid == MAP_FAILED)
        return 1;
    for (long t = 0; t < nthreads; t++)
        if (pthread_create(&tid[t], &attr, work, (void *)t)) {
            fprintf(stderr, "threads512: pthread_create %ld failed\n", t);
            return 1;
        }

    pthread_barrier_wait(&b_ready);
    long base = tp_rss_kib(), base_anon = tp_status_kib("RssAnon");
    pthread_barrier_wait(&b_go);
    pthread_barrier_wait(&b_done);
    double work_secs = tp_span_secs();
    long after = tp_rss_kib();
    struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
    nanosleep(&ts, NULL);
    long after2 = tp_rss_kib(), after2_anon = tp_status_kib("RssAnon");
    pthread_barrier_wait(&b_exit);
    for (long t = 0; t < nthreads; t++)
        pthread_join(tid[t], NULL);
    long after_exit = tp_rss_kib();
    if (base < 0 || after < 0 || after2 < 0 || after_exit < 0) {
        fprintf(stderr, "threads512: cannot read /proc/self/status\n");
        return 1;
    }
    printf("RESULT bench=threads512 threads=%ld bytes=%zu growth_mib=%.2f growth_2s_mib=%.2f "
           "growth_exit_mib=%.2f anon_growth_2s_mib=%.2f base_mib=%.2f work_secs=%.4f\n",
           nthreads, bytes_per_thread, mib(after - base), mib(after2 - base),
           mib(after_exit - base), mib(after2_anon - base_anon), mib(base), work_secs);
    return 0;
}
