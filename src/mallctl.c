/*
 * mallctl.c - the name tree behind frg_mallctl, mallctlnametomib and
 * mallctlbymib.
 *
 * Owns: the tree of names (declared once, below), the stats snapshot that
 * `epoch` refreshes, the handlers.  Locking: ctl_lock (rank CTL, the
 * outermost) guards the snapshot; handlers that act (purge, flush) take
 * the locks of the layers they call, after releasing it.
 */
#include "mallctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "frgmalloc.h"
#include "init.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "override.h"
#include "pagemap.h"
#include "percpu.h"
#include "purge.h"
#include "rseq.h"
#include "cpufence.h"
#include "sizeclass.h"
#include "stats.h"

#define ARENAS_ALL 4096 /* jemalloc's MALLCTL_ARENAS_ALL */
#define MAX_DEPTH 6

enum ctype { C_NODE, C_BOOL, C_SIZE, C_U64, C_UNSIGNED, C_U32, C_STR, C_VOID };
enum access { RO, RW, ACTION };

struct node;
typedef int (*handler_fn)(const struct node *n, const size_t *idx, void *oldp,
                          size_t *oldlenp, void *newp, size_t newlen);

struct node {
    const char *name;       /* "<i>": this level is a number */
    enum ctype type;
    enum access access;
    const struct node *kids; /* C_NODE */
    unsigned nkids;
    bool (*valid)(size_t i); /* numbered levels: accepted numbers */
    handler_fn fn;
    size_t arg;
    const char *doc;
};

static frg_padded_lock_t ctl_lock = FRG_PADDED_LOCK_INIT(FRG_RANK_CTL);
static struct frg_stats snap;
static uint64_t epoch;

/* ---- value plumbing, jemalloc semantics --------------------------------- */

static size_t type_size(enum ctype t) {
    switch (t) {
    case C_BOOL: return sizeof(bool);
    case C_SIZE: return sizeof(size_t);
    case C_U64: return sizeof(uint64_t);
    case C_UNSIGNED: return sizeof(unsigned);
    case C_U32: return sizeof(uint32_t);
    case C_STR: return sizeof(const char *);
    default: return 0;
    }
}

/* Copy a value of the node's type out; EINVAL (with a partial copy) when
 * the caller's buffer has another size. */
static int give(const struct node *n, void *oldp, size_t *oldlenp, const void *val) {
    size_t size = type_size(n->type);
    if (!oldp || !oldlenp)
        return 0;
    if (*oldlenp != size) {
        size_t c = *oldlenp < size ? *oldlenp : size;
        memcpy(oldp, val, c);
        *oldlenp = c;
        return EINVAL;
    }
    memcpy(oldp, val, size);
    return 0;
}

static int read_only(void *newp, size_t newlen) { return newp || newlen ? EPERM : 0; }

static int give_number(const struct node *n, void *oldp, size_t *oldlenp, uint64_t v) {
    switch (n->type) {
    case C_BOOL: { bool b = v != 0; return give(n, oldp, oldlenp, &b); }
    case C_SIZE: { size_t s = (size_t)v; return give(n, oldp, oldlenp, &s); }
    case C_UNSIGNED: { unsigned u = (unsigned)v; return give(n, oldp, oldlenp, &u); }
    case C_U32: { uint32_t u = (uint32_t)v; return give(n, oldp, oldlenp, &u); }
    default: return give(n, oldp, oldlenp, &v);
    }
}

static void refresh_locked(void) {
    frg_stats_collect(&snap);
    epoch++;
}

/* ---- handlers -------------------------------------------------------------- */

static int h_version(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                     void *newp, size_t newlen) {
    (void)idx;
    static const char *const v = FRGMALLOC_VERSION;
    int r = read_only(newp, newlen);
    return r ? r : give(n, oldp, oldlenp, &v);
}

static int h_epoch(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                   void *newp, size_t newlen) {
    (void)idx;
    if (newp && newlen != sizeof(uint64_t))
        return EINVAL;
    frg_lock(&ctl_lock.lock);
    if (newp || !epoch)
        refresh_locked();
    uint64_t e = epoch;
    frg_unlock(&ctl_lock.lock);
    return give(n, oldp, oldlenp, &e);
}

/* A field of the snapshot at byte offset n->arg. */
static int h_stat(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                  void *newp, size_t newlen) {
    (void)idx;
    int r = read_only(newp, newlen);
    if (r)
        return r;
    uint64_t v = 0;
    frg_lock(&ctl_lock.lock);
    if (!epoch)
        refresh_locked();
    const char *base = (const char *)&snap + n->arg;
    switch (n->type) {
    case C_BOOL: v = *(const bool *)base; break;
    case C_UNSIGNED: v = *(const unsigned *)base; break;
    case C_SIZE: v = *(const size_t *)base; break;
    default: v = *(const uint64_t *)base; break;
    }
    frg_unlock(&ctl_lock.lock);
    return give_number(n, oldp, oldlenp, v);
}

/* A field of snapshot.cls[idx[0]] at byte offset n->arg. */
static int h_bin_stat(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                      void *newp, size_t newlen) {
    int r = read_only(newp, newlen);
    if (r)
        return r;
    frg_lock(&ctl_lock.lock);
    if (!epoch)
        refresh_locked();
    const char *base = (const char *)&snap.cls[idx[0]] + n->arg;
    uint64_t v = n->type == C_U64 ? *(const uint64_t *)base : *(const size_t *)base;
    frg_unlock(&ctl_lock.lock);
    return give_number(n, oldp, oldlenp, v);
}

static int h_bin_info(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                      void *newp, size_t newlen) {
    int r = read_only(newp, newlen);
    if (r)
        return r;
    const struct frg_class_info *ci = &frg_classes[idx[0]];
    uint64_t v = n->arg == 0 ? ci->size : n->arg == 1 ? ci->nobjs : (uint64_t)ci->slab_pages * FRG_PAGE;
    return give_number(n, oldp, oldlenp, v);
}

static int h_cpu_cached(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                        void *newp, size_t newlen) {
    int r = read_only(newp, newlen);
    return r ? r : give_number(n, oldp, oldlenp, frg_percpu_cpu_cached_bytes((unsigned)idx[0]));
}

static int h_opt(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                 void *newp, size_t newlen) {
    (void)idx;
    int r = read_only(newp, newlen);
    if (r)
        return r;
    const struct frg_option_desc *d = &frg_option_table[n->arg];
    if (d->type == FRG_OPT_ENUM) {
        static char names[64][24]; /* one buffer per option: stable pointers */
        frg_option_enum_name(d, *d->value, names[n->arg % 64], sizeof names[0]);
        const char *s = names[n->arg % 64];
        return give(n, oldp, oldlenp, &s);
    }
    return give_number(n, oldp, oldlenp, *d->value);
}

static int h_const(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                   void *newp, size_t newlen) {
    (void)idx;
    int r = read_only(newp, newlen);
    return r ? r : give_number(n, oldp, oldlenp, n->arg);
}

static int h_const_str(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                       void *newp, size_t newlen) {
    (void)idx;
    int r = read_only(newp, newlen);
    const char *s = (const char *)n->arg;
    return r ? r : give(n, oldp, oldlenp, &s);
}

/* A read-only string computed when read: n->arg is a `const char *(*)(void)`. */
static int h_live_str(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                      void *newp, size_t newlen) {
    (void)idx;
    int r = read_only(newp, newlen);
    const char *s = ((const char *(*)(void))n->arg)();
    return r ? r : give(n, oldp, oldlenp, &s);
}
static const char *cache_mode_now(void) { return frg_cache_mode_name((unsigned)frg_fastpath.cache_mode); }
static const char *rseq_area_now(void) { return frg_rseq_area_name((unsigned)frg_rseq_area); }
static const char *rseq_fence_now(void) {
    return frg_rseq_fence_name(frg_fastpath.cache_mode == FRG_CACHE_RSEQ ? (unsigned)frg_cpu_fence_kind : FRG_FENCE_NONE);
}

static int action_args(void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    return oldp || oldlenp || newp || newlen ? EPERM : 0;
}

static int h_arena_purge(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                         void *newp, size_t newlen) {
    (void)n;
    (void)idx;
    int r = action_args(oldp, oldlenp, newp, newlen);
    if (!r)
        frg_purge_all();
    return r;
}

static int h_tcache_flush(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen) {
    (void)n;
    (void)idx;
    int r = action_args(oldp, oldlenp, newp, newlen);
    if (!r)
        frg_percpu_flush_current();
    return r;
}

/* ---- the tree ---------------------------------------------------------------- */

static bool valid_bin(size_t i) { return i < FRG_NCLASSES; }
static bool valid_cpu(size_t i) { return i < frg_percpu_ncpus(); }
static bool valid_arena(size_t i) { return i == 0 || i == ARENAS_ALL; }

#define KIDS(a) a, FRG_ARRAY_LEN(a)
#define DIR(nm, kids, doc) {nm, C_NODE, RO, KIDS(kids), NULL, NULL, 0, doc}
#define NUM(kids, valid, doc) {"<i>", C_NODE, RO, KIDS(kids), valid, NULL, 0, doc}
#define LEAF(nm, type, acc, fn, arg, doc) {nm, type, acc, NULL, 0, NULL, fn, (size_t)(arg), doc}
#define STAT(nm, type, field, doc) LEAF(nm, type, RO, h_stat, offsetof(struct frg_stats, field), doc)
#define BIN(nm, type, field, doc) \
    LEAF(nm, type, RO, h_bin_stat, offsetof(struct frg_class_stats, field), doc)

#ifdef FRG_DEBUG
#define CONFIG_DEBUG 1
#else
#define CONFIG_DEBUG 0
#endif
#ifdef FRG_VALGRIND
#define CONFIG_VALGRIND 1
#else
#define CONFIG_VALGRIND 0
#endif
#ifndef FRG_DEFAULT_OPTIONS
#define FRG_DEFAULT_OPTIONS ""
#endif

static const struct node config_kids[] = {
    LEAF("debug", C_BOOL, RO, h_const, CONFIG_DEBUG, "built with --enable-debug"),
    LEAF("rseq", C_BOOL, RO, h_const, FRG_HAVE_RSEQ, "built with the rseq fast path"),
    LEAF("valgrind", C_BOOL, RO, h_const, CONFIG_VALGRIND, "built with --enable-valgrind"),
    LEAF("default_options", C_STR, RO, h_const_str, FRG_DEFAULT_OPTIONS,
         "the --with-default-options string"),
};

#define OPT_INDEX(name, type, field, def, min, max, values, doc) OPT_INDEX_##name,
enum { FRG_OPTION_LIST(OPT_INDEX) OPT_COUNT };
static const struct node opt_kids[] = {
#define OPT_NODE(name, type, field, def, min, max, values, doc)                         \
    LEAF(#name, type == FRG_OPT_BOOL ? C_BOOL : type == FRG_OPT_SIZE ? C_SIZE           \
              : type == FRG_OPT_ENUM ? C_STR : C_U64,                                  \
         RO, h_opt, OPT_INDEX_##name, doc),
    FRG_OPTION_LIST(OPT_NODE)
};
_Static_assert(FRG_ARRAY_LEN(opt_kids) == OPT_COUNT, "one opt.* node per option");

static const struct node bin_info_kids[] = {
    LEAF("size", C_SIZE, RO, h_bin_info, 0, "object size of the class"),
    LEAF("nregs", C_U32, RO, h_bin_info, 1, "objects per slab"),
    LEAF("slab_size", C_SIZE, RO, h_bin_info, 2, "bytes per slab"),
};
static const struct node bin_info_num[] = {NUM(bin_info_kids, valid_bin, "size class <i>")};
static const struct node arenas_kids[] = {
    LEAF("narenas", C_UNSIGNED, RO, h_const, 1, "arenas (one heap)"),
    LEAF("page", C_SIZE, RO, h_const, FRG_PAGE, "page size"),
    LEAF("quantum", C_SIZE, RO, h_const, FRG_QUANTUM, "alignment of every object"),
    LEAF("nbins", C_UNSIGNED, RO, h_const, FRG_NCLASSES, "number of small size classes"),
    DIR("bin", bin_info_num, "size classes"),
};

static const struct node arena_i_kids[] = {
    LEAF("purge", C_VOID, ACTION, h_arena_purge, 0,
         "purge everything now: per-CPU and transfer caches, dirty pages, cached huge mappings"),
};
static const struct node arena_num[] = {NUM(arena_i_kids, valid_arena, "arena 0, or 4096 for all")};

static const struct node tcache_kids[] = {
    LEAF("flush", C_VOID, ACTION, h_tcache_flush, 0,
         "return the cache of the CPU the caller runs on to the central lists"),
};
static const struct node thread_kids[] = {DIR("tcache", tcache_kids, "per-CPU cache")};

static const struct node bins_kids[] = {
    BIN("size", C_SIZE, size, "object size"),
    BIN("curregs", C_SIZE, objs_out, "objects outside their slabs (live or cached)"),
    BIN("cached", C_SIZE, cached, "objects in per-CPU caches and the transfer cache"),
    BIN("curslabs", C_SIZE, slabs, "slabs"),
    BIN("nmalloc", C_U64, nmalloc, "objects taken out of slabs, ever"),
    BIN("ndalloc", C_U64, nfree, "objects put back into slabs, ever"),
    BIN("nslabs", C_U64, slabs_created, "slabs created, ever"),
    BIN("nreslabs", C_U64, slabs_released, "slabs released to the page heap, ever"),
};
static const struct node bins_num[] = {NUM(bins_kids, valid_bin, "size class <i>")};

static const struct node cpu_kids[] = {
    LEAF("cached", C_SIZE, RO, h_cpu_cached, 0, "bytes of free objects in this CPU's cache (live value)"),
};
static const struct node cpu_num[] = {NUM(cpu_kids, valid_cpu, "CPU <i>")};
static const struct node percpu_kids[] = {
    LEAF("mode", C_STR, RO, h_live_str, (uintptr_t)cache_mode_now, "rseq, lease, lock or off"),
    LEAF("rseq_area", C_STR, RO, h_live_str, (uintptr_t)rseq_area_now, "whose rseq area the fast paths use: glibc, frgmalloc or none"),
    LEAF("rseq_fence", C_STR, RO, h_live_str, (uintptr_t)rseq_fence_now, "how drains wait out another CPU's sequences: membarrier, migrate or none"),
    STAT("rseq_registered", C_U64, rseq_own_registered, "threads that registered frgmalloc's own rseq area"),
    STAT("rseq_refused", C_U64, rseq_own_refused, "threads the kernel refused it (they bypass the CPU caches)"),
    STAT("leases", C_UNSIGNED, leases, "lease mode: caches that threads may hold (0 in other modes)"),
    STAT("leases_held", C_UNSIGNED, leases_held, "lease mode: leases held by threads now"),
    STAT("lease_grants", C_U64, lease_grants, "lease mode: leases given to threads"),
    STAT("lease_revokes", C_U64, lease_revokes, "lease mode: leases taken back (trim, idle decay, thread exit)"),
    STAT("lease_revoke_timeouts", C_U64, lease_revoke_timeouts, "lease mode: drains that gave up waiting for a holder stopped in its fast path"),
    STAT("ncpus", C_UNSIGNED, ncpus, "CPU ids with a cache"),
    STAT("cached", C_SIZE, percpu_cached, "bytes of free objects in all CPU caches"),
    STAT("capacity", C_SIZE, percpu_capacity, "bytes all caches may hold right now"),
    STAT("misses", C_U64, cache_misses, "allocations that refilled a cache"),
    STAT("overflows", C_U64, cache_overflows, "frees that flushed a cache"),
    STAT("drains", C_U64, cache_drains, "whole-CPU drains (trim, idle decay)"),
    DIR("cpu", cpu_num, "per CPU"),
};

static const struct node purge_kids[] = {
    STAT("bytes", C_U64, purged_bytes, "bytes passed to madvise, ever"),
    STAT("madvise_calls", C_U64, madvise_calls,
         "purging system calls (madvise, or process_madvise for a batch of runs), ever"),
    STAT("passes", C_U64, purge_passes, "decay passes of the purger thread"),
    STAT("wakeups", C_U64, purge_wakeups, "purger thread wake-ups"),
    STAT("offloaded", C_U64, purge_offloaded, "eager purges the purger thread ran for a free (purge_offload)"),
    STAT("bursts", C_U64, purge_bursts,
         "ends of free bursts (pages in use fell by half, then held still): caches drained, purged as if idle"),
    STAT("decayed", C_U64, decayed_bytes, "bytes returned by decay passes"),
    STAT("trimmed", C_U64, trimmed_bytes, "bytes returned by malloc_trim / arena.<i>.purge"),
    STAT("thread", C_BOOL, purger_running, "the purger thread runs"),
};
static const struct node os_kids[] = {
    STAT("mmap_calls", C_U64, mmap_calls, "mmap calls, ever"),
    STAT("munmap_calls", C_U64, munmap_calls, "munmap calls, ever"),
    STAT("mremap_calls", C_U64, mremap_calls, "mremap calls, ever"),
};
static const struct node large_kids[] = {
    STAT("allocated", C_SIZE, large_allocated, "bytes in large objects"),
    STAT("count", C_SIZE, large_count, "large objects"),
    STAT("cached", C_SIZE, large_cached_bytes, "bytes of freed large runs kept for reuse"),
    STAT("cached_count", C_SIZE, large_cached_count, "freed large runs kept"),
    STAT("cache_hits", C_U64, large_cache_hits, "large allocations served from runs kept in the shards, ever (hits of the CPU caches are not counted)"),
};
static const struct node huge_kids[] = {
    STAT("allocated", C_SIZE, huge_allocated, "bytes in huge objects"),
    STAT("count", C_SIZE, huge_count, "huge objects"),
    STAT("cached", C_SIZE, huge_cached_bytes, "bytes of freed huge mappings kept for reuse"),
    STAT("cached_count", C_SIZE, huge_cached_count, "freed huge mappings kept"),
};
static const struct node stats_kids[] = {
    STAT("allocated", C_SIZE, allocated, "bytes in live objects"),
    STAT("active", C_SIZE, active, "bytes of pages holding live objects or slabs"),
    STAT("metadata", C_SIZE, metadata, "bytes of allocator metadata that may be resident"),
    STAT("resident", C_SIZE, resident, "upper bound of the allocator's resident bytes"),
    STAT("mapped", C_SIZE, mapped, "bytes in chunks and huge mappings"),
    STAT("retained", C_SIZE, retained, "bytes mapped but purged (not resident)"),
    STAT("dirty", C_SIZE, dirty, "free pages not purged yet"),
    STAT("cached", C_SIZE, cached, "free objects in per-CPU and transfer caches, cached huge mappings"),
    STAT("transfer_cached", C_SIZE, transfer_cached, "bytes of free objects in the transfer cache"),
    STAT("fragmented", C_SIZE, fragmented, "free space inside slabs that hold live objects"),
    STAT("slab_purged", C_SIZE, slab_purged, "free pages inside slabs that hold live objects, given back to the OS"),
    STAT("small_allocated", C_SIZE, small_allocated, "bytes in live small objects"),
    STAT("misuse_reports", C_U64, misuse_reports, "double or invalid frees reported"),
    LEAF("pagemap", C_STR, RO, h_live_str, (uintptr_t)frg_pagemap_layout, "page-map layout in use: flat or tree (option pagemap)"),
    DIR("large", large_kids, "large objects (64 KiB - 1 MiB)"),
    DIR("huge", huge_kids, "huge objects (> 1 MiB)"),
    DIR("percpu", percpu_kids, "per-CPU caches"),
    DIR("purge", purge_kids, "returning memory to the OS"),
    DIR("os", os_kids, "system calls"),
    DIR("bins", bins_num, "size classes"),
};

static const struct node root_kids[] = {
    LEAF("version", C_STR, RO, h_version, 0, "library version"),
    LEAF("epoch", C_U64, RW, h_epoch, 0, "write to refresh the stats.* snapshot; read: its number"),
    DIR("config", config_kids, "how the library was built"),
    DIR("opt", opt_kids, "option values in force"),
    DIR("arenas", arenas_kids, "heap-wide constants"),
    DIR("arena", arena_num, "heap operations"),
    DIR("thread", thread_kids, "the calling thread"),
    DIR("stats", stats_kids, "statistics (snapshot taken at the last epoch)"),
};
static const struct node root = {"", C_NODE, RO, KIDS(root_kids), NULL, NULL, 0, ""};

/* ---- lookup ---------------------------------------------------------------- */

/* Walk one level: a name component or a number. */
static const struct node *step(const struct node *n, const char *comp, size_t len, size_t *mib,
                               size_t *idx, size_t *nidx) {
    if (n->type != C_NODE || !len)
        return NULL;
    if (n->nkids == 1 && n->kids[0].valid) {
        size_t v = 0;
        for (size_t i = 0; i < len; i++) {
            if (comp[i] < '0' || comp[i] > '9' || v > (SIZE_MAX - 9) / 10)
                return NULL;
            v = v * 10 + (size_t)(comp[i] - '0');
        }
        if (!n->kids[0].valid(v))
            return NULL;
        *mib = v;
        idx[(*nidx)++] = v;
        return &n->kids[0];
    }
    for (unsigned k = 0; k < n->nkids; k++)
        if (strlen(n->kids[k].name) == len && !strncmp(n->kids[k].name, comp, len)) {
            *mib = k;
            return &n->kids[k];
        }
    return NULL;
}

static const struct node *resolve(const char *name, size_t *mib, size_t *depth, size_t *idx) {
    const struct node *n = &root;
    size_t d = 0, nidx = 0;
    const char *p = name;
    while (n && p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (d == MAX_DEPTH)
            return NULL;
        n = step(n, p, len, &mib[d++], idx, &nidx);
        p = dot ? dot + 1 : NULL;
    }
    *depth = d;
    return n;
}

static const struct node *resolve_mib(const size_t *mib, size_t miblen, size_t *idx) {
    const struct node *n = &root;
    size_t nidx = 0;
    for (size_t d = 0; d < miblen && n; d++) {
        if (n->type != C_NODE)
            return NULL;
        if (n->nkids == 1 && n->kids[0].valid) {
            if (!n->kids[0].valid(mib[d]))
                return NULL;
            idx[nidx++] = mib[d];
            n = &n->kids[0];
        } else {
            n = mib[d] < n->nkids ? &n->kids[mib[d]] : NULL;
        }
    }
    return n;
}

static int call(const struct node *n, const size_t *idx, void *oldp, size_t *oldlenp,
                void *newp, size_t newlen) {
    if (!n || n->type == C_NODE)
        return ENOENT;
    if (!frg_ensure_init())
        return EAGAIN;
    return n->fn(n, idx, oldp, oldlenp, newp, newlen);
}

FRG_API int frg_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
                        size_t newlen) {
    size_t mib[MAX_DEPTH], depth, idx[MAX_DEPTH];
    if (!name)
        return ENOENT;
    return call(resolve(name, mib, &depth, idx), idx, oldp, oldlenp, newp, newlen);
}

FRG_API int frg_mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp) {
    size_t mib[MAX_DEPTH], depth, idx[MAX_DEPTH];
    if (!name || !mibp || !miblenp)
        return EINVAL;
    if (!resolve(name, mib, &depth, idx))
        return ENOENT;
    if (*miblenp < depth) {
        memcpy(mibp, mib, *miblenp * sizeof *mib); /* jemalloc fills what fits */
        return ENOENT;
    }
    memcpy(mibp, mib, depth * sizeof *mib);
    *miblenp = depth;
    return 0;
}

FRG_API int frg_mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                             void *newp, size_t newlen) {
    size_t idx[MAX_DEPTH];
    if (!mib || miblen > MAX_DEPTH)
        return ENOENT;
    return call(resolve_mib(mib, miblen, idx), idx, oldp, oldlenp, newp, newlen);
}

FRG_OVERRIDE(mallctl, frg_mallctl)
FRG_OVERRIDE(mallctlnametomib, frg_mallctlnametomib)
FRG_OVERRIDE(mallctlbymib, frg_mallctlbymib)

/* ---- documentation ------------------------------------------------------------ */

static const char *type_name(enum ctype t) {
    static const char *const names[] = {"", "bool", "size_t", "uint64_t", "unsigned",
                                        "uint32_t", "const char *", "(action)"};
    return names[t];
}

static void doc_walk(struct frg_sink *s, const struct node *n, char *path, size_t len) {
    for (unsigned k = 0; k < n->nkids; k++) {
        const struct node *c = &n->kids[k];
        size_t l = len + frg_snprintf(path + len, 256 - len, "%s%s", len ? "." : "", c->name);
        if (c->type == C_NODE)
            doc_walk(s, c, path, l);
        else
            frg_sink_printf(s, "| `%s` | %s | %s | %s |\n", path, type_name(c->type),
                            c->access == RO ? "r-" : c->access == RW ? "rw" : "--", c->doc);
        path[len] = '\0';
    }
}

void frg_mallctl_doc(void (*write)(void *, const char *), void *opaque) {
    struct frg_sink s;
    char path[256] = "";
    frg_sink_init(&s, write, opaque);
    frg_sink_printf(&s, "| name | type | access | meaning |\n| --- | --- | --- | --- |\n");
    doc_walk(&s, &root, path, 0);
    frg_sink_flush(&s);
}

void frg_mallctl_lock(void) { frg_lock(&ctl_lock.lock); }
void frg_mallctl_unlock(void) { frg_unlock(&ctl_lock.lock); }
void frg_mallctl_reinit_lock(void) { frg_lock_reinit(&ctl_lock.lock); }
