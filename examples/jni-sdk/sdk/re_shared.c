/*
 * re_shared.c - the rule engine SDK's process-wide state: counters, the
 * intern table of symbols and the metrics registry.
 *
 * The intern table and the registry are created lazily by the first VM
 * and never freed, like the global caches of real SDKs.  They grow while
 * VMs come and go (every VM interns a few names of its own and registers
 * two metrics), so their small long-lived allocations are made in between
 * the VMs' allocations: ~1.4% of all allocations (re_selftest measures
 * it).  One mutex protects both; metric values are updated with atomics.
 * RE_SHARED=0 in the environment (read at first use) or re_set_shared(0)
 * makes new VMs keep private copies instead (see ruleengine.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "re_internal.h"
#include "ruleengine.h"

uint64_t re_g_created, re_g_destroyed, re_g_events, re_g_allocs;

typedef struct re_sym {
    struct re_sym *next;
    uint32_t hash, len;
    char name[]; /* NUL-terminated */
} re_sym;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_allocs_shared; /* under g_mu */
static re_sym **g_syms;          /* buckets, grown with RE_CALLOC + rehash */
static size_t g_nbuckets, g_nsyms;
static re_metric **g_metrics;    /* registry, grown with RE_REALLOC */
static size_t g_nmetrics, g_capmetrics;
static int g_shared = -1;        /* -1: read RE_SHARED on first use */

void *re_chk(void *p, size_t n) {
    if (p == NULL && n != 0) {
        fprintf(stderr, "ruleengine: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

uint32_t re_hash(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

void re_set_shared(int enabled) { __atomic_store_n(&g_shared, enabled ? 1 : 0, __ATOMIC_RELAXED); }

int re_shared_enabled(void) {
    int v = __atomic_load_n(&g_shared, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("RE_SHARED");
        v = (e != NULL && e[0] == '0') ? 0 : 1;
        int expected = -1;
        __atomic_compare_exchange_n(&g_shared, &expected, v, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
        v = __atomic_load_n(&g_shared, __ATOMIC_RELAXED);
    }
    return v;
}

const char *re_intern(const char *s, size_t len) {
    uint32_t h = re_hash(s, len);
    pthread_mutex_lock(&g_mu);
    if (g_syms == NULL) { /* created lazily, never freed */
        g_nbuckets = 1024;
        g_syms = re_chk(RE_CALLOC(g_nbuckets, sizeof *g_syms), g_nbuckets * sizeof *g_syms);
        g_allocs_shared++;
    }
    re_sym *e;
    for (e = g_syms[h & (g_nbuckets - 1)]; e != NULL; e = e->next)
        if (e->hash == h && e->len == len && memcmp(e->name, s, len) == 0)
            break;
    if (e == NULL) {
        if (g_nsyms >= g_nbuckets) { /* grow: a new, larger long-lived array */
            size_t nb = g_nbuckets * 2;
            re_sym **b = re_chk(RE_CALLOC(nb, sizeof *b), nb * sizeof *b);
            for (size_t i = 0; i < g_nbuckets; i++) {
                while (g_syms[i] != NULL) {
                    re_sym *m = g_syms[i];
                    g_syms[i] = m->next;
                    m->next = b[m->hash & (nb - 1)];
                    b[m->hash & (nb - 1)] = m;
                }
            }
            RE_FREE(g_syms);
            g_syms = b;
            g_nbuckets = nb;
            g_allocs_shared++;
        }
        e = re_chk(RE_MALLOC(sizeof *e + len + 1), sizeof *e + len + 1);
        e->hash = h;
        e->len = (uint32_t)len;
        memcpy(e->name, s, len);
        e->name[len] = '\0';
        e->next = g_syms[h & (g_nbuckets - 1)];
        g_syms[h & (g_nbuckets - 1)] = e;
        g_nsyms++;
        g_allocs_shared++;
    }
    pthread_mutex_unlock(&g_mu);
    return e->name;
}

re_metric *re_metric_register(const char *name) {
    re_metric *m = re_chk(RE_CALLOC(1, sizeof *m), sizeof *m);
    m->name = name;
    pthread_mutex_lock(&g_mu);
    if (g_nmetrics == g_capmetrics) {
        size_t cap = g_capmetrics ? g_capmetrics * 2 : 64;
        g_metrics = re_chk(RE_REALLOC(g_metrics, cap * sizeof *g_metrics), cap * sizeof *g_metrics);
        g_capmetrics = cap;
        g_allocs_shared++;
    }
    g_metrics[g_nmetrics++] = m;
    g_allocs_shared++;
    pthread_mutex_unlock(&g_mu);
    return m;
}

void re_get_counters(re_counters *out) {
    out->vms_created = __atomic_load_n(&re_g_created, __ATOMIC_RELAXED);
    out->vms_destroyed = __atomic_load_n(&re_g_destroyed, __ATOMIC_RELAXED);
    out->events = __atomic_load_n(&re_g_events, __ATOMIC_RELAXED);
    out->allocs_total = __atomic_load_n(&re_g_allocs, __ATOMIC_RELAXED);
    pthread_mutex_lock(&g_mu);
    out->allocs_shared = g_allocs_shared;
    out->shared_symbols = g_nsyms;
    out->shared_metrics = g_nmetrics;
    pthread_mutex_unlock(&g_mu);
    out->allocs_total += out->allocs_shared;
}

const char *re_heap_name(void) { return RE_HEAP; }
