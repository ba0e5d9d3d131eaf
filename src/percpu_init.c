/*
 * percpu_init.c - setting the per-CPU caches up: the mode, the budget and
 * the layout.
 *
 * Owns: the choice of mode (rseq on glibc's area or frgmalloc's own,
 * lease, lock, off) and frg_fastpath's cache_mode, regions and rseq_off;
 * what option cache_max's "auto" becomes; the regions' layout (which slots
 * each class uses, frg_max_slots, frg_batch); the cache states and their
 * count (frg_caches, frg_ncpus, frg_ncaches).  percpu.c (capacity and slow
 * paths) and percpu_drain.c use what is set here.
 * Locking: frg_percpu_init runs once, during initialisation, under the init
 * lock and before any thread can reach a cache; what it sets is read-only
 * afterwards.
 */
#define _GNU_SOURCE
#include "percpu_internal.h"

#include "cpufence.h"
#include "lease.h"
#include "meta.h"
#include "options.h"
#include "os.h"
#include "large.h"
#include "report.h"
#include "rseq.h"
#include "vg.h"

struct cache_state *frg_caches;
unsigned frg_ncpus, frg_ncaches;
uint16_t frg_slot_begin[FRG_NCACHE_CLASSES];
uint16_t frg_max_slots[FRG_NCACHE_CLASSES];
uint8_t frg_batch[FRG_NCACHE_CLASSES];
uint8_t frg_percpu_large_class[FRG_LARGE_MAX / FRG_PAGE + 1];

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

unsigned frg_percpu_ncpus(void) { return frg_ncpus; }
unsigned frg_percpu_ncaches(void) { return frg_ncaches; }

/* ---- mode selection ---------------------------------------------------- */

/* Whose rseq area the fast paths can use: glibc's if it registered one;
 * otherwise frgmalloc's own, where glibc has no rseq support at all
 * (before 2.35: no __rseq_offset) or option rseq_own:always asks for it.
 * A glibc that supports rseq but was told not to register
 * (glibc.pthread.rseq=0) is obeyed by default: whoever set that may
 * register an area of their own.  The static archive (an SDK's private
 * heap) registers its own only with rseq_own:always: the area lives in
 * the SDK's static TLS, and an SDK that is dlclose'd would leave every
 * thread's registration pointing at TLS the next library is given.  Such
 * an SDK pins itself before it uses rseq (rseq_usable), so that this
 * cannot happen, but stays with glibc's choice by default (the shared
 * library is linked -z nodelete). */
static int rseq_area_available(void) {
#if FRG_HAVE_RSEQ
    bool glibc_knows_rseq = &__rseq_size && &__rseq_offset;
    if (glibc_knows_rseq && __rseq_size >= 12)
        return FRG_RSEQ_AREA_GLIBC;
#ifdef FRG_OVERRIDE_GLIBC
    bool own_by_default = !glibc_knows_rseq;
#else
    bool own_by_default = false;
#endif
    if ((own_by_default && frg_opt.rseq_own == FRG_RSEQ_OWN_AUTO) ||
        frg_opt.rseq_own == FRG_RSEQ_OWN_ALWAYS)
        return FRG_RSEQ_AREA_OWN;
#endif
    return FRG_RSEQ_AREA_NONE;
}

/* Use rseq if an area is available, drains can fence another CPU
 * (cpufence.c), and the calling thread has the area registered.
 * frgmalloc's own area is registered only after the fence is settled, so
 * that a process left in lock mode keeps no registration of ours. */
static bool rseq_usable(void) {
#if FRG_HAVE_RSEQ
    int area = rseq_area_available();
    /* A thread's rseq area keeps pointing at the last sequence's
     * descriptor, inside our module, and the kernel reads it whenever the
     * thread is preempted: an SDK that links libfrgmalloc.a and is
     * dlclose'd would get every thread that used it killed with SIGSEGV
     * (tests/sdk.sh).  So the module must stay loaded (frg_os_pin_module). */
    if (area != FRG_RSEQ_AREA_NONE && frg_cpu_fence_init(frg_ncpus) && frg_os_pin_module()) {
        if (area == FRG_RSEQ_AREA_OWN) {
            if (frg_rseq_own_init())
                return true;
        } else {
            frg_fastpath.rseq_off = (long)__rseq_offset;
            frg_rseq_area = FRG_RSEQ_AREA_GLIBC;
            if (frg_rseq_cpu() >= 0)
                return true; /* else glibc's registration failed for this thread */
        }
    }
#endif
    frg_rseq_area = FRG_RSEQ_AREA_NONE;
    return false;
}

/* Leases a lease mode would have: option `leases`, 0 = two per CPU.
 * One per CPU is too few: a thread that allocated once (main, at
 * start-up) keeps its lease until the purger finds it idle, a tick or
 * more later (scaling, 2 threads on 2 CPUs: 57-64 Mops/s with 2 leases,
 * 75-77 with 4).  More cost memory: each lease holds what its thread
 * freed until it is idle (threads512: RSS growth right after the frees
 * 1.6, 2.4 and 3.9 MiB with 1, 4 and 8 leases). */
static unsigned lease_count(void) {
    unsigned n = frg_opt.leases ? frg_opt.leases : 2 * frg_ncpus;
    return n > FRG_MAX_LEASES ? FRG_MAX_LEASES : n;
}

/* Caches 0 .. n - 1 start empty, with no capacity (a region's header
 * page is touched only for caches in use). */
static void init_caches(unsigned n) {
    for (unsigned i = 0; i < n; i++) {
        frg_caches[i].lock = (frg_lock_t)FRG_LOCK_INIT(FRG_RANK_CPU);
        for (unsigned c = 0; c < FRG_NCACHE_CLASSES; c++) {
            struct frg_cache_hdr *h = frg_cpu_hdr(i, c);
            h->current = h->begin = h->end = frg_slot_begin[c];
        }
    }
}

/* What option cache_max's "auto" means: CACHES_TOTAL bytes of free
 * objects shared by the caches, at least CACHE_AUTO_MIN and at most
 * CACHE_AUTO_MAX each.  A larger budget keeps a burst of frees for the
 * next burst of mallocs instead of sending it through the transfer cache
 * and the slabs (batches of 8 B - 1 KiB objects, 5 MiB: 5.6 ns/op with 2
 * MiB a CPU, 4.1 with 16; of 1 - 64 KiB: 71 -> 37; bench/RESULTS.md), but
 * a busy CPU keeps that much free memory resident until its caches decay.
 * The total is gperftools' default for all thread caches together; the
 * floor keeps a large host at the 2 MiB per CPU it had before (tcmalloc's
 * per-CPU default is 1.5 MiB), where the total, shared, would leave each
 * CPU too little. */
#define CACHES_TOTAL ((size_t)32 << 20)
#define CACHE_AUTO_MIN ((size_t)2 << 20)
#define CACHE_AUTO_MAX ((size_t)16 << 20)

static size_t auto_cache_max(unsigned ncaches) {
    size_t share = ncaches ? CACHES_TOTAL / ncaches : 0;
    return share < CACHE_AUTO_MIN ? CACHE_AUTO_MIN : share > CACHE_AUTO_MAX ? CACHE_AUTO_MAX : share;
}

/* Which slots of a cache's region each class uses, how many it may fill
 * (max_slots) and how many move at once (batch): the same in every cache. */
static void lay_out_classes(void) {
    unsigned next = FIRST_SLOT;
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        size_t size = frg_class_size(c);
        /* No class may take more than 1/32 of the CPU's budget.  A miss
         * costs the same whatever the object's size, and with 1/8 a few
         * large classes took the whole budget while busy small ones were
         * left a handful of slots each (batches 8 B-1 KiB: 11.3 -> 6.8
         * ns/op, bench/RESULTS.md).  Large objects that do not fit go
         * through the transfer cache, which is cheap. */
        size_t slots = frg_opt.cache_max / 32 / size;
        slots = slots < 2 ? 2 : slots > MAX_SLOTS ? MAX_SLOTS : slots;
        size_t b = (32u << 10) / size;
        frg_batch[c] = (uint8_t)(b < 2 ? 2 : b > MAX_BATCH ? MAX_BATCH : b);
        frg_slot_begin[c] = (uint16_t)next;
        frg_max_slots[c] = (uint16_t)slots;
        next += (unsigned)slots;
    }
    /* Large classes: up to MAX_LARGE_SLOTS runs each, within
     * large_cache_max a cache (0: none), growing one run at a time;
     * fetched and given back one at a time too, except between a class
     * that is full and its CPU's shard (flush_batch, refill_want). */
    for (unsigned c = FRG_NCLASSES; c < FRG_NCACHE_CLASSES; c++) {
        size_t slots = frg_opt.large_cache_max / frg_class_size(c);
        frg_slot_begin[c] = (uint16_t)next;
        frg_max_slots[c] = (uint16_t)(slots > MAX_LARGE_SLOTS ? MAX_LARGE_SLOTS : slots);
        frg_batch[c] = 1;
        next += frg_max_slots[c];
    }
    _Static_assert(FIRST_SLOT + FRG_NCLASSES * MAX_SLOTS + FRG_NLARGE_CLASSES * MAX_LARGE_SLOTS <=
                   65535, "slot index fits u16");
    for (size_t n = FRG_LARGE_MIN_PAGES; n <= FRG_LARGE_MAX / FRG_PAGE; n++) {
        size_t run = frg_large_run_pages(n * FRG_PAGE);
        if (run * FRG_PAGE <= frg_opt.large_cache_max)
            frg_percpu_large_class[n] = (uint8_t)(FRG_NCLASSES + frg_large_class_of(run));
    }
}

/* The mode the caches can run in: rseq where usable (and not ruled out
 * by the option), else leases, unless lock mode was asked for, or in a
 * build with memcheck client requests (--enable-valgrind), where every
 * cached object must be handed out through the slow path, which tells
 * memcheck (frg_cache_alloc_slow); else lock mode. */
static int choose_mode(unsigned mode_opt) {
    if ((mode_opt == FRG_PERCPU_AUTO || mode_opt == FRG_PERCPU_RSEQ) && rseq_usable())
        return FRG_CACHE_RSEQ;
    if (mode_opt != FRG_PERCPU_LOCK && !FRG_VG_ENABLED &&
        frg_lease_init(frg_ncpus, lease_count())) {
        if (mode_opt == FRG_PERCPU_RSEQ)
            frg_warn("percpu:rseq requested but rseq is unavailable; using percpu:lease");
        return FRG_CACHE_LEASE;
    }
    if (mode_opt == FRG_PERCPU_RSEQ || mode_opt == FRG_PERCPU_LEASE)
        frg_warn("percpu:%s requested but it is unavailable; using percpu:lock",
                 mode_opt == FRG_PERCPU_RSEQ ? "rseq" : "lease");
    return FRG_CACHE_LOCK;
}

int frg_percpu_init(void) {
    unsigned mode_opt = (unsigned)frg_opt.percpu;
    bool cache_max_auto = frg_opt.cache_max == FRG_OPT_AUTO;
    if (cache_max_auto)
        frg_opt.cache_max = 0; /* no caches, unless they are set up below */
    if (mode_opt == FRG_PERCPU_OFF)
        return frg_fastpath.cache_mode = FRG_CACHE_OFF;
    frg_ncpus = frg_os_possible_cpus();
    /* room for the leases too, in case lease mode is chosen below */
    unsigned most = frg_ncpus + lease_count();
    frg_caches = frg_meta_alloc(sizeof(struct cache_state) * most, FRG_CACHELINE);
    void *regions = frg_os_reserve((size_t)most << FRG_REGION_SHIFT);
    if (!frg_caches || !regions) {
        frg_warn("no memory for per-CPU caches at start-up; running without them");
        return frg_fastpath.cache_mode = FRG_CACHE_OFF;
    }
    frg_fastpath.regions = (uintptr_t)regions;
    int mode = choose_mode(mode_opt);
    unsigned ncaches = frg_ncpus + (mode == FRG_CACHE_LEASE ? frg_lease_count() : 0);
    if (cache_max_auto)
        frg_opt.cache_max = auto_cache_max(ncaches);
    lay_out_classes();
    init_caches(ncaches);
    frg_ncaches = ncaches;
    return frg_fastpath.cache_mode = mode;
}

