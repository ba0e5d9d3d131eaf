/*
 * trim.c - how long malloc_trim(0) takes after a burst of small objects
 * was freed, and how much it gives back.
 *
 * Usage: trim [n=100000] [rounds=3]
 *   n       small objects (16-352 B, eight sizes in turn) allocated, each
 *           touched, then all freed; `rounds` times over
 * Output: RESULT bench=trim n=N rss_before_kib=A rss_after_kib=B trim_ms=T rc=R
 *
 * The system calls the trim makes are counted with strace, e.g.
 *   LD_PRELOAD=<lib> strace -f -c -e trace=madvise,process_madvise bench/out/trim
 * Only allocators whose malloc_trim acts on their own heap (glibc,
 * frgmalloc) give a meaningful figure; under another allocator the call
 * reaches glibc's, which has nothing to trim.
 */
#include <malloc.h>

#include "tp_common.h"

int main(int argc, char **argv) {
    long n = tp_arg(argc, argv, "n", 100000), rounds = tp_arg(argc, argv, "rounds", 3);
    if (n < 1 || rounds < 1) {
        fprintf(stderr, "trim: n and rounds must be >= 1\n");
        return 2;
    }
    char **p = malloc((size_t)n * sizeof *p);
    if (!p)
        return 1;
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < n; i++) {
            p[i] = malloc(16 + (size_t)(i % 8) * 48);
            if (!p[i])
                return 1;
            p[i][0] = 1;
        }
        for (long i = 0; i < n; i++)
            free(p[i]);
    }
    long before = tp_rss_kib();
    double t0 = tp_now();
    int rc = malloc_trim(0);
    double ms = (tp_now() - t0) * 1000.0;
    long after = tp_rss_kib();
    printf("RESULT bench=trim n=%ld rss_before_kib=%ld rss_after_kib=%ld trim_ms=%.3f rc=%d\n", n,
           before, after, ms, rc);
    free(p);
    return 0;
}
