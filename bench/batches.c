/*
 * batches.c - allocate K objects, then free all K in LIFO, FIFO or random
 * order; repeat.  One thread.  Measures how an allocator copes with bursts
 * larger than its thread/CPU cache and with frees in an order different
 * from the allocation order.
 *
 * Usage: batches [order=lifo|fifo|random] [range=small|medium] [k=N]
 *                [rounds=R] [seed=S]
 *   range small   sizes uniform in 8 B .. 1 KiB   (default k=10000)
 *   range medium  sizes uniform in 1 KiB .. 64 KiB (default k=1000)
 *   rounds        batches timed (default 400 small, 200 medium)
 * Output: RESULT bench=batches order=O range=R k=K rounds=N secs=T ns_per_op=X
 *   (an op is one malloc or one free: 2*K*rounds ops in total)
 *
 * Sizes and the random permutation are drawn once, before timing, and are
 * the same in every round and for every allocator (fixed seed).  Each
 * object gets its first and last byte written, so an allocator that hands
 * out memory it has returned to the kernel pays the page faults here, as a
 * real program would.
 */
#include "tp_common.h"

int main(int argc, char **argv) {
    const char *order = tp_arg_str(argc, argv, "order", "lifo");
    const char *range = tp_arg_str(argc, argv, "range", "small");
    int medium = strcmp(range, "medium") == 0;
    if (!medium && strcmp(range, "small") != 0) {
        fprintf(stderr, "batches: range must be small or medium\n");
        return 2;
    }
    int mode = strcmp(order, "lifo") == 0 ? 0 : strcmp(order, "fifo") == 0 ? 1 : 2;
    if (mode == 2 && strcmp(order, "random") != 0) {
        fprintf(stderr, "batches: order must be lifo, fifo or random\n");
        return 2;
    }
    size_t lo = medium ? 1024 : 8, hi = medium ? 65536 : 1024;
    long k = tp_arg(argc, argv, "k", medium ? 1000 : 10000);
    long rounds = tp_arg(argc, argv, "rounds", medium ? 200 : 400);
    tp_rng rng;
    tp_rng_seed(&rng, (uint64_t)tp_arg(argc, argv, "seed", 42));
    if (k < 1 || rounds < 1) {
        fprintf(stderr, "batches: k and rounds must be >= 1\n");
        return 2;
    }

    /* Bookkeeping arrays: allocated before timing, freed at the end. */
    char **ptr = malloc((size_t)k * sizeof *ptr);
    size_t *size = malloc((size_t)k * sizeof *size);
    long *perm = malloc((size_t)k * sizeof *perm);
    if (!ptr || !size || !perm)
        return 1;
    for (long i = 0; i < k; i++) {
        size[i] = tp_rng_range(&rng, lo, hi);
        perm[i] = i;
    }
    for (long i = k - 1; i > 0; i--) { /* Fisher-Yates */
        long j = (long)(tp_rng_next(&rng) % (uint64_t)(i + 1));
        long t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }

    double t0 = 0;
    for (long r = -1; r < rounds; r++) { /* round -1 is an untimed warm-up */
        if (r == 0)
            t0 = tp_now();
        for (long i = 0; i < k; i++) {
            char *p = malloc(size[i]);
            tp_opaque(p);
            p[0] = (char)i;
            p[size[i] - 1] = (char)r;
            tp_use(p);
            ptr[i] = p;
        }
        for (long i = 0; i < k; i++) {
            long j = mode == 0 ? k - 1 - i : mode == 1 ? i : perm[i];
            char *p = ptr[j];
            tp_opaque(p);
            free(p);
        }
    }
    double secs = tp_now() - t0;
    printf("RESULT bench=batches order=%s range=%s k=%ld rounds=%ld secs=%.6f ns_per_op=%.3f\n",
           order, range, k, rounds, secs, secs * 1e9 / (2.0 * (double)k * (double)rounds));
    free(perm);
    free(size);
    free(ptr);
    return 0;
}
