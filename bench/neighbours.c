/*
 * neighbours.c - the small-object fast path while another CPU allocates
 * something else.  Two threads, pinned to CPUs 0 and 1: the first makes
 * malloc+free pairs of 64 B (as fastpath.c) and is timed; the second,
 * its neighbour, loops over one kind of allocation until the first is
 * done.  An allocator whose fast path reads a cache line that the
 * neighbour's path writes (a lock or a counter beside a read-mostly
 * global: false sharing) slows the first thread down, and the neighbour
 * too, although the two share no object and no lock.
 *
 * Usage: neighbours [other=none|huge|large|medium] [n=N] [seed=X]
 *   other  none    the neighbour spins without calling the allocator
 *          huge    malloc+free of 4 MiB blocks (one mapping each, or an
 *                  allocator's cache of them), first byte written
 *          large   malloc+free of 128 KiB blocks (page runs)
 *          medium  batches of 64 objects of 1-64 KiB, allocated then freed
 *                  (size-class slabs through the shared lists)
 *   n      pairs made by the timed thread (default 30M)
 * Output: RESULT bench=neighbours other=O n=N secs=T ns_per_pair=X
 *         other_mops=Y   (Y: the neighbour's calls per microsecond)
 * Needs 2 CPUs; with one, both threads share it and the figures mean
 * little (the RESULT line says cpus=1).
 */
#include "tp_common.h"

#include <pthread.h>
#include <sched.h>

enum other_kind { OTHER_NONE, OTHER_HUGE, OTHER_LARGE, OTHER_MEDIUM };

static atomic_int stop_neighbour;
static enum other_kind other;
static uint64_t seed;

static void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
}

static void *neighbour(void *arg) {
    uint64_t *calls = arg;
    pin_to(1);
    tp_rng rng;
    tp_rng_seed(&rng, seed);
    void *batch[64];
    uint64_t n = 0;
    while (!atomic_load_explicit(&stop_neighbour, memory_order_relaxed)) {
        switch (other) {
        case OTHER_NONE:
            __asm__ volatile("" ::: "memory");
            break;
        case OTHER_HUGE:
        case OTHER_LARGE: {
            char *p = malloc(other == OTHER_HUGE ? (size_t)4 << 20 : (size_t)128 << 10);
            tp_opaque(p);
            p[0] = 1;
            tp_use(p);
            free(p);
            n += 2;
            break;
        }
        case OTHER_MEDIUM:
            for (int i = 0; i < 64; i++) {
                char *p = malloc(tp_rng_range(&rng, 1024, 65536));
                tp_opaque(p);
                p[0] = 1;
                batch[i] = p;
            }
            for (int i = 0; i < 64; i++)
                free(batch[i]);
            n += 128;
            break;
        }
    }
    *calls = n;
    return NULL;
}

__attribute__((noinline)) static void timed_loop(long n) {
    for (long i = 0; i < n; i++) {
        char *p = malloc(64);
        tp_opaque(p);
        p[0] = (char)i;
        tp_use(p);
        free(p);
    }
}

int main(int argc, char **argv) {
    const char *name = tp_arg_str(argc, argv, "other", "none");
    static const char *names[] = {"none", "huge", "large", "medium"};
    int kind = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            kind = i;
    long n = tp_arg(argc, argv, "n", 30000000);
    seed = (uint64_t)tp_arg(argc, argv, "seed", 42);
    if (kind < 0 || n < 1) {
        fprintf(stderr, "neighbours: other must be none, huge, large or medium; n >= 1\n");
        return 2;
    }
    other = (enum other_kind)kind;
    pin_to(0);
    timed_loop(100000); /* warm the caches of both the program and the allocator */

    uint64_t calls = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, neighbour, &calls) != 0)
        return 1;
    double t0 = tp_now();
    timed_loop(n);
    double secs = tp_now() - t0;
    atomic_store(&stop_neighbour, 1);
    pthread_join(t, NULL);
    printf("RESULT bench=neighbours other=%s n=%ld cpus=%ld secs=%.6f ns_per_pair=%.3f "
           "other_mops=%.3f\n",
           name, n, sysconf(_SC_NPROCESSORS_ONLN), secs, secs / (double)n * 1e9,
           (double)calls / secs / 1e6);
    return 0;
}
