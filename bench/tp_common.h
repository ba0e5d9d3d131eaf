/*
 * tp_common.h - helpers shared by the throughput benchmarks (fastpath.c,
 * batches.c, prodcons.c, larson.c, scaling.c, threads512.c).
 *
 * Header-only, no dependencies beyond libc and pthreads.  Provides:
 *   - tp_now():        CLOCK_MONOTONIC in seconds (double);
 *   - tp_span_mark():  called by every worker thread when it starts and
 *                      when it ends; tp_span_secs() is then the wall time
 *                      from the first start to the last end.  (Timing from
 *                      main is wrong with more threads than CPUs: after a
 *                      barrier main may get the CPU only after the workers
 *                      have run.)
 *   - tp_arg():        "key=value" command-line arguments with defaults;
 *   - tp_rng:          xorshift64* generator, one per thread, no locking;
 *   - tp_opaque*():    compiler barriers that hide a pointer's origin so
 *                      gcc cannot pair a malloc with a free and delete both;
 *   - tp_rss_kib():    VmRSS / RssAnon from /proc/self/status, read with
 *                      open/read into a stack buffer (no malloc involved).
 *
 * Every benchmark prints exactly one line starting with "RESULT " made of
 * space-separated key=value fields; bench/throughput parses those lines.
 * Programs are built with plain `cc -O2 -pthread` and run under each
 * allocator via LD_PRELOAD, so nothing here may depend on the allocator.
 */
#ifndef TP_COMMON_H
#define TP_COMMON_H

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double tp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static _Atomic uint64_t tp_span_lo = UINT64_MAX, tp_span_hi = 0;

static inline void tp_span_mark(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t v = atomic_load(&tp_span_lo);
    while (t < v && !atomic_compare_exchange_weak(&tp_span_lo, &v, t))
        ;
    v = atomic_load(&tp_span_hi);
    while (t > v && !atomic_compare_exchange_weak(&tp_span_hi, &v, t))
        ;
}

static inline double tp_span_secs(void) {
    return (double)(atomic_load(&tp_span_hi) - atomic_load(&tp_span_lo)) * 1e-9;
}

/* Value of "key=..." among argv[1..], or `def` if absent. */
static inline const char *tp_arg_str(int argc, char **argv, const char *key, const char *def) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return def;
}

static inline long tp_arg(int argc, char **argv, const char *key, long def) {
    const char *s = tp_arg_str(argc, argv, key, NULL);
    if (!s)
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 'k' || *end == 'K')
        v *= 1000;
    else if (*end == 'm' || *end == 'M')
        v *= 1000000;
    return v;
}

static inline double tp_arg_f(int argc, char **argv, const char *key, double def) {
    const char *s = tp_arg_str(argc, argv, key, NULL);
    return s ? strtod(s, NULL) : def;
}

/* xorshift64* (Vigna): fast, good enough to pick sizes and slots. */
typedef struct {
    uint64_t s;
} tp_rng;

static inline void tp_rng_seed(tp_rng *r, uint64_t seed) {
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (r->s == 0)
        r->s = 1;
}

static inline uint64_t tp_rng_next(tp_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi] (inclusive); the tiny modulo bias does not matter. */
static inline size_t tp_rng_range(tp_rng *r, size_t lo, size_t hi) {
    return lo + (size_t)((tp_rng_next(r) >> 11) % (hi - lo + 1));
}

/* After `p = malloc(n); tp_opaque(p);` the compiler no longer knows that p
 * came from malloc, so it must keep both the malloc and the later free. */
#define tp_opaque(p) __asm__ volatile("" : "+r"(p))
/* Pretend p's memory is read and written: keeps stores to *p. */
#define tp_use(p) __asm__ volatile("" : : "r"(p) : "memory")

/* Reads "<field>:   N kB" from /proc/self/status; -1 on error.  Uses only
 * the stack so sampling does not itself allocate. */
static inline long tp_status_kib(const char *field) {
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = 0, r;
    while (len < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += r;
    close(fd);
    buf[len < 0 ? 0 : len] = '\0';
    size_t n = strlen(field);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            return strtol(line + n + 1, NULL, 10);
    return -1;
}

static inline long tp_rss_kib(void) { return tp_status_kib("VmRSS"); }

#endif
