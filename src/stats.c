/*
 * stats.c - gathering statistics, and glibc's reporting functions
 * (mallinfo2, mallinfo, malloc_stats, malloc_info, malloc_trim, mallopt).
 *
 * Owns: frg_stats_collect and the glibc-compatible views of it.
 * Locking: takes each layer's lock briefly through that layer's stats
 * function (never two at once); the snapshot is therefore consistent per
 * layer, not globally, which is documented.
 */
#include "stats.h"

#include <limits.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include "central.h"
#include "fmt.h"
#include "frgmalloc.h"
#include "huge.h"
#include "init.h"
#include "large.h"
#include "meta.h"
#include "os.h"
#include "override.h"
#include "pageheap.h"
#include "pagemap.h"
#include "percpu.h"
#include "pool.h"
#include "purge.h"
#include "report.h"
#include "transfer.h"

uint64_t frg_stats_misuse_reports;
static frg_padded_lock_t collect_lock = FRG_PADDED_LOCK_INIT(FRG_RANK_PURGER);

void frg_stats_collect(struct frg_stats *st) {
    memset(st, 0, sizeof *st);
    if (!frg_ensure_init())
        return;
    static struct frg_percpu_stats pc; /* large; callers are serialised below */
    frg_lock(&collect_lock.lock);
    frg_percpu_stats(&pc);
    size_t small_out = 0, small_active = 0, small_cached = 0;
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        struct frg_central *ce = &frg_central[c];
        struct frg_class_stats *cs = &st->cls[c];
        frg_lock(&ce->lock);
        cs->slabs = ce->nslabs;
        cs->objs_out = ce->objs_out;
        cs->nmalloc = ce->nmalloc;
        cs->nfree = ce->nfree;
        cs->slabs_created = ce->slabs_created;
        cs->slabs_released = ce->slabs_released;
        cs->purged_pages = ce->purged_pages;
        frg_unlock(&ce->lock);
        cs->size = frg_class_size(c);
        cs->slab_pages = frg_classes[c].slab_pages;
        size_t in_transfer = frg_transfer_objs(c);
        size_t cached = pc.cached_objs[c] + in_transfer;
        cs->cached = cached < cs->objs_out ? cached : cs->objs_out;
        st->transfer_cached += (in_transfer < cs->cached ? in_transfer : cs->cached) * cs->size;
        small_out += cs->objs_out * cs->size;
        small_cached += cs->cached * cs->size;
        small_active += (cs->slabs * cs->slab_pages - cs->purged_pages) * FRG_PAGE;
        st->slab_purged += cs->purged_pages * FRG_PAGE;
    }
    st->percpu_cached = small_cached - st->transfer_cached;
    st->percpu_capacity = pc.capacity_bytes;
    st->cache_misses = pc.misses;
    st->cache_overflows = pc.overflows;
    st->cache_drains = pc.drains;
    size_t pc_capacity_slots = pc.capacity_slots;
    frg_unlock(&collect_lock.lock);

    struct frg_large_stats ls;
    struct frg_huge_stats hs;
    struct frg_pageheap_stats hp;
    struct frg_purge_stats ps;
    frg_large_stats(&ls);
    frg_huge_stats(&hs);
    frg_pageheap_stats(&hp);
    frg_purge_stats(&ps);

    st->small_allocated = small_out - small_cached;
    st->large_allocated = ls.live_bytes;
    st->huge_allocated = hs.live_usable;
    st->large_count = ls.live;
    st->huge_count = hs.live;
    st->huge_cached_count = hs.cached;
    st->huge_cached_bytes = hs.cached_bytes;
    st->large_cached_count = ls.cached;
    st->large_cached_bytes = ls.cached_bytes;
    st->large_cache_hits = ls.cache_hits;
    st->allocated = st->small_allocated + st->large_allocated + st->huge_allocated;
    st->active = small_active + ls.live_bytes + hs.live_mapped;
    st->fragmented = small_active > small_out ? small_active - small_out : 0;
    st->cached = small_cached + ls.cached_bytes + hs.cached_bytes;
    st->dirty = hp.dirty_pages * FRG_PAGE + frg_central_stash_bytes();
    st->retained = hp.clean_pages * FRG_PAGE + st->slab_purged;
    st->chunks = hp.chunks;
    st->free_runs = hp.free_runs;
    st->chunks_unmapped = hp.chunks_unmapped;
    st->mapped = hp.chunks * FRG_CHUNK_SIZE + hs.live_mapped + hs.cached_bytes;
    st->metadata = frg_meta_mapped() + frg_pools_resident() + frg_pagemap_committed() +
                   (size_t)frg_percpu_ncaches() * FRG_PAGE + pc_capacity_slots * sizeof(void *);
    st->resident = st->active + st->dirty + ls.cached_bytes + hs.cached_bytes + st->metadata;

    st->mmap_calls = __atomic_load_n(&frg_os_counters.mmap_calls, __ATOMIC_RELAXED);
    st->munmap_calls = __atomic_load_n(&frg_os_counters.munmap_calls, __ATOMIC_RELAXED);
    st->madvise_calls = __atomic_load_n(&frg_os_counters.madvise_calls, __ATOMIC_RELAXED);
    st->mremap_calls = __atomic_load_n(&frg_os_counters.mremap_calls, __ATOMIC_RELAXED);
    st->purged_bytes = __atomic_load_n(&frg_os_counters.purged_bytes, __ATOMIC_RELAXED);
    st->purge_passes = ps.passes;
    st->purge_wakeups = ps.wakeups;
    st->purge_offloaded = ps.offloaded;
    st->purge_bursts = ps.bursts;
    st->decayed_bytes = ps.bytes_decayed;
    st->trimmed_bytes = ps.bytes_trimmed;
    st->purger_running = ps.thread_running;
    st->misuse_reports = __atomic_load_n(&frg_stats_misuse_reports, __ATOMIC_RELAXED);
    st->ncpus = frg_percpu_ncpus();
    st->cache_mode = (unsigned)frg_fastpath.cache_mode;
    st->rseq_area = (unsigned)frg_rseq_area;
    st->rseq_own_registered = __atomic_load_n(&frg_rseq_own_registered, __ATOMIC_RELAXED);
    st->rseq_own_refused = __atomic_load_n(&frg_rseq_own_refused, __ATOMIC_RELAXED);
    if (frg_fastpath.cache_mode == FRG_CACHE_LEASE) {
        struct frg_lease_stats lst;
        frg_lease_stats(&lst);
        st->leases = frg_lease_count();
        st->leases_held = lst.held;
        st->lease_grants = lst.grants;
        st->lease_revokes = lst.revokes;
        st->lease_revoke_timeouts = lst.revoke_timeouts;
    }
}

/* ---- glibc's views ------------------------------------------------------- */

FRG_API struct mallinfo2 frg_mallinfo2(void) {
    struct frg_stats st;
    frg_stats_collect(&st);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    size_t heap = st.chunks * FRG_CHUNK_SIZE;
    size_t in_heap = st.small_allocated + st.large_allocated;
    mi.arena = heap;                        /* bytes in chunks */
    mi.ordblks = st.free_runs;              /* free page runs */
    mi.hblks = st.huge_count;               /* huge mappings in use */
    mi.hblkhd = st.huge_allocated;          /* bytes in them */
    mi.fsmblks = st.percpu_cached;          /* free objects held in caches */
    mi.uordblks = in_heap;                  /* live bytes in chunks */
    mi.fordblks = heap > in_heap ? heap - in_heap : 0;
    mi.keepcost = st.dirty;                 /* what malloc_trim would purge */
    return mi;
}

static void write_stderr_cb(void *opaque, const char *text) {
    (void)opaque;
    frg_write_stderr(text);
}

FRG_API void frg_malloc_stats(void) {
    struct frg_stats st;
    frg_stats_collect(&st);
    struct frg_sink s;
    frg_sink_init(&s, write_stderr_cb, NULL);
    /* glibc's layout, then our split of memory */
    frg_sink_printf(&s, "Arena 0:\nsystem bytes     = %10zu\nin use bytes     = %10zu\n",
                    st.chunks * FRG_CHUNK_SIZE, st.small_allocated + st.large_allocated);
    frg_sink_printf(&s, "Total (incl. mmap):\nsystem bytes     = %10zu\nin use bytes     = %10zu\n",
                    st.mapped, st.allocated);
    frg_sink_printf(&s, "max mmap regions = %10zu\nmax mmap bytes   = %10zu\n", st.huge_count,
                    st.huge_allocated);
    frg_sink_printf(&s, "frgmalloc: live %zu, cached %zu, dirty %zu, fragmented %zu, "
                        "metadata %zu, resident %zu (bytes)\n",
                    st.allocated, st.cached, st.dirty, st.fragmented, st.metadata,
                    st.resident);
    frg_sink_flush(&s);
}

static void write_file_cb(void *opaque, const char *text) { fputs(text, (FILE *)opaque); }

FRG_API int frg_malloc_info(int options, FILE *fp) {
    if (options != 0)
        return -1;
    struct frg_stats st;
    frg_stats_collect(&st);
    struct frg_sink s;
    frg_sink_init(&s, write_file_cb, fp);
    frg_sink_printf(&s, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
    for (unsigned c = 0; c < FRG_NCLASSES; c++)
        if (st.cls[c].cached)
            frg_sink_printf(&s, "<size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
                            c ? st.cls[c - 1].size + 1 : 1, st.cls[c].size,
                            st.cls[c].cached * st.cls[c].size, st.cls[c].cached);
    frg_sink_printf(&s, "</sizes>\n<total type=\"fast\" count=\"0\" size=\"%zu\"/>\n",
                    st.percpu_cached);
    frg_sink_printf(&s, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", st.free_runs,
                    st.dirty + st.retained);
    frg_sink_printf(&s, "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n",
                    st.chunks * FRG_CHUNK_SIZE, st.chunks * FRG_CHUNK_SIZE);
    frg_sink_printf(&s, "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n",
                    st.chunks * FRG_CHUNK_SIZE, st.chunks * FRG_CHUNK_SIZE);
    frg_sink_printf(&s, "</heap>\n<total type=\"fast\" count=\"0\" size=\"%zu\"/>\n",
                    st.percpu_cached);
    frg_sink_printf(&s, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", st.free_runs,
                    st.dirty + st.retained);
    frg_sink_printf(&s, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", st.huge_count,
                    st.huge_allocated);
    frg_sink_printf(&s, "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n",
                    st.mapped, st.mapped);
    frg_sink_printf(&s, "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n",
                    st.mapped, st.mapped);
    frg_sink_printf(&s, "</malloc>\n");
    frg_sink_flush(&s);
    return 0;
}

FRG_API int frg_malloc_trim(size_t pad) {
    (void)pad; /* every free page is released whatever the pad */
    return frg_purge_all() > 0;
}

FRG_API int frg_mallopt(int param, int value) {
    (void)value;
    switch (param) {
    case M_MXFAST: case M_TRIM_THRESHOLD: case M_TOP_PAD: case M_MMAP_THRESHOLD:
    case M_MMAP_MAX: case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST:
    case M_ARENA_MAX:
        return 1; /* glibc tunables with no meaning here: accepted, no effect */
    default:
        return 0;
    }
}

/* glibc's old interface with int fields (values saturate at INT_MAX). */
FRG_API struct mallinfo frg_mallinfo(void) {
    struct mallinfo2 m2 = frg_mallinfo2();
    struct mallinfo m;
#define SAT(x) ((int)((x) > INT_MAX ? INT_MAX : (x)))
    m.arena = SAT(m2.arena);
    m.ordblks = SAT(m2.ordblks);
    m.smblks = SAT(m2.smblks);
    m.hblks = SAT(m2.hblks);
    m.hblkhd = SAT(m2.hblkhd);
    m.usmblks = SAT(m2.usmblks);
    m.fsmblks = SAT(m2.fsmblks);
    m.uordblks = SAT(m2.uordblks);
    m.fordblks = SAT(m2.fordblks);
    m.keepcost = SAT(m2.keepcost);
#undef SAT
    return m;
}

FRG_OVERRIDE(mallinfo2, frg_mallinfo2)
FRG_OVERRIDE(mallinfo, frg_mallinfo)
FRG_OVERRIDE(malloc_stats, frg_malloc_stats)
FRG_OVERRIDE(malloc_info, frg_malloc_info)
FRG_OVERRIDE(malloc_trim, frg_malloc_trim)
FRG_OVERRIDE(mallopt, frg_mallopt)

void frg_stats_after_init(void) { frg_stats_print_register(); }
void frg_stats_lock(void) { frg_lock(&collect_lock.lock); }
void frg_stats_unlock(void) { frg_unlock(&collect_lock.lock); }
void frg_stats_after_fork_child(void) { frg_lock_reinit(&collect_lock.lock); }
