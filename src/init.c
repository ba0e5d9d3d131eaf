/*
 * init.c - lazy initialisation, fork handlers, exit hook.
 *
 * Owns: frg_fastpath (its init state, and its free key: the random key
 * written into freed small objects to catch double frees), the order in
 * which layers start, and the fork protocol.  Locking: initialisation is serialised by the state
 * word (the first caller runs it, others wait); the fork handlers take all
 * allocator locks in rank order (mallctl and stats page, purger, stats
 * collection, CPU, central, huge, page heap, metadata) so the child
 * inherits a consistent heap.
 */
#define _GNU_SOURCE
#include "init.h"

#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "central.h"
#include "huge.h"
#include "large.h"
#include "mallctl.h"
#include "meta.h"
#include "pool.h"
#include "options.h"
#include "os.h"
#include "pageheap.h"
#include "pagemap.h"
#include "percpu.h"
#include "publish.h"
#include "purge.h"
#include "report.h"
#include "stats.h"
#include "transfer.h"

/* free_key is replaced by a random one at start-up; the other fields are
 * set by the modules fastpath_vars.h names. */
struct frg_fastpath_vars frg_fastpath = {.free_key = 0x9e3779b97f4a7c15ull, .cache_mode = FRG_CACHE_OFF,
                                        .init_state = FRG_INIT_NONE};
static pid_t init_tid;

#ifdef FRG_DEBUG
FRG_HIDDEN extern int frg_lock_order_relaxed;
#define RELAX_LOCK_ORDER(v) (frg_lock_order_relaxed = (v))
#else
#define RELAX_LOCK_ORDER(v) ((void)0)
#endif

static void fork_prepare(void) {
    if (__atomic_load_n(&frg_fastpath.init_state, __ATOMIC_ACQUIRE) != FRG_INIT_DONE)
        return;
    /* Before any lock: the purger may still be starting (just created by
     * the constructor or a fork child), inside the thread library. */
    frg_purge_wait_started();
    RELAX_LOCK_ORDER(1);
    frg_mallctl_lock();
    frg_publish_lock();
    frg_purge_lock_all();
    frg_stats_lock();
    frg_percpu_lock_all();
    frg_transfer_lock_all();
    frg_central_lock_all();
    frg_huge_lock_all();
    frg_large_lock_all();
    frg_pageheap_lock_all();
    frg_pagemap_lock();
    frg_pools_lock_all();
    frg_meta_lock_all();
}

static void fork_parent(void) {
    if (__atomic_load_n(&frg_fastpath.init_state, __ATOMIC_ACQUIRE) != FRG_INIT_DONE)
        return;
    frg_meta_unlock_all();
    frg_pools_unlock_all();
    frg_pagemap_unlock();
    frg_pageheap_unlock_all();
    frg_large_unlock_all();
    frg_huge_unlock_all();
    frg_central_unlock_all();
    frg_transfer_unlock_all();
    frg_percpu_unlock_all();
    frg_stats_unlock();
    frg_purge_unlock_all();
    frg_publish_unlock();
    frg_mallctl_unlock();
    RELAX_LOCK_ORDER(0);
}

static void fork_child(void) {
    if (__atomic_load_n(&frg_fastpath.init_state, __ATOMIC_ACQUIRE) != FRG_INIT_DONE)
        return;
    /* First every lock, then the services that take them. */
    frg_meta_reinit_locks();
    frg_pools_reinit_locks();
    frg_pagemap_reinit_lock();
    frg_pageheap_reinit_locks();
    frg_huge_reinit_locks();
    frg_large_reinit_locks();
    frg_central_reinit_locks();
    frg_transfer_reinit_locks();
    frg_percpu_after_fork_child();
    frg_mallctl_reinit_lock();
    frg_stats_after_fork_child();
    frg_purge_after_fork_child();
    RELAX_LOCK_ORDER(0);
    frg_lock_debug_forget_all(); /* the locks this thread took in prepare */
    frg_publish_after_fork_child(); /* the child's own statistics page */
    frg_purge_start(); /* none if ours was stuck starting at the fork */
}

static void init_free_key(void) {
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    uint64_t k = 0;
    if (r)
        for (int i = 0; i < 8; i++)
            k = (k << 8) | r[8 + i]; /* bytes 0-7 are glibc's stack guard */
    k ^= (uint64_t)(uintptr_t)&frg_fastpath.init_state * 0x9e3779b97f4a7c15ull;
    frg_fastpath.free_key = k | 1; /* never 0: a zeroed object must not match */
}

static void run_init(void) {
    if (frg_os_page_size() != FRG_PAGE)
        frg_fatal("page size %zu is not supported (built for %zu)", frg_os_page_size(),
                  FRG_PAGE);
    frg_os_init();
    frg_options_init();
    init_free_key();
    frg_pagemap_init();
    frg_pageheap_init();
    frg_percpu_init();
    frg_transfer_init();
    /* Test hooks count system calls made after start-up. */
    frg_os_inject_faults(frg_opt.fault_mmap, frg_opt.fault_madvise);
}

bool frg_init_slow(void) {
    int expected = FRG_INIT_NONE;
    pid_t me = (pid_t)syscall(SYS_gettid);
    if (__atomic_compare_exchange_n(&frg_fastpath.init_state, &expected, FRG_INIT_RUNNING, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        init_tid = me;
        run_init();
        __atomic_store_n(&frg_fastpath.init_state, FRG_INIT_DONE, __ATOMIC_RELEASE);
        /* Safe now that the allocator is ready: these may call malloc. */
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        frg_stats_after_init();
        return true;
    }
    while (__atomic_load_n(&frg_fastpath.init_state, __ATOMIC_ACQUIRE) != FRG_INIT_DONE) {
        if (init_tid == me)
            frg_fatal("malloc called recursively during initialisation");
        sched_yield();
    }
    return true;
}

/* Runs when the library is loaded (preloaded or dlopen'd): initialise
 * eagerly, publish statistics and start the purger thread.  Allocation may already have
 * happened (the loader calls malloc first); both steps are idempotent. */
__attribute__((constructor)) static void frg_on_load(void) {
    frg_ensure_init();
    frg_publish_start();
    frg_purge_start();
}

/* At exit, or when an SDK that links us is dlclose'd: no thread may keep
 * running our code (nor reach it through a thread-exit hook), and the
 * statistics file goes away. */
__attribute__((destructor)) static void frg_on_unload(void) {
    frg_lease_stop();
    frg_purge_stop();
    frg_publish_stop();
}
