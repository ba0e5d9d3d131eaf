/*
 * larson.c - a server simulation in the spirit of Larson & Krishnan
 * ("Memory allocation for long-running server applications", ISMM 1998):
 * a shared pool of slots, each holding one live object; every worker thread
 * repeatedly picks a random slot, puts a freshly allocated object of random
 * size there and frees the object it displaced.  Since any thread may have
 * allocated the displaced object, about (T-1)/T of the frees are
 * cross-thread frees, as when requests are handed between server threads.
 *
 * Usage: larson [threads=T] [secs=S] [slots=N] [min=16] [max=1000] [seed=X]
 *   threads  worker threads (default 2)
 *   secs     measured duration (default 2; fixed duration, ops counted)
 *   slots    pool size (default 1000 per thread)
 *   sizes    uniform in [min, max] bytes
 * Output: RESULT bench=larson threads=T slots=N secs=S ops=O mops=X
 *   an op = one malloc + one free; mops = million ops per second, total.
 *
 * Slots are swapped with atomic_exchange, so each object is freed exactly
 * once, by whichever thread displaced it, with no lock in the benchmark.
 * Each new object gets a byte written; each displaced one has a byte read.
 */
#include "tp_common.h"

#include <pthread.h>
#include <stdatomic.h>

static _Atomic(char *) *pool;
static size_t nslots, min_size, max_size;
static _Atomic int stop;
static pthread_barrier_t start;
static uint64_t seed;

struct worker {
    long id;
    long ops;
    long sum;
} __attribute__((aligned(64)));

static void *work(void *arg) {
    struct worker *w = arg;
    tp_rng rng;
    tp_rng_seed(&rng, seed + (uint64_t)w->id * 7919);
    long ops = 0, sum = 0;
    pthread_barrier_wait(&start);
    tp_span_mark();
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int k = 0; k < 64; k++) {
            size_t sz = tp_rng_range(&rng, min_size, max_size);
            size_t i = (size_t)(tp_rng_next(&rng) >> 20) % nslots;
            char *p = malloc(sz);
            tp_opaque(p);
            p[0] = (char)sz;
            char *old = atomic_exchange_explicit(&pool[i], p, memory_order_acq_rel);
            sum += old[0];
            free(old);
        }
        ops += 64;
    }
    tp_span_mark();
    w->ops = ops;
    w->sum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    long threads = tp_arg(argc, argv, "threads", 2);
    double secs = tp_arg_f(argc, argv, "secs", 2.0);
    nslots = (size_t)tp_arg(argc, argv, "slots", 1000 * threads);
    min_size = (size_t)tp_arg(argc, argv, "min", 16);
    max_size = (size_t)tp_arg(argc, argv, "max", 1000);
    seed = (uint64_t)tp_arg(argc, argv, "seed", 12345);
    if (threads < 1 || threads > 4096 || secs <= 0 || nslots < 1 || min_size < 1 ||
        max_size < min_size) {
        fprintf(stderr, "larson: bad arguments\n");
        return 2;
    }
    pool = malloc(nslots * sizeof *pool);
    struct worker *ws = aligned_alloc(64, (size_t)threads * sizeof *ws);
    pthread_t *tid = malloc((size_t)threads * sizeof *tid);
    if (!pool || !ws || !tid)
        return 1;
    tp_rng rng;
    tp_rng_seed(&rng, seed);
    for (size_t i = 0; i < nslots; i++) {
        char *p = malloc(tp_rng_range(&rng, min_size, max_size));
        p[0] = 1;
        atomic_init(&pool[i], p);
    }
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (long t = 0; t < threads; t++) {
        ws[t].id = t;
        if (pthread_create(&tid[t], NULL, work, &ws[t])) {
            fprintf(stderr, "larson: pthread_create failed\n");
            return 1;
        }
    }
    pthread_barrier_wait(&start);
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    long ops = 0;
    for (long t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        ops += ws[t].ops;
    }
    double elapsed = tp_span_secs(); /* first worker start to last stop */
    printf("RESULT bench=larson threads=%ld slots=%zu secs=%.6f ops=%ld mops=%.4f\n", threads,
           nslots, elapsed, ops, (double)ops / elapsed * 1e-6);
    for (size_t i = 0; i < nslots; i++)
        free(atomic_load(&pool[i]));
    free(tid);
    free(ws);
    free(pool);
    return 0;
}
