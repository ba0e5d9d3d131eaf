/*
 * census.c - what a program's live heap is made of at its peak, in
 * requested bytes: an LD_PRELOAD shim over glibc's malloc.
 *
 * Every allocation's requested size is kept in a side table (open
 * addressing, keyed by address) and a histogram of live requests by size
 * is maintained.  Whenever the live requested bytes pass the last snapshot
 * by 0.25 %, the histogram is copied: at exit the last copy is within
 * 0.25 % of the peak.  bench/census-model reads it and computes what each
 * allocator layout costs on top of the requests (class rounding, slab
 * tails, descriptors; glibc's chunk headers).
 *
 * One mutex around everything: the census is for single runs whose speed
 * does not matter (1 thread advised, any number works).  Allocations are
 * forwarded to the next malloc (glibc's), so the program runs unchanged.
 *
 * Build: cc -O2 -shared -fPIC -o census.so census.c -ldl -pthread
 * Use:   CENSUS_OUT=file LD_PRELOAD=./census.so program args
 * Output (file): "# peak <bytes> snapshot <bytes> big <bytes>" and one
 *   line "<size> <count>" per live request size <= 65536 in the snapshot
 *   (larger ones are summed in `big`).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HIST_MAX 65536
#define TABLE_BITS 26 /* 64 Mi slots, 1 GiB reserved, touched as used */
#define TABLE_MASK ((1ul << TABLE_BITS) - 1)
#define EMPTY 0
#define DELETED 1

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static int (*next_memalign)(void **, size_t, size_t);

static struct slot { uintptr_t key; uint64_t size; } *table;
static int64_t hist[HIST_MAX + 1], snap[HIST_MAX + 1];
static int64_t live, live_big, peak, snap_live, snap_big;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* dlsym may call calloc before next_calloc is known: serve it from here */
static char boot[1 << 16];
static size_t boot_used;

/* Runs on the first allocation, which in the programs this is for comes
 * before any thread is started: no lock. */
static void init(void) {
    if (table)
        return;
    table = mmap(NULL, sizeof *table << TABLE_BITS, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (table == MAP_FAILED)
        abort();
    next_malloc = dlsym(RTLD_NEXT, "malloc");
    next_free = dlsym(RTLD_NEXT, "free");
    next_calloc = dlsym(RTLD_NEXT, "calloc");
    next_realloc = dlsym(RTLD_NEXT, "realloc");
    next_memalign = dlsym(RTLD_NEXT, "posix_memalign");
}

static size_t home(uintptr_t key) { return (key * 0x9E3779B97F4A7C15ull) >> (64 - TABLE_BITS); }

static void note_alloc(void *p, size_t n) {
    if (!p)
        return;
    pthread_mutex_lock(&mu);
    size_t i = home((uintptr_t)p);
    while (table[i].key != EMPTY && table[i].key != DELETED)
        i = (i + 1) & TABLE_MASK;
    table[i] = (struct slot){(uintptr_t)p, n};
    live += (int64_t)n;
    if (n <= HIST_MAX)
        hist[n]++;
    else
        live_big += (int64_t)n;
    if (live > peak) {
        peak = live;
        if (live > snap_live + snap_live / 400) {
            memcpy(snap, hist, sizeof hist);
            snap_live = live;
            snap_big = live_big;
        }
    }
    pthread_mutex_unlock(&mu);
}

/* Forget p; returns its requested size (0 if it was not known). */
static size_t note_free(void *p) {
    size_t n = 0;
    if (!p)
        return 0;
    pthread_mutex_lock(&mu);
    for (size_t i = home((uintptr_t)p); table[i].key != EMPTY; i = (i + 1) & TABLE_MASK) {
        if (table[i].key == (uintptr_t)p) {
            n = table[i].size;
            live -= (int64_t)n;
            if (n <= HIST_MAX)
                hist[n]--;
            else
                live_big -= (int64_t)n;
            table[i].key = DELETED;
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return n;
}

void *malloc(size_t n) {
    init();
    void *p = next_malloc(n);
    note_alloc(p, n);
    return p;
}

void free(void *p) {
    if ((char *)p >= boot && (char *)p < boot + sizeof boot)
        return;
    init();
    note_free(p);
    next_free(p);
}

void *calloc(size_t n, size_t size) {
    if (!next_calloc) { /* dlsym's own allocation, during init() */
        size_t bytes = (n * size + 15) & ~(size_t)15;
        if (boot_used + bytes > sizeof boot)
            return NULL;
        void *p = boot + boot_used;
        boot_used += bytes;
        return p;
    }
    void *p = next_calloc(n, size);
    note_alloc(p, n * size);
    return p;
}

/* old is forgotten before the call: while it is still allocated no other
 * thread can be given its address, so its entry cannot be confused. */
void *realloc(void *old, size_t n) {
    init();
    size_t old_size = note_free(old);
    void *p = next_realloc(old, n);
    if (p)
        note_alloc(p, n);
    else if (old && n != 0)
        note_alloc(old, old_size); /* failed: old is still live */
    return p;
}

int posix_memalign(void **out, size_t align, size_t n) {
    init();
    int rc = next_memalign(out, align, n);
    if (rc == 0)
        note_alloc(*out, n);
    return rc;
}

void *aligned_alloc(size_t align, size_t n) {
    void *p;
    return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n) ? NULL : p;
}

void *memalign(size_t align, size_t n) { return aligned_alloc(align, n); }

__attribute__((destructor)) static void write_census(void) {
    static int64_t out[HIST_MAX + 1];
    const char *path = getenv("CENSUS_OUT");
    if (!path)
        return;
    /* copied under the lock, written without it: stdio allocates */
    pthread_mutex_lock(&mu);
    memcpy(out, snap, sizeof out);
    long long pk = peak, sl = snap_live, sb = snap_big;
    pthread_mutex_unlock(&mu);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return;
    }
    fprintf(f, "# peak %lld snapshot %lld big %lld\n", pk, sl, sb);
    for (size_t n = 0; n <= HIST_MAX; n++)
        if (out[n])
            fprintf(f, "%zu %lld\n", n, (long long)out[n]);
    fclose(f);
}
