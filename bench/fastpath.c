/*
 * fastpath.c - single-thread malloc+free pairs of one size: the allocator's
 * fast path with a hot cache.
 *
 * Usage: fastpath [size=64] [n=50000000] [warm=100000] [live=16]
 *   size  bytes per malloc (the runner uses 16, 64 and 256);
 *   n     timed malloc+free pairs;
 *   warm  untimed pairs first (allocator initialisation, cache fill);
 *   live  objects of the same size allocated first and kept for the whole
 *         run, as a real program has: without them the pair empties its
 *         slab/page on every free, which sends some allocators (mimalloc:
 *         page retire on every free) down a slow path no program hits.
 * Output: RESULT bench=fastpath size=S n=N secs=T ns_per_pair=X
 *
 * The loop is the function fastpath_loop (kept out of line): its own
 * instructions are what bench/fastpath-instr subtracts from callgrind's
 * totals to get the allocator's instructions per pair.
 *
 * gcc may delete a malloc whose result is only freed.  tp_opaque() hides
 * the pointer's origin from the compiler and the byte written into each
 * object is declared as used (tp_use), so every iteration really calls
 * malloc and free (check with: objdump -d bench/out/fastpath | grep call).
 */
#include "tp_common.h"

__attribute__((noinline)) void fastpath_loop(long n, size_t size) {
    for (long i = 0; i < n; i++) {
        char *p = malloc(size);
        tp_opaque(p);
        p[0] = (char)i;
        tp_use(p);
        free(p);
    }
}

int main(int argc, char **argv) {
    size_t size = (size_t)tp_arg(argc, argv, "size", 64);
    long n = tp_arg(argc, argv, "n", 50000000);
    long warm = tp_arg(argc, argv, "warm", 100000);
    long live = tp_arg(argc, argv, "live", 16);
    if (size == 0 || n < 0 || warm < 0 || live < 0 || live > 4096) {
        fprintf(stderr, "fastpath: need size >= 1, n >= 0, warm >= 0, live 0..4096\n");
        return 2;
    }
    static char *keep[4096];
    for (long i = 0; i < live; i++) {
        keep[i] = malloc(size);
        tp_opaque(keep[i]);
        keep[i][0] = 1;
    }
    fastpath_loop(warm, size);
    double t0 = tp_now();
    fastpath_loop(n, size);
    double secs = tp_now() - t0;
    printf("RESULT bench=fastpath size=%zu n=%ld live=%ld secs=%.6f ns_per_pair=%.3f\n", size, n,
           live, secs, n ? secs * 1e9 / (double)n : 0.0);
    for (long i = 0; i < live; i++)
        free(keep[i]);
    return 0;
}
