/*
 * bigblocks.c - T threads, each replacing blocks of 64 KiB-1 MiB in a
 * small private working set: pick a random slot, free its block, allocate
 * a new one and write its first and last byte.  What a JVM's native
 * threads do with I/O, compression or image buffers.  Fixed-size blocks
 * (min = max) are what a per-thread or per-CPU cache serves; random sizes
 * go to the allocator's page-level structures more often.  On a 2-CPU
 * machine throughput should not drop from 1 to 2 threads.
 *
 * Usage: bigblocks [threads=T] [ops=N] [ws=4] [min=131072] [max=131072]
 *                  [seed=X]
 *   ops   total malloc+free pairs, split evenly among threads (default 2M)
 *   ws    live blocks per thread (default 4, at most 64)
 *   sizes uniform in [min, max] bytes
 * Output: RESULT bench=bigblocks threads=T ops=N min=A max=B secs=S mops=X
 *   mops = million malloc+free pairs per second, all threads together.
 */
#include "tp_common.h"

#include <pthread.h>

#define MAX_WS 64

static long ops_per_thread;
static size_t ws, min_size, max_size;
static uint64_t seed;
static pthread_barrier_t start;

static void *work(void *arg) {
    long id = (long)arg;
    tp_rng rng;
    tp_rng_seed(&rng, seed + (uint64_t)id * 104729);
    char *slot[MAX_WS] = {0};
    pthread_barrier_wait(&start);
    tp_span_mark();
    for (long n = 0; n < ops_per_thread; n++) {
        size_t i = (size_t)(tp_rng_next(&rng) >> 20) % ws;
        free(slot[i]);
        size_t size = tp_rng_range(&rng, min_size, max_size);
        char *p = malloc(size);
        tp_opaque(p);
        p[0] = (char)n;
        p[size - 1] = (char)n;
        slot[i] = p;
    }
    tp_span_mark();
    for (size_t i = 0; i < ws; i++)
        free(slot[i]);
    return NULL;
}

int main(int argc, char **argv) {
    long threads = tp_arg(argc, argv, "threads", 1);
    long ops = tp_arg(argc, argv, "ops", 2000000);
    ws = (size_t)tp_arg(argc, argv, "ws", 4);
    min_size = (size_t)tp_arg(argc, argv, "min", 131072);
    max_size = (size_t)tp_arg(argc, argv, "max", 131072);
    seed = (uint64_t)tp_arg(argc, argv, "seed", 4242);
    if (threads < 1 || threads > 4096 || ops < threads || ws < 1 || ws > MAX_WS ||
        min_size < 1 || max_size < min_size) {
        fprintf(stderr, "bigblocks: bad arguments\n");
        return 2;
    }
    ops_per_thread = ops / threads;
    pthread_t *tid = malloc((size_t)threads * sizeof *tid);
    if (!tid)
        return 1;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (long t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, work, (void *)t)) {
            fprintf(stderr, "bigblocks: pthread_create failed\n");
            return 1;
        }
    for (long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double secs = tp_span_secs();
    printf("RESULT bench=bigblocks threads=%ld ops=%ld min=%zu max=%zu secs=%.6f mops=%.3f\n",
           threads, ops_per_thread * threads, min_size, max_size, secs,
           (double)(ops_per_thread * threads) / secs / 1e6);
    free(tid);
    return 0;
}
