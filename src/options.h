/*
 * options.h - run-time options, declared once.
 *
 * FRG_OPTION_LIST is the single list of options: their names, types,
 * defaults, bounds and one-line documentation.  options.c builds the parser
 * and the `opt.<name>` mallctl entries from it; docs/options.md describes
 * the same list.  Values are read at initialisation from, in order (later
 * wins): the compiled-in default string (configure
 * --with-default-options), the program's global `frg_malloc_conf`, and the
 * FRGMALLOC_CONF environment variable, each "key:value,key:value".
 */
#ifndef FRG_OPTIONS_H
#define FRG_OPTIONS_H

#include "util.h"

enum frg_opt_type { FRG_OPT_BOOL, FRG_OPT_SIZE, FRG_OPT_UINT, FRG_OPT_ENUM };

/* The default of a number option whose value is worked out at start-up
 * (the value "auto"); the module that owns the option replaces it. */
#define FRG_OPT_AUTO UINT64_MAX

enum { FRG_MISUSE_ABORT, FRG_MISUSE_REPORT };
enum { FRG_PURGE_DONTNEED, FRG_PURGE_FREE };
enum { FRG_ORDER_FULLEST, FRG_ORDER_ADDRESS };
enum { FRG_PAGEMAP_FLAT, FRG_PAGEMAP_TREE };
enum { FRG_PERCPU_AUTO, FRG_PERCPU_RSEQ, FRG_PERCPU_LEASE, FRG_PERCPU_LOCK, FRG_PERCPU_OFF };
enum { FRG_RSEQ_OWN_AUTO, FRG_RSEQ_OWN_ALWAYS, FRG_RSEQ_OWN_NEVER };
enum { FRG_FENCE_OPT_AUTO, FRG_FENCE_OPT_MIGRATE };

/* X(name, type, field, default, min, max, enum values, doc) */
#define FRG_OPTION_LIST(X)                                                              \
    X(misuse, FRG_OPT_ENUM, misuse, FRG_MISUSE_ABORT, 0, 1, "abort|report",             \
      "what to do on a double or invalid free: abort, or report and ignore the call")   \
    X(purge, FRG_OPT_ENUM, purge, FRG_PURGE_DONTNEED, 0, 1, "dontneed|free",            \
      "how pages are returned: MADV_DONTNEED (RSS drops at once) or MADV_FREE")         \
    X(dirty_min, FRG_OPT_SIZE, dirty_min, 4u << 20, 0, (size_t)1 << 40, NULL,          \
      "freed pages kept resident for reuse before purging at once, in bytes")           \
    X(dirty_ratio, FRG_OPT_UINT, dirty_ratio, 25, 0, 100, NULL,                         \
      "or this percentage of the pages in use, if more (see dirty_min)")                  \
    X(decay_ms, FRG_OPT_UINT, decay_ms, 500, 0, 3600000, NULL,                          \
      "idle time after which kept pages and cached objects go back to the OS")          \
    X(purge_vector, FRG_OPT_BOOL, purge_vector, 1, 0, 1, NULL,                          \
      "purge a batch of runs with one process_madvise where the kernel allows it")      \
    X(purge_offload, FRG_OPT_BOOL, purge_offload, 0, 0, 1, NULL,                        \
      "over the dirty budget, free() asks the purger thread to purge (itself past twice the budget)") \
    X(background, FRG_OPT_BOOL, background, 1, 0, 1, NULL,                              \
      "run a purger thread so an idle process also returns memory")                     \
    X(retain_max, FRG_OPT_SIZE, retain_max, 64u << 20, 0, (size_t)1 << 40, NULL,       \
      "bytes of wholly free chunks kept mapped (already purged) before unmapping")      \
    X(huge_cache_max, FRG_OPT_SIZE, huge_cache_max, 64u << 20, 0, (size_t)1 << 40,     \
      NULL, "bytes of freed huge mappings kept for reuse until they decay")            \
    X(large_cache_max, FRG_OPT_SIZE, large_cache_max, 8u << 20, 0, (size_t)1 << 40,    \
      NULL, "bytes of freed large runs (64 KiB - 1 MiB) each CPU keeps in its cache, and as many in its shard of the run cache, until unused for decay_ms (cache) or a purger tick (shard)") \
    X(slab_order, FRG_OPT_ENUM, slab_order, FRG_ORDER_FULLEST, 0, 1, "fullest|address", \
      "which non-full slab a size class allocates from first")                         \
    X(pagemap, FRG_OPT_ENUM, pagemap, FRG_PAGEMAP_FLAT, 0, 1, "flat|tree",              \
      "page-map layout: flat = the entry's load does not wait for the root's, in 256 GiB of reserved address space (inaccessible until used: no memory, nothing for mlockall; tree where it is refused, or under a ulimit -v or a finite ulimit -l of 64 MiB or more); tree = the root's load, then the leaf's") \
    X(percpu, FRG_OPT_ENUM, percpu, FRG_PERCPU_AUTO, 0, 4, "auto|rseq|lease|lock|off",  \
      "per-CPU cache mode: auto picks rseq when the kernel allows it (on glibc's rseq area or frgmalloc's, see rseq_own), else lease where membarrier works, else lock") \
    X(leases, FRG_OPT_UINT, leases, 0, 0, 1024, NULL,                                   \
      "lease mode: threads that may hold a cache of their own at once (0: two per CPU)") \
    X(rseq_own, FRG_OPT_ENUM, rseq_own, FRG_RSEQ_OWN_AUTO, 0, 2, "auto|always|never",     \
      "register frgmalloc's own rseq area where glibc has none: auto = libfrgmalloc.so on glibc before 2.35; always = also libfrgmalloc.a (which then pins its module, see api.md) and with glibc.pthread.rseq=0") \
    X(rseq_fence, FRG_OPT_ENUM, rseq_fence, FRG_FENCE_OPT_AUTO, 0, 1, "auto|migrate",       \
      "how a drain waits out another CPU's rseq sequences: auto = membarrier (Linux 5.10; lease or lock mode without it); migrate = move the draining thread onto that CPU (for older kernels; see design.md)") \
    X(cache_max, FRG_OPT_SIZE, cache_max, FRG_OPT_AUTO, 0, 64u << 20, NULL,             \
      "bytes of free objects each CPU's cache may hold; auto = 32 MiB shared by the caches (one a CPU, and one a lease in lease mode), 2 - 16 MiB each; opt.cache_max reads the value chosen") \
    X(transfer_max, FRG_OPT_SIZE, transfer_max, 4u << 20, 0, 1u << 30, NULL,            \
      "bytes of free objects the transfer cache between CPU caches and slabs may hold " \
      "(objects of one-object slabs also within the dirty budget)")                      \
    X(stats_print, FRG_OPT_BOOL, stats_print, 0, 0, 1, NULL,                            \
      "print statistics on stderr when the program exits")                             \
    X(stats_json, FRG_OPT_BOOL, stats_json, 0, 0, 1, NULL,                              \
      "print those exit statistics as JSON")                                            \
    X(publish, FRG_OPT_BOOL, publish, 1, 0, 1, NULL,                                    \
      "publish live statistics in /dev/shm for frgmalloc-stat")                        \
    X(fault_mmap, FRG_OPT_UINT, fault_mmap, 0, 0, UINT64_MAX, NULL,                     \
      "testing: make the Nth mmap after start-up fail (0 = never)")                                    \
    X(fault_madvise, FRG_OPT_UINT, fault_madvise, 0, 0, UINT64_MAX, NULL,               \
      "testing: make the Nth madvise after start-up fail (0 = never)")

struct frg_options {
#define FRG_OPT_FIELD(name, type, field, def, min, max, values, doc) uint64_t field;
    FRG_OPTION_LIST(FRG_OPT_FIELD)
#undef FRG_OPT_FIELD
};

FRG_HIDDEN extern struct frg_options frg_opt;

struct frg_option_desc {
    const char *name;
    enum frg_opt_type type;
    uint64_t *value;
    uint64_t def, min, max;
    const char *values; /* "a|b|c" for enums */
    const char *doc;
};
FRG_HIDDEN extern const struct frg_option_desc frg_option_table[];
FRG_HIDDEN extern const unsigned frg_option_count;

/* Read all option sources; called once from initialisation. */
FRG_HIDDEN void frg_options_init(void);
/* Apply one "k:v,k:v" string; `origin` names the source in warnings. */
FRG_HIDDEN void frg_options_parse(const char *conf, const char *origin);
/* Name of an enum option's current value ("abort"), for printing. */
FRG_HIDDEN size_t frg_option_enum_name(const struct frg_option_desc *d, uint64_t v,
                                       char *buf, size_t size);

#endif
