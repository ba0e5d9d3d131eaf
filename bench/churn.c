/*
 * churn.c - the "JNI SDK" churn benchmark: does RSS come back after a burst?
 *
 * Models a Java service whose native SDK creates N interpreter "VMs" (object
 * graphs of ~100 KiB: many small skewed-size objects, lists, a tree, arrays
 * grown with realloc, a few 8-64 KiB buffers), sends events to them (temporary
 * allocations, some realloc, and mutation of VM objects), then destroys them
 * all from a thread pool (shuffled, so most frees are cross-thread), after
 * which the process goes idle with the pool threads parked.  A share PCT of
 * allocations, interleaved with the VM work, is long-lived (an intern cache)
 * and kept until exit.
 *
 * RSS (VmRSS from /proc/self/status, read with open/read into a stack buffer)
 * is sampled: baseline (after warm-up, before building), peak (sampler thread
 * every 10 ms during build/events/destroy), right after the last free, and at
 * +1 s, +5 s, +10 s of idle.  Nothing calls the allocator between the last
 * free and the end of idle sampling (the sampler and main thread only use
 * open/read/clock_nanosleep; the trace is kept in a pre-mapped buffer and
 * written at the end).  With --purge the allocator's own explicit purge is
 * called once right after the last free, before the after-free sample.
 *
 * The workload (the VM object graph, events, long-lived objects) is in
 * churn_vm.c; this file runs the threads, samples RSS and reports.
 * Run the allocator under test with LD_PRELOAD; it is detected via dlsym.
 * Build: cc -O2 -pthread -o churn churn.c churn_vm.c -ldl
 * Usage: churn [--vms N] [--threads T] [--longlived PCT] [--events E]
 *              [--idle S] [--purge] [--trace FILE] [--seed X] [--name LABEL]
 * Output (stdout, at the end): human-readable lines and one line
 *   RESULT alloc=... threads=... longlived=... purge=... baseline_kib=... ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "churn.h"

/* ---------------------------------------------------------------- options */
static long opt_vms = 10000;
static int opt_threads = 1;
static double opt_longlived = 1.5;
static int opt_events = 20;
static double opt_idle = 10.0;
static int opt_purge = 0;
static const char *opt_trace = NULL;
static uint64_t opt_seed = 12345;
static const char *opt_name = NULL;

void die(const char *msg)
{
    /* stderr is unbuffered: no allocation here. */
    (void)!write(2, "churn: ", 7);
    (void)!write(2, msg, strlen(msg));
    (void)!write(2, "\n", 1);
    _exit(2);
}

/* ------------------------------------------------------------ time, RSS */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_s(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec * 1e-6;
}

static void sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* VmRSS in KiB, read without any allocation (stack buffer, open/read). */
static long read_rss_kib(void)
{
    char buf[8192];
    size_t len = 0;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("cannot open /proc/self/status");
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    char *p = strstr(buf, "VmRSS:");
    if (!p)
        die("no VmRSS in /proc/self/status");
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    long v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return v;
}

static struct vm **g_vms;
static struct worker *g_workers;
static pthread_barrier_t g_bar;
static pthread_mutex_t g_park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_park_cv = PTHREAD_COND_INITIALIZER;
static int g_exit;

/* ------------------------------------------------------------- threads */
static void *worker_main(void *arg)
{
    struct worker *w = arg;

    /* warm-up: set up this thread's caches/arenas before the baseline */
    void *warm[256];
    for (int i = 0; i < 256; i++) {
        size_t sz = i == 0 ? 32768 : small_size(&w->rng);
        warm[i] = xmalloc(sz);
        memset(warm[i], 1, sz);
    }
    for (int i = 0; i < 256; i++)
        free(warm[i]);

    pthread_barrier_wait(&g_bar);            /* B1: warm-up done */
    pthread_barrier_wait(&g_bar);            /* B2: build starts */

    for (size_t i = 0; i < w->nvms; i++) {
        w->vms[i] = vm_create(w);
        for (int e = 0; e < opt_events; e++)
            vm_event(w, w->vms[rng_below(&w->rng, (uint32_t)(i + 1))]);
    }

    pthread_barrier_wait(&g_bar);            /* B3: build done */
    pthread_barrier_wait(&g_bar);            /* B4: shuffled, destroy */

    for (size_t i = 0; i < w->nkill; i++)
        vm_destroy(w, w->kill[i]);
    w->t_done = now_s();

    pthread_barrier_wait(&g_bar);            /* B5: all freed */

    /* parked like an idle pool thread: no allocator calls */
    pthread_mutex_lock(&g_park_mu);
    while (!g_exit)
        pthread_cond_wait(&g_park_cv, &g_park_mu);
    pthread_mutex_unlock(&g_park_mu);
    return NULL;
}

/* --------------------------------------------------------- the sampler */
enum { PH_WARMUP, PH_BUILD, PH_DESTROY, PH_PURGE, PH_IDLE, PH_NPHASES };
static const char *const phase_name[PH_NPHASES] =
    { "warmup", "build", "destroy", "purge", "idle" };

/* 8 bytes a sample; t relative to program start (g_tstart) */
struct sample { float t; uint32_t rss_kib : 28, phase : 4; };
static double g_tstart;
static struct sample *g_trace;
static size_t g_trace_cap, g_trace_n;
static _Atomic int g_phase = PH_WARMUP;
static _Atomic long g_peak;
static _Atomic int g_stop;

static void *sampler_main(void *arg)
{
    (void)arg;
    double next = now_s();
    unsigned iter = 0;
    while (!atomic_load(&g_stop)) {
        long rss = read_rss_kib();
        int ph = atomic_load(&g_phase);
        if ((ph == PH_BUILD || ph == PH_DESTROY) && rss > atomic_load(&g_peak))
            atomic_store(&g_peak, rss);
        if (iter % 5 == 0 && g_trace_n < g_trace_cap) {
            g_trace[g_trace_n].t = (float)(now_s() - g_tstart);
            g_trace[g_trace_n].rss_kib = (uint32_t)rss & 0xFFFFFFFu;
            g_trace[g_trace_n].phase = (unsigned)ph;
            g_trace_n++;
        }
        iter++;
        next += 0.010;
        double t = now_s();
        if (next < t)
            next = t;
        sleep_until(next);
    }
    return NULL;
}

/* ---------------------------------------------------- explicit purge */
typedef int (*trim_fn)(size_t);
typedef void (*mi_collect_fn)(bool);
typedef void (*tc_release_fn)(void);
typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

enum { K_GLIBC, K_FRG, K_MI, K_TC, K_JE };
static int g_kind = K_GLIBC;
static const char *g_alloc = "glibc";
static const char *g_purge_how = "none";
static const char *g_purge_short = "malloc_trim";
static void *g_purge_sym;

static void detect_allocator(void)
{
    if (dlsym(RTLD_DEFAULT, "frg_malloc")) {
        g_kind = K_FRG;
        g_alloc = "frgmalloc";
        g_purge_how = "malloc_trim(0)";
        g_purge_sym = dlsym(RTLD_DEFAULT, "malloc_trim");
    } else if ((g_purge_sym = dlsym(RTLD_DEFAULT, "mi_collect"))) {
        g_kind = K_MI;
        g_alloc = "mimalloc";
        g_purge_how = "mi_collect(true)";
        g_purge_short = "mi_collect";
    } else if ((g_purge_sym = dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"))) {
        g_kind = K_TC;
        g_alloc = "tcmalloc";
        g_purge_how = "MallocExtension_ReleaseFreeMemory()";
        g_purge_short = "ReleaseFreeMemory";
    } else if ((g_purge_sym = dlsym(RTLD_DEFAULT, "mallctl"))) {
        g_kind = K_JE;
        g_alloc = "jemalloc";
        g_purge_how = "mallctl(\"arena.4096.purge\")";
        g_purge_short = "arena.4096.purge";
    } else {
        g_alloc = "glibc";
        g_purge_how = "malloc_trim(0)";
        g_purge_sym = dlsym(RTLD_DEFAULT, "malloc_trim");
    }
    if (!g_purge_sym)
        die("purge function not found");
}

static void do_purge(void)
{
    if (g_kind == K_MI)
        ((mi_collect_fn)g_purge_sym)(true);
    else if (g_kind == K_TC)
        ((tc_release_fn)g_purge_sym)();
    else if (g_kind == K_JE) {
        if (((mallctl_fn)g_purge_sym)("arena.4096.purge", NULL, NULL, NULL, 0) != 0)
            die("jemalloc arena.4096.purge failed");
    } else
        ((trim_fn)g_purge_sym)(0);
}

/* ---------------------------------------------------------------- main */
static void usage(void)
{
    fprintf(stderr,
            "usage: churn [--vms N] [--threads T] [--longlived PCT] [--events E]\n"
            "             [--idle S] [--purge] [--trace FILE] [--seed X] [--name L]\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        { "vms", 1, 0, 'n' }, { "threads", 1, 0, 't' }, { "longlived", 1, 0, 'l' },
        { "events", 1, 0, 'e' }, { "idle", 1, 0, 'i' }, { "purge", 0, 0, 'p' },
        { "trace", 1, 0, 'T' }, { "seed", 1, 0, 's' }, { "name", 1, 0, 'N' },
        { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'n': opt_vms = atol(optarg); break;
        case 't': opt_threads = atoi(optarg); break;
        case 'l': opt_longlived = atof(optarg); break;
        case 'e': opt_events = atoi(optarg); break;
        case 'i': opt_idle = atof(optarg); break;
        case 'p': opt_purge = 1; break;
        case 'T': opt_trace = optarg; break;
        case 's': opt_seed = strtoull(optarg, NULL, 0); break;
        case 'N': opt_name = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || opt_vms < 1 || opt_threads < 1 || opt_threads > 1024 ||
        opt_longlived < 0 || opt_longlived >= 50 || opt_events < 0 || opt_idle < 0)
        usage();
    if (opt_vms < opt_threads)
        opt_threads = (int)opt_vms;
}

static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap failed");
    return p;
}

static void write_trace(double t0, double t_free)
{
    int fd = open(opt_trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(opt_trace);
        return;
    }
    char line[256];
    int n = snprintf(line, sizeof line,
                     "# churn trace alloc=%s threads=%d longlived=%g purge=%d\n"
                     "# free_end_t=%.3f\n# t_seconds rss_kib phase\n",
                     g_alloc, opt_threads, opt_longlived, opt_purge, t_free - t0);
    (void)!write(fd, line, (size_t)n);
    for (size_t i = 0; i < g_trace_n; i++) {
        n = snprintf(line, sizeof line, "%.3f %u %s\n",
                     (double)g_trace[i].t - (t0 - g_tstart),
                     (unsigned)g_trace[i].rss_kib, phase_name[g_trace[i].phase]);
        (void)!write(fd, line, (size_t)n);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    detect_allocator();
    if (opt_name)
        g_alloc = opt_name;

    int T = opt_threads;
    size_t N = (size_t)opt_vms;

    /* benchmark bookkeeping lives outside the allocator, pre-touched */
    g_vms = map_zeroed(N * sizeof *g_vms);
    memset(g_vms, 0, N * sizeof *g_vms);
    g_workers = map_zeroed((size_t)T * sizeof *g_workers);
    /* trace: 20 samples/s for idle + 15 min, pre-touched so that filling
     * it during idle does not add pages to RSS; a longer run is truncated */
    g_tstart = now_s();
    g_trace_cap = (size_t)((opt_idle + 900.0) * 20.0);
    g_trace = map_zeroed(g_trace_cap * sizeof *g_trace);
    memset(g_trace, 0, g_trace_cap * sizeof *g_trace);

    /* PCT of all allocations long-lived: p per workload allocation, so
     * that ll / (ll + work) = PCT / 100. */
    double frac = opt_longlived / 100.0;
    double p = frac / (1.0 - frac);
    uint64_t ll_threshold = (uint64_t)(p * 4294967296.0);

    for (int i = 0; i < T; i++) {
        struct worker *w = &g_workers[i];
        w->id = i;
        rng_seed(&w->rng, opt_seed * 1000003ULL + (uint64_t)i + 1);
        size_t lo = N * (size_t)i / (size_t)T, hi = N * (size_t)(i + 1) / (size_t)T;
        w->vms = g_vms + lo;
        w->nvms = hi - lo;
        w->kill = g_vms + lo;          /* same slots, shuffled before destroy */
        w->nkill = hi - lo;
        w->ll_threshold = ll_threshold;
    }

    if (pthread_barrier_init(&g_bar, NULL, (unsigned)T + 1) != 0)
        die("pthread_barrier_init");
    pthread_t sampler;
    if (pthread_create(&sampler, NULL, sampler_main, NULL) != 0)
        die("pthread_create sampler");
    for (int i = 0; i < T; i++)
        if (pthread_create(&g_workers[i].th, NULL, worker_main, &g_workers[i]) != 0)
            die("pthread_create worker");

    pthread_barrier_wait(&g_bar);                     /* B1: warm-up done */
    usleep(100000);                                   /* let RSS settle */
    long baseline = read_rss_kib();
    double t0 = now_s();
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    atomic_store(&g_peak, baseline);
    atomic_store(&g_phase, PH_BUILD);
    pthread_barrier_wait(&g_bar);                     /* B2: build */

    pthread_barrier_wait(&g_bar);                     /* B3: build done */
    long rss_built = read_rss_kib();
    atomic_store(&g_phase, PH_DESTROY);
    /* shuffle so a VM is usually freed by another thread than its creator */
    struct rng mr;
    rng_seed(&mr, opt_seed ^ 0xC0FFEEULL);
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = rng_below(&mr, (uint32_t)(i + 1));
        struct vm *tmp = g_vms[i];
        g_vms[i] = g_vms[j];
        g_vms[j] = tmp;
    }
    pthread_barrier_wait(&g_bar);                     /* B4: destroy */
    pthread_barrier_wait(&g_bar);                     /* B5: all freed */

    /* ---- from here until the end of idle: no allocator calls ---- */
    double t_free = 0;
    for (int i = 0; i < T; i++)
        if (g_workers[i].t_done > t_free)
            t_free = g_workers[i].t_done;
    getrusage(RUSAGE_SELF, &ru1);
    long prepurge = read_rss_kib();
    long peak = atomic_load(&g_peak);
    if (rss_built > peak) peak = rss_built;
    if (prepurge > peak) peak = prepurge;
    double purge_ms = 0;
    if (opt_purge) {
        atomic_store(&g_phase, PH_PURGE);
        double a = now_s();
        do_purge();
        purge_ms = (now_s() - a) * 1000.0;
    }
    long afterfree = read_rss_kib();
    atomic_store(&g_phase, PH_IDLE);

    static const double marks[3] = { 1.0, 5.0, 10.0 };
    long at[3] = { -1, -1, -1 };
    for (int k = 0; k < 3; k++) {
        if (marks[k] > opt_idle)
            break;
        sleep_until(t_free + marks[k]);
        at[k] = read_rss_kib();
    }
    sleep_until(t_free + opt_idle);
    long tend = read_rss_kib();
    /* ---- idle sampling done ---- */

    atomic_store(&g_stop, 1);
    pthread_join(sampler, NULL);
    pthread_mutex_lock(&g_park_mu);
    g_exit = 1;
    pthread_cond_broadcast(&g_park_cv);
    pthread_mutex_unlock(&g_park_mu);
    for (int i = 0; i < T; i++)
        pthread_join(g_workers[i].th, NULL);

    uint64_t ll_bytes = 0, ll_count = 0, nalloc = 0, checksum = 0;
    for (int i = 0; i < T; i++) {
        struct worker *w = &g_workers[i];
        ll_bytes += w->ll_bytes;
        ll_count += w->ll_count;
        nalloc += w->nalloc;
        struct obj *o = w->ll_head;
        while (o) {
            struct obj *n = o->next;
            obj_check(w, o);
            free(o);
            o = n;
        }
        checksum += w->checksum;
    }

    if (opt_trace)
        write_trace(t0, t_free);

    double wall = t_free - t0;
    double cpu = tv_s(&ru1.ru_utime) + tv_s(&ru1.ru_stime) -
                 tv_s(&ru0.ru_utime) - tv_s(&ru0.ru_stime);
    double grow = (double)(peak - baseline);
    double ret1 = (at[0] >= 0 && grow > 0) ? 100.0 * (double)(at[0] - baseline) / grow : -1;
    printf("churn: alloc=%s vms=%zu threads=%d events=%d longlived=%g%% seed=%llu\n",
           g_alloc, N, T, opt_events, opt_longlived, (unsigned long long)opt_seed);
    printf("  allocations: %llu workload + %llu long-lived (%.2f%%), live %.1f KiB\n",
           (unsigned long long)nalloc, (unsigned long long)ll_count,
           100.0 * (double)ll_count / (double)(nalloc + ll_count + (nalloc + ll_count == 0)),
           (double)ll_bytes / 1024.0);
    printf("  RSS KiB: baseline %ld, peak %ld, built %ld, after-free %ld, +1s %ld, "
           "+5s %ld, +10s %ld, end(+%gs) %ld\n", baseline, peak, rss_built, afterfree,
           at[0], at[1], at[2], opt_idle, tend);
    if (opt_purge)
        printf("  purge: %s called after the last free, before the after-free sample "
               "(RSS %ld -> %ld KiB, %.1f ms)\n", g_purge_how, prepurge, afterfree, purge_ms);
    else
        printf("  purge: none (idle only)\n");
    printf("  retained at +1s: %.1f%% of growth; build+events+destroy: wall %.3f s, "
           "cpu %.3f s; checksum %llu\n", ret1, wall, cpu, (unsigned long long)checksum);
    printf("RESULT alloc=%s threads=%d vms=%zu events=%d longlived=%g purge=%d "
           "purge_fn=%s baseline_kib=%ld peak_kib=%ld built_kib=%ld prepurge_kib=%ld "
           "afterfree_kib=%ld t1_kib=%ld t5_kib=%ld t10_kib=%ld tend_kib=%ld "
           "live_kib=%.1f ll_share=%.3f retained1_pct=%.2f purge_ms=%.2f wall_s=%.4f "
           "cpu_s=%.4f\n",
           g_alloc, T, N, opt_events, opt_longlived, opt_purge,
           opt_purge ? g_purge_short : "none",
           baseline, peak, rss_built, prepurge, afterfree, at[0], at[1], at[2], tend,
           (double)ll_bytes / 1024.0,
           100.0 * (double)ll_count / (double)(nalloc + ll_count + (nalloc + ll_count == 0)),
           ret1, purge_ms, wall, cpu);
    return 0;
}
