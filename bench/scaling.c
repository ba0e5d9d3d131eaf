/*
 * scaling.c - T threads, each churning small objects in its own working
 * set: pick a random slot, free its object, allocate a new one of random
 * size.  No cross-thread frees.  Run with T = 1, 2, 4, 16, 64: on a
 * 2-CPU machine the total throughput should stay flat from T=2 upwards;
 * an allocator whose per-thread state or locks do not scale drops.
 *
 * Usage: scaling [threads=T] [ops=N] [ws=256] [min=16] [max=256] [ends=0]
 *                [seed=X]
 *   ops   total malloc+free pairs, split evenly among threads (default 40M)
 *   ws    live objects per thread (default 256)
 *   sizes uniform in [min, max] bytes
 *   ends  1: also write the last byte of each new object, as a program
 *         filling a buffer would (bench/throughput's bigblocks group runs
 *         64 KiB-512 KiB blocks so: an allocator that gave their pages
 *         back faults them in again)
 * Output: RESULT bench=scaling threads=T ops=N secs=S mops=X
 *   mops = million malloc+free pairs per second, all threads together.
 *
 * Each thread allocates its working set before the start barrier; the
 * clock runs from the first thread starting its loop to the last one
 * finishing it (tp_span_mark).  A byte of each
 * new object is written and a byte of each freed one is read.
 */
#include "tp_common.h"

#include <pthread.h>

static long ops_per_thread;
static size_t ws, min_size, max_size;
static int ends;
static uint64_t seed;
static pthread_barrier_t start;

static void *work(void *arg) {
    long id = (long)arg;
    tp_rng rng;
    tp_rng_seed(&rng, seed + (uint64_t)id * 104729);
    char **slot = malloc(ws * sizeof *slot);
    if (!slot)
        abort();
    for (size_t i = 0; i < ws; i++) {
        slot[i] = malloc(tp_rng_range(&rng, min_size, max_size));
        slot[i][0] = 0;
    }
    long sum = 0;
    pthread_barrier_wait(&start);
    tp_span_mark();
    for (long n = 0; n < ops_per_thread; n++) {
        size_t i = (size_t)(tp_rng_next(&rng) >> 20) % ws;
        char *old = slot[i];
        tp_opaque(old);
        sum += old[0];
        free(old);
        size_t size = tp_rng_range(&rng, min_size, max_size);
        char *p = malloc(size);
        tp_opaque(p);
        p[0] = (char)n;
        if (ends)
            p[size - 1] = (char)n;
        slot[i] = p;
    }
    tp_span_mark();
    for (size_t i = 0; i < ws; i++)
        free(slot[i]);
    free(slot);
    return (void *)sum;
}

int main(int argc, char **argv) {
    long threads = tp_arg(argc, argv, "threads", 1);
    long ops = tp_arg(argc, argv, "ops", 40000000);
    ws = (size_t)tp_arg(argc, argv, "ws", 256);
    min_size = (size_t)tp_arg(argc, argv, "min", 16);
    max_size = (size_t)tp_arg(argc, argv, "max", 256);
    ends = tp_arg(argc, argv, "ends", 0) != 0;
    seed = (uint64_t)tp_arg(argc, argv, "seed", 777);
    if (threads < 1 || threads > 4096 || ops < threads || ws < 1 || min_size < 1 ||
        max_size < min_size) {
        fprintf(stderr, "scaling: bad arguments\n");
        return 2;
    }
    ops_per_thread = ops / threads;
    pthread_t *tid = malloc((size_t)threads * sizeof *tid);
    if (!tid)
        return 1;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (long t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, work, (void *)t)) {
            fprintf(stderr, "scaling: pthread_create failed\n");
            return 1;
        }
    pthread_barrier_wait(&start);
    for (long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double secs = tp_span_secs();
    long done = ops_per_thread * threads;
    printf("RESULT bench=scaling threads=%ld ops=%ld secs=%.6f mops=%.4f\n", threads, done, secs,
           (double)done / secs * 1e-6);
    free(tid);
    return 0;
}
