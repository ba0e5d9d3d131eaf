/*
 * stats_print.c - human and machine readable statistics: text and JSON
 * from frg_malloc_stats_print, and the report at exit (option stats_print).
 *
 * Owns: the text and JSON layouts.  Locking: none of its own; it reads one
 * snapshot (frg_stats_collect) and formats it without allocating.
 */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "frgmalloc.h"
#include "options.h"
#include "override.h"
#include "report.h"
#include "cpufence.h"
#include "rseq.h"
#include "stats.h"

static void to_stderr(void *opaque, const char *text) {
    (void)opaque;
    frg_write_stderr(text);
}

static void print_text(struct frg_sink *s, const struct frg_stats *st, bool bins) {
    frg_sink_printf(s, "___ Begin frgmalloc statistics ___\n");
    frg_sink_printf(s, "Version: %s\n", FRGMALLOC_VERSION);
    frg_sink_printf(s, "Per-CPU caches: %s, %u CPUs, cache_max %llu bytes each; rseq area: %s",
                    frg_cache_mode_name(st->cache_mode), st->ncpus,
                    (unsigned long long)frg_opt.cache_max, frg_rseq_area_name(st->rseq_area));
    if (st->rseq_area == FRG_RSEQ_AREA_OWN)
        frg_sink_printf(s, " (%llu threads registered, %llu refused)",
                        (unsigned long long)st->rseq_own_registered,
                        (unsigned long long)st->rseq_own_refused);
    if (st->cache_mode == FRG_CACHE_RSEQ)
        frg_sink_printf(s, "; drain fence: %s", frg_rseq_fence_name((unsigned)frg_cpu_fence_kind));
    if (st->cache_mode == FRG_CACHE_LEASE)
        frg_sink_printf(s, "; leases: %u, %u held (%llu granted, %llu taken back, %llu waits given up)",
                        st->leases, st->leases_held, (unsigned long long)st->lease_grants,
                        (unsigned long long)st->lease_revokes,
                        (unsigned long long)st->lease_revoke_timeouts);
    frg_sink_printf(s, "\n");
    frg_sink_printf(s, "Memory (bytes):\n");
    frg_sink_printf(s, "  live (allocated)      %14zu\n", st->allocated);
    frg_sink_printf(s, "  cached                %14zu   free objects in CPU and transfer caches + large and huge caches\n", st->cached);
    frg_sink_printf(s, "  dirty                 %14zu   freed pages not yet purged\n", st->dirty);
    frg_sink_printf(s, "  fragmented            %14zu   free slots in slabs with live objects\n", st->fragmented);
    frg_sink_printf(s, "  metadata              %14zu\n", st->metadata);
    frg_sink_printf(s, "  resident (upper bound)%14zu\n", st->resident);
    frg_sink_printf(s, "  active                %14zu\n", st->active);
    frg_sink_printf(s, "  mapped                %14zu\n", st->mapped);
    frg_sink_printf(s, "  retained (purged)     %14zu\n", st->retained);
    frg_sink_printf(s, "Objects: small %zu bytes; large %zu in %zu bytes (+%zu cached in %zu bytes, "
                       "%llu reused); huge %zu in %zu bytes (+%zu cached in %zu bytes)\n",
                    st->small_allocated, st->large_count, st->large_allocated,
                    st->large_cached_count, st->large_cached_bytes,
                    (unsigned long long)st->large_cache_hits, st->huge_count,
                    st->huge_allocated, st->huge_cached_count, st->huge_cached_bytes);
    frg_sink_printf(s, "Purging: %llu madvise calls, %llu bytes purged; decay passes %llu "
                       "(%llu bytes), trims %llu bytes; purger thread %s, %llu eager purges "
                       "offloaded to it; %llu ends of free bursts\n",
                    (unsigned long long)st->madvise_calls, (unsigned long long)st->purged_bytes,
                    (unsigned long long)st->purge_passes, (unsigned long long)st->decayed_bytes,
                    (unsigned long long)st->trimmed_bytes, st->purger_running ? "running" : "off",
                    (unsigned long long)st->purge_offloaded, (unsigned long long)st->purge_bursts);
    frg_sink_printf(s, "Caches: %llu refills, %llu flushes, %llu drains; %zu bytes cached of "
                       "%zu capacity; transfer cache %zu bytes\n",
                    (unsigned long long)st->cache_misses, (unsigned long long)st->cache_overflows,
                    (unsigned long long)st->cache_drains, st->percpu_cached, st->percpu_capacity,
                    st->transfer_cached);
    frg_sink_printf(s, "System: %zu chunks (%zu unmapped), %llu mmap, %llu munmap, %llu mremap; "
                       "misuse reports %llu\n",
                    st->chunks, st->chunks_unmapped, (unsigned long long)st->mmap_calls,
                    (unsigned long long)st->munmap_calls, (unsigned long long)st->mremap_calls,
                    (unsigned long long)st->misuse_reports);
    if (bins) {
        frg_sink_printf(s, "Size classes (in use):\n  %5s %7s %8s %10s %8s %12s %12s %5s\n",
                        "class", "size", "slabs", "curregs", "cached", "nmalloc", "ndalloc",
                        "util");
        for (unsigned c = 0; c < FRG_NCLASSES; c++) {
            const struct frg_class_stats *cs = &st->cls[c];
            if (!cs->slabs && !cs->nmalloc)
                continue;
            size_t capacity = cs->slabs * (cs->slab_pages * 4096 / cs->size);
            unsigned util = capacity ? (unsigned)((cs->objs_out - cs->cached) * 100 / capacity) : 0;
            frg_sink_printf(s, "  %5u %7zu %8zu %10zu %8zu %12llu %12llu %4u%%\n", c, cs->size,
                            cs->slabs, cs->objs_out, cs->cached, (unsigned long long)cs->nmalloc,
                            (unsigned long long)cs->nfree, util);
        }
    }
    frg_sink_printf(s, "___ End frgmalloc statistics ___\n");
}

static void print_json(struct frg_sink *s, const struct frg_stats *st, bool bins) {
    frg_sink_printf(s, "{\"frgmalloc\": {\"version\": \"%s\", \"percpu_mode\": \"%s\", "
                       "\"ncpus\": %u, \"rseq_area\": \"%s\", \"rseq_own_registered\": %llu, "
                       "\"rseq_own_refused\": %llu, \"leases\": %u, \"leases_held\": %u, "
                       "\"lease_grants\": %llu, \"lease_revokes\": %llu, "
                       "\"lease_revoke_timeouts\": %llu,\n", FRGMALLOC_VERSION,
                    frg_cache_mode_name(st->cache_mode), st->ncpus,
                    frg_rseq_area_name(st->rseq_area),
                    (unsigned long long)st->rseq_own_registered,
                    (unsigned long long)st->rseq_own_refused, st->leases, st->leases_held,
                    (unsigned long long)st->lease_grants, (unsigned long long)st->lease_revokes,
                    (unsigned long long)st->lease_revoke_timeouts);
    frg_sink_printf(s, " \"stats\": {\"allocated\": %zu, \"cached\": %zu, \"dirty\": %zu, "
                       "\"fragmented\": %zu, \"metadata\": %zu, \"resident\": %zu, "
                       "\"active\": %zu, \"mapped\": %zu, \"retained\": %zu,\n",
                    st->allocated, st->cached, st->dirty, st->fragmented, st->metadata,
                    st->resident, st->active, st->mapped, st->retained);
    frg_sink_printf(s, "  \"small_allocated\": %zu, \"large\": {\"count\": %zu, \"allocated\": %zu, "
                       "\"cached_count\": %zu, \"cached\": %zu, \"cache_hits\": %llu}, "
                       "\"huge\": {\"count\": %zu, \"allocated\": %zu, \"cached_count\": %zu, "
                       "\"cached\": %zu},\n",
                    st->small_allocated, st->large_count, st->large_allocated,
                    st->large_cached_count, st->large_cached_bytes,
                    (unsigned long long)st->large_cache_hits, st->huge_count,
                    st->huge_allocated, st->huge_cached_count, st->huge_cached_bytes);
    frg_sink_printf(s, "  \"percpu\": {\"cached\": %zu, \"capacity\": %zu, \"misses\": %llu, "
                       "\"overflows\": %llu, \"drains\": %llu},\n",
                    st->percpu_cached, st->percpu_capacity, (unsigned long long)st->cache_misses,
                    (unsigned long long)st->cache_overflows, (unsigned long long)st->cache_drains);
    frg_sink_printf(s, "  \"transfer\": {\"cached\": %zu},\n", st->transfer_cached);
    frg_sink_printf(s, "  \"purge\": {\"bytes\": %llu, \"madvise_calls\": %llu, \"passes\": %llu, "
                       "\"decayed\": %llu, \"trimmed\": %llu, \"offloaded\": %llu, "
                       "\"bursts\": %llu, \"thread\": %s},\n",
                    (unsigned long long)st->purged_bytes, (unsigned long long)st->madvise_calls,
                    (unsigned long long)st->purge_passes, (unsigned long long)st->decayed_bytes,
                    (unsigned long long)st->trimmed_bytes, (unsigned long long)st->purge_offloaded,
                    (unsigned long long)st->purge_bursts, st->purger_running ? "true" : "false");
    frg_sink_printf(s, "  \"os\": {\"chunks\": %zu, \"chunks_unmapped\": %zu, \"mmap_calls\": %llu, "
                       "\"munmap_calls\": %llu, \"mremap_calls\": %llu},\n",
                    st->chunks, st->chunks_unmapped, (unsigned long long)st->mmap_calls,
                    (unsigned long long)st->munmap_calls, (unsigned long long)st->mremap_calls);
    frg_sink_printf(s, "  \"misuse_reports\": %llu}", (unsigned long long)st->misuse_reports);
    if (bins) {
        frg_sink_printf(s, ",\n \"bins\": [");
        for (unsigned c = 0; c < FRG_NCLASSES; c++) {
            const struct frg_class_stats *cs = &st->cls[c];
            frg_sink_printf(s, "%s\n  {\"size\": %zu, \"slab_size\": %zu, \"curslabs\": %zu, "
                               "\"curregs\": %zu, \"cached\": %zu, \"nmalloc\": %llu, "
                               "\"ndalloc\": %llu}",
                            c ? "," : "", cs->size, cs->slab_pages * 4096, cs->slabs,
                            cs->objs_out, cs->cached, (unsigned long long)cs->nmalloc,
                            (unsigned long long)cs->nfree);
        }
        frg_sink_printf(s, "]");
    }
    frg_sink_printf(s, "}}\n");
}

FRG_API void frg_malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                                    const char *opts) {
    struct frg_stats st;
    struct frg_sink s;
    bool json = opts && strchr(opts, 'J'), bins = !(opts && strchr(opts, 'b'));
    frg_stats_collect(&st);
    frg_sink_init(&s, write_cb ? write_cb : to_stderr, cbopaque);
    if (json)
        print_json(&s, &st, bins);
    else
        print_text(&s, &st, bins);
    frg_sink_flush(&s);
}

FRG_OVERRIDE(malloc_stats_print, frg_malloc_stats_print)

static void print_at_exit(void) {
    frg_malloc_stats_print(NULL, NULL, frg_opt.stats_json ? "J" : "");
}

/* Called once the allocator is initialised (outside malloc's locks). */
void frg_stats_print_register(void) {
    if (frg_opt.stats_print)
        atexit(print_at_exit);
}
