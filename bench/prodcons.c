/*
 * prodcons.c - producer threads allocate small objects and hand them to
 * consumer threads, which free them: every free is a cross-thread free.
 *
 * Usage: prodcons [pairs=P] [queue=spsc|mutex] [n=N] [min=16] [max=512]
 *   pairs  P producers and P consumers (default 1);
 *   queue  spsc:  one lock-free single-producer/single-consumer ring per
 *                 producer/consumer pair; objects are put in one at a time
 *                 but the indices are published every 16 moves, so the
 *                 two threads do not bounce a cache line per object;
 *          mutex: one ring shared by all threads, guarded by a mutex with
 *                 two condition variables, objects passed in batches of 32
 *                 (any consumer may free any producer's objects);
 *   n      objects per producer (default 4M);
 *   sizes  uniform in [min, max] bytes.
 * Output: RESULT bench=prodcons queue=Q pairs=P n=N secs=T mops=X
 *   mops = million objects per second passed through (each object is one
 *   malloc in a producer and one free in a consumer).
 *
 * Waiting threads spin briefly, then sched_yield() (spsc) or block on a
 * condition variable (mutex), so oversubscribing the 2 CPUs stays sane.
 * Timing runs from the first thread leaving the start barrier to the last
 * thread finishing (tp_span_mark).
 */
#include "tp_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define SPSC_CAP 1024 /* power of two */
#define PUBLISH 16    /* spsc: indices are published every PUBLISH moves */
#define MQ_CAP 4096
#define BATCH 32

struct spsc {
    _Alignas(64) _Atomic size_t head; /* next to pop; written by consumer */
    _Alignas(64) _Atomic size_t tail; /* next to push; written by producer */
    _Alignas(64) void *slot[SPSC_CAP];
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_full, not_empty;
    size_t head, count, remaining; /* remaining: objects not yet popped */
    void *slot[MQ_CAP];
} mq = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {0}};

static struct spsc *rings;
static long n_per_producer;
static size_t min_size, max_size;
static int use_mutex;
static pthread_barrier_t start;

static inline void backoff(unsigned *spins) {
    if (++*spins < 64)
        __builtin_ia32_pause();
    else {
        *spins = 0;
        sched_yield();
    }
}

static void *producer(void *arg) {
    long id = (long)arg;
    tp_rng rng;
    tp_rng_seed(&rng, (uint64_t)id + 1);
    pthread_barrier_wait(&start);
    tp_span_mark();
    if (!use_mutex) {
        struct spsc *r = &rings[id];
        size_t tail = 0, head_seen = 0;
        for (long i = 0; i < n_per_producer; i++) {
            size_t sz = tp_rng_range(&rng, min_size, max_size);
            char *p = malloc(sz);
            tp_opaque(p);
            p[0] = (char)sz;
            unsigned spins = 0;
            while (tail - head_seen == SPSC_CAP) {
                head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
                if (tail - head_seen == SPSC_CAP)
                    backoff(&spins);
            }
            r->slot[tail++ % SPSC_CAP] = p;
            if (tail % PUBLISH == 0 || i + 1 == n_per_producer)
                atomic_store_explicit(&r->tail, tail, memory_order_release);
        }
        tp_span_mark();
        return NULL;
    }
    void *batch[BATCH];
    for (long i = 0; i < n_per_producer;) {
        int nb = 0;
        for (; nb < BATCH && i < n_per_producer; nb++, i++) {
            size_t sz = tp_rng_range(&rng, min_size, max_size);
            char *p = malloc(sz);
            tp_opaque(p);
            p[0] = (char)sz;
            batch[nb] = p;
        }
        pthread_mutex_lock(&mq.lock);
        for (int j = 0; j < nb; j++) {
            while (mq.count == MQ_CAP) { /* wake consumers before sleeping */
                pthread_cond_broadcast(&mq.not_empty);
                pthread_cond_wait(&mq.not_full, &mq.lock);
            }
            mq.slot[(mq.head + mq.count++) % MQ_CAP] = batch[j];
        }
        pthread_cond_signal(&mq.not_empty);
        pthread_mutex_unlock(&mq.lock);
    }
    tp_span_mark();
    return NULL;
}

static void *consumer(void *arg) {
    long id = (long)arg;
    long sum = 0;
    pthread_barrier_wait(&start);
    tp_span_mark();
    if (!use_mutex) {
        struct spsc *r = &rings[id];
        size_t head = 0, tail_seen = 0;
        for (long i = 0; i < n_per_producer; i++) {
            unsigned spins = 0;
            while (head == tail_seen) {
                tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
                if (head == tail_seen)
                    backoff(&spins);
            }
            char *p = r->slot[head++ % SPSC_CAP];
            if (head % PUBLISH == 0)
                atomic_store_explicit(&r->head, head, memory_order_release);
            sum += p[0];
            free(p);
        }
        tp_span_mark();
        return (void *)sum;
    }
    void *batch[BATCH];
    for (;;) {
        int nb = 0;
        pthread_mutex_lock(&mq.lock);
        while (mq.count == 0 && mq.remaining > 0)
            pthread_cond_wait(&mq.not_empty, &mq.lock);
        if (mq.remaining == 0) {
            pthread_mutex_unlock(&mq.lock);
            break;
        }
        for (; nb < BATCH && mq.count > 0; nb++) {
            batch[nb] = mq.slot[mq.head];
            mq.head = (mq.head + 1) % MQ_CAP;
            mq.count--;
            mq.remaining--;
        }
        if (mq.remaining == 0)
            pthread_cond_broadcast(&mq.not_empty); /* wake the others: done */
        else if (mq.count > 0)
            pthread_cond_signal(&mq.not_empty);
        pthread_cond_broadcast(&mq.not_full);
        pthread_mutex_unlock(&mq.lock);
        for (int j = 0; j < nb; j++) {
            char *p = batch[j];
            sum += p[0];
            free(p);
        }
    }
    tp_span_mark();
    return (void *)sum;
}

int main(int argc, char **argv) {
    long pairs = tp_arg(argc, argv, "pairs", 1);
    const char *queue = tp_arg_str(argc, argv, "queue", "spsc");
    n_per_producer = tp_arg(argc, argv, "n", 4000000);
    min_size = (size_t)tp_arg(argc, argv, "min", 16);
    max_size = (size_t)tp_arg(argc, argv, "max", 512);
    use_mutex = strcmp(queue, "mutex") == 0;
    if (pairs < 1 || pairs > 1024 || n_per_producer < 1 || min_size < 1 || max_size < min_size ||
        (!use_mutex && strcmp(queue, "spsc") != 0)) {
        fprintf(stderr, "prodcons: bad arguments\n");
        return 2;
    }
    rings = aligned_alloc(64, (size_t)pairs * sizeof *rings);
    pthread_t *tid = malloc(2 * (size_t)pairs * sizeof *tid);
    if (!rings || !tid)
        return 1;
    memset(rings, 0, (size_t)pairs * sizeof *rings);
    mq.remaining = (size_t)(pairs * n_per_producer);
    pthread_barrier_init(&start, NULL, (unsigned)(2 * pairs + 1));
    for (long i = 0; i < pairs; i++) {
        if (pthread_create(&tid[2 * i], NULL, consumer, (void *)i) ||
            pthread_create(&tid[2 * i + 1], NULL, producer, (void *)i)) {
            fprintf(stderr, "prodcons: pthread_create failed\n");
            return 1;
        }
    }
    pthread_barrier_wait(&start);
    for (long i = 0; i < 2 * pairs; i++)
        pthread_join(tid[i], NULL);
    double secs = tp_span_secs();
    printf("RESULT bench=prodcons queue=%s pairs=%ld n=%ld secs=%.6f mops=%.4f\n", queue, pairs,
           n_per_producer, secs, (double)(pairs * n_per_producer) / secs * 1e-6);
    free(tid);
    free(rings);
    return 0;
}
