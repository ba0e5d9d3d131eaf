/*
 * malloc_large.c - the "malloc-large" pattern: allocate, touch, free, repeat.
 *
 * Each iteration allocates one block of random size between --min and --max
 * MiB (default 5-25 MiB), writes one byte in every page of it (so every page
 * is really faulted in), reads a few of them back, and frees it.  An
 * allocator that gives such blocks back to the kernel on every free (munmap
 * or madvise) pays the page faults again on every iteration; one that keeps
 * (some of) them pays only the writes.  Prints the wall time of the loop.
 *
 * Variants: --fill writes every byte (memset) instead of one byte per page;
 * --slots K keeps K blocks live and each iteration replaces a random one
 * (--slots 20 --fill is close to mimalloc-bench's malloc-large, which keeps
 * 20 zero-initialised buffers).  The default is --slots 1, page touches.
 *
 * Run the allocator under test with LD_PRELOAD; its name is detected via
 * dlsym (frg_malloc, mi_collect, MallocExtension_ReleaseFreeMemory, mallctl,
 * otherwise glibc) unless --name is given.
 * Build: cc -O2 -pthread -o malloc_large malloc_large.c -ldl
 * Usage: malloc_large [--iters N] [--min MIB] [--max MIB] [--slots K] [--fill]
 *                     [--seed X] [--name L]
 * Output: a human line and
 *   RESULT alloc=<name> iters=N min_mib=.. max_mib=.. slots=K fill=0|1 wall_s=..
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static const char *detect_allocator(void)
{
    if (dlsym(RTLD_DEFAULT, "frg_malloc"))
        return "frgmalloc";
    if (dlsym(RTLD_DEFAULT, "mi_collect"))
        return "mimalloc";
    if (dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"))
        return "tcmalloc";
    if (dlsym(RTLD_DEFAULT, "mallctl"))
        return "jemalloc";
    return "glibc";
}

static void usage(void)
{
    fprintf(stderr, "usage: malloc_large [--iters N] [--min MIB] [--max MIB] "
                    "[--slots K] [--fill] [--seed X] [--name LABEL]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long iters = 2000;
    double min_mib = 5, max_mib = 25;
    uint64_t seed = 42;
    const char *name = NULL;
    int slots = 1, fill = 0;
    static const struct option lo[] = {
        { "iters", 1, 0, 'i' }, { "min", 1, 0, 'a' }, { "max", 1, 0, 'b' },
        { "seed", 1, 0, 's' }, { "name", 1, 0, 'N' }, { "slots", 1, 0, 'k' },
        { "fill", 0, 0, 'f' }, { "help", 0, 0, 'h' },
        { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'i': iters = atol(optarg); break;
        case 'a': min_mib = atof(optarg); break;
        case 'b': max_mib = atof(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'N': name = optarg; break;
        case 'k': slots = atoi(optarg); break;
        case 'f': fill = 1; break;
        default: usage();
        }
    }
    if (optind != argc || iters < 1 || min_mib <= 0 || max_mib < min_mib ||
        slots < 1 || slots > 1024)
        usage();
    if (!name)
        name = detect_allocator();
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;

    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t lo_b = (size_t)(min_mib * 1048576.0);
    const size_t span = (size_t)((max_mib - min_mib) * 1048576.0) + 1;
    uint64_t check = 0, total = 0;

    unsigned char *blk[1024] = { 0 };
    size_t blksz[1024] = { 0 };
    unsigned char blkv[1024] = { 0 };

    double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        int k = slots == 1 ? 0 : (int)(rng_next() % (uint64_t)slots);
        if (blk[k]) {
            unsigned char *q = blk[k];
            size_t qs = blksz[k];
            /* read back a few pages so the writes cannot be elided */
            if (q[0] != blkv[k] || q[qs - 1] != blkv[k] ||
                q[(qs / 2) & ~(page - 1)] != blkv[k]) {
                fprintf(stderr, "malloc_large: pattern mismatch\n");
                return 2;
            }
            check += q[(qs / 3) & ~(page - 1)];
            free(q);
        }
        size_t sz = lo_b + (size_t)(rng_next() % span);
        unsigned char *p = malloc(sz);
        if (!p) {
            fprintf(stderr, "malloc_large: malloc(%zu) failed\n", sz);
            return 2;
        }
        unsigned char v = (unsigned char)(i * 31 + 7);
        if (fill) {
            memset(p, v, sz);
        } else {
            for (size_t off = 0; off < sz; off += page)
                p[off] = v;
            p[sz - 1] = v;
        }
        blk[k] = p;
        blksz[k] = sz;
        blkv[k] = v;
        total += sz;
        if (slots == 1) {                    /* the basic pattern: free now */
            if (p[0] != v || p[sz - 1] != v || p[(sz / 2) & ~(page - 1)] != v) {
                fprintf(stderr, "malloc_large: pattern mismatch\n");
                return 2;
            }
            check += p[(sz / 3) & ~(page - 1)];
            free(p);
            blk[k] = NULL;
        }
    }
    for (int k = 0; k < slots; k++)
        free(blk[k]);
    double wall = now_s() - t0;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("malloc_large: alloc=%s %ld iterations of %g-%g MiB, %d live, %s "
           "(%.1f GiB allocated): %.3f s, %.1f us/iter, %ld minor faults, check %llu\n",
           name, iters, min_mib, max_mib, slots, fill ? "memset" : "page touches",
           (double)total / 1073741824.0, wall,
           wall * 1e6 / (double)iters, ru.ru_minflt, (unsigned long long)check);
    printf("RESULT alloc=%s iters=%ld min_mib=%g max_mib=%g slots=%d fill=%d wall_s=%.4f "
           "minflt=%ld maxrss_kib=%ld\n", name, iters, min_mib, max_mib, slots, fill, wall,
           ru.ru_minflt, ru.ru_maxrss);
    return 0;
}
