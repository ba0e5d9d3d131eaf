/*
 * purge.c - the purger thread and full purges.
 *
 * Owns: the purger thread, frg_purge_pending, the eager-purge request flag
 * (frg_purge_offload), purge counters.
 * Locking: purge_lock (rank PURGER) is held for a whole decay pass or full
 * purge, so passes never overlap and fork waits for a pass to finish (it
 * also guards burst.c's history of pages in use).  The
 * thread sleeps on a futex doorbell while nothing is pending;
 * frg_purge_notify sets the pending flag and rings it, and so does
 * frgmalloc-stat from outside when statistics are published.  purger_up
 * is the thread's first store; fork's prepare handler waits on it (a futex
 * word, bounded) so no fork lands inside the thread's start-up.
 */
#define _GNU_SOURCE
#include "purge.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "burst.h"
#include "central.h"
#include "huge.h"
#include "large.h"
#include "init.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "pageheap.h"
#include "percpu.h"
#include "pool.h"
#include "publish.h"
#include "transfer.h"

int frg_purge_pending;
int frg_activity_seen = 1;
/* When the purger last found frg_activity_seen cleared (purger only). */
static uint64_t last_activity_ns;

void frg_note_activity_slow(void) {
    __atomic_store_n(&frg_activity_seen, 0, __ATOMIC_RELAXED);
}
/* Set by a free that found dirty pages over the budget; the purger
 * clears it and purges (frg_purge_offload). */
static int eager_wanted;
static frg_padded_lock_t purge_lock = FRG_PADDED_LOCK_INIT(FRG_RANK_PURGER);
static struct frg_purge_stats ps;
static int thread_started, stop_requested;
/* purger_up is set by the purger thread as its first act: it is past the
 * start-up code of the thread library and of any sanitizer runtime, which
 * takes their internal locks (ASan: its thread registry and allocator).
 * fork() waits for it (frg_purge_wait_started): a child forked in the
 * middle of that start-up would inherit those locks taken, and its first
 * pthread_create or malloc (fork_child starts its own purger) would wait
 * forever.  purger_created is set before pthread_create (cleared if that
 * fails), so a fork from another thread meanwhile waits too. */
static int purger_created, purger_up;
static int purger_stuck; /* waited in vain: its start-up has not ended */
#define PURGER_START_WAIT_NS 1000000000ull /* 1 s */
/* CLOCK_MONOTONIC_COARSE steps 4 ms at HZ=250 (10 ms at HZ=100: a tick
 * of under 80 ms may then take one more short wait) */
#define TICK_SLACK_MIN_NS 5000000ull
static pthread_t purger;
/* The purger sleeps on a doorbell: private, or the shared word of the
 * statistics page when frgmalloc-stat may ring it from outside. */
static int private_bell;

static int *doorbell(bool *shared) {
    int *bell = frg_publish_doorbell(shared);
    return bell ? bell : &private_bell;
}

static void ring(void) {
    bool shared;
    int *bell = doorbell(&shared);
    __atomic_store_n(bell, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, bell, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleep until the doorbell rings or `timeout_ns` passes (0: forever). */
static void wait_bell(uint64_t timeout_ns) {
    bool shared;
    int *bell = doorbell(&shared);
    if (__atomic_exchange_n(bell, 0, __ATOMIC_ACQ_REL))
        return;
    struct timespec ts = {(time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull)};
    syscall(SYS_futex, bell, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, 0,
            timeout_ns ? &ts : NULL, NULL, 0);
    __atomic_store_n(bell, 0, __ATOMIC_RELEASE);
}

void frg_purge_notify_slow(void) {
    int saved = errno;
    if (__atomic_exchange_n(&frg_purge_pending, 1, __ATOMIC_ACQ_REL) == 0 &&
        __atomic_load_n(&thread_started, __ATOMIC_RELAXED))
        ring();
    errno = saved;
}

bool frg_purge_offload(void) {
    if (!frg_opt.purge_offload || !__atomic_load_n(&thread_started, __ATOMIC_ACQUIRE) ||
        pthread_equal(pthread_self(), purger))
        return false;
    if (!__atomic_load_n(&eager_wanted, __ATOMIC_RELAXED) &&
        !__atomic_exchange_n(&eager_wanted, 1, __ATOMIC_ACQ_REL)) {
        int saved = errno;
        ring();
        errno = saved;
    }
    return true;
}

int64_t frg_purge_keep_room(void) {
    return (int64_t)(frg_pageheap_dirty_room() * FRG_PAGE) - (int64_t)frg_central_stash_bytes() -
           (int64_t)frg_large_cached_bytes() - (int64_t)frg_transfer_budget_bytes();
}

static bool anything_cached(void) {
    struct frg_pageheap_stats hp;
    struct frg_huge_stats hs;
    struct frg_percpu_stats cs;
    frg_pageheap_stats(&hp);
    frg_huge_stats(&hs);
    frg_percpu_stats(&cs);
    return hp.dirty_pages || hs.cached || cs.capacity_bytes || frg_central_stash_bytes() ||
           frg_transfer_bytes() || frg_large_cached_bytes() ||
           hp.empty_chunks * FRG_CHUNK_SIZE > frg_opt.retain_max || frg_central_unswept();
}

size_t frg_purge_decay_pass(uint64_t now_ns) {
    uint64_t decay = frg_opt.decay_ms * 1000000ull;
    uint64_t before = now_ns > decay ? now_ns - decay : 0;
    frg_lock(&purge_lock.lock);
    /* Idle CPU caches go back to the central lists (their slabs may then
     * empty, and their pages become dirty), and so do transfer-cache
     * objects left untouched for a tick; then pages and huge mappings
     * idle for a whole decay period go back to the OS.  When nothing at
     * all happened for decay_ms (no CPU cache changed, no page allocated
     * or freed) the process is idle: everything goes back now, including
     * what the drain just freed.  So does the end of a burst of frees
     * (burst.h), after every CPU cache is drained: the program has just
     * freed most of what it held, and what the caches kept of it pins
     * otherwise empty slabs. */
    bool burst_ended = frg_burst_ended();
    bool cpus_idle;
    frg_percpu_decay(now_ns, decay, &cpus_idle);
    frg_transfer_decay(now_ns, decay / 4);
    if (!__atomic_exchange_n(&frg_activity_seen, 1, __ATOMIC_RELAXED))
        last_activity_ns = now_ns; /* something happened since the last pass */
    if (burst_ended) {
        frg_percpu_drain_all(true);
        ps.bursts++;
    }
    bool idle = cpus_idle && now_ns - last_activity_ns >= decay;
    /* `all`: everything cached goes now.  But a burst's end may be one
     * round of many (`round`): what the boost of the dirty budget keeps for
     * the next round (the stash's slabs too, handed to the page heap
     * unpurged) and the cached huge mappings stay, and go by decay. */
    bool all = idle || burst_ended, round = burst_ended && !idle;
    if (all)
        frg_transfer_drain(FRG_NCLASSES);
    /* unused for decay_ms: purged (after the drains, whose emptied slabs
     * the stash may hold) */
    size_t bytes = frg_central_release_stash(now_ns, all ? UINT64_MAX : before, !round);
    /* free pages inside partial slabs: of classes quiet for a tick */
    bytes += frg_central_purge_free_pages(all);
    /* cached large runs unused for a tick go back to the page heap, as
     * dirty pages purged after a further decay_ms (at once when idle) */
    frg_large_cache_release(all);
    bytes += round ? frg_pageheap_purge_but_boost() : frg_pageheap_purge(all ? UINT64_MAX : before);
    bytes += frg_huge_purge(idle ? UINT64_MAX : before);
    if (bytes) /* memory stayed idle for decay_ms: so did its metadata */
        bytes += frg_pools_purge();
    frg_burst_pass_end(burst_ended);
    ps.passes++;
    ps.bytes_decayed += bytes;
    frg_unlock(&purge_lock.lock);
    return bytes;
}

size_t frg_purge_all(void) {
    if (!frg_ensure_init())
        return 0;
    frg_lock(&purge_lock.lock);
    /* First every cache gives back what it holds.  What that puts over
     * the dirty budget is purged at once, inside these calls (the eager
     * purge), so the purges below do not see it: it is counted here, from
     * the bytes given to madvise meanwhile (a purge another thread makes
     * in this moment is counted too). */
    uint64_t purged = __atomic_load_n(&frg_os_counters.purged_bytes, __ATOMIC_RELAXED);
    frg_percpu_drain_all(true);
    frg_transfer_drain(FRG_NCLASSES);
    frg_large_cache_release(true);
    size_t bytes = (size_t)(__atomic_load_n(&frg_os_counters.purged_bytes, __ATOMIC_RELAXED) - purged);
    bytes += frg_central_release_stash(frg_os_now_ns(), UINT64_MAX, true);
    bytes += frg_central_purge_free_pages(true);
    bytes += frg_pageheap_purge(UINT64_MAX);
    bytes += frg_huge_purge(UINT64_MAX);
    bytes += frg_pools_purge();
    frg_burst_pass_end(true); /* a burst before it is purged now */
    ps.bytes_trimmed += bytes;
    frg_unlock(&purge_lock.lock);
    return bytes;
}

static void *purger_main(void *arg) {
    (void)arg;
    __atomic_store_n(&purger_up, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &purger_up, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    prctl(PR_SET_NAME, "frg-purger", 0, 0, 0);
    uint64_t last_pass = 0; /* when the last pass ended */
    while (!__atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE)) {
        /* Tick four times per decay period while anything is cached;
         * otherwise sleep until something is (or frgmalloc-stat asks). */
        uint64_t tick = frg_opt.decay_ms * 1000000ull / 4;
        if (tick < 10000000ull)
            tick = 10000000ull;
        /* A pass is due a tick after the last one ended; woken before
         * that (a request), it waits the rest.  The clock is coarse (a few
         * ms), so a pass within `slack` of being due counts as due: the
         * precise futex timeout would otherwise end just short of it and
         * wait again for the clock to tick over. */
        uint64_t slack = tick / 8 > TICK_SLACK_MIN_NS ? tick / 8 : TICK_SLACK_MIN_NS;
        bool pending = __atomic_load_n(&frg_purge_pending, __ATOMIC_ACQUIRE);
        uint64_t since = frg_os_now_ns() - last_pass;
        wait_bell(!pending ? 0 : since + slack < tick ? tick - since : 1);
        frg_lock(&purge_lock.lock);
        ps.wakeups++;
        frg_unlock(&purge_lock.lock);
        if (__atomic_exchange_n(&eager_wanted, 0, __ATOMIC_ACQ_REL)) {
            frg_pageheap_purge_over_budget(); /* asked by a free */
            frg_lock(&purge_lock.lock);
            ps.offloaded++;
            frg_unlock(&purge_lock.lock);
        }
        frg_publish_serve();
        uint64_t now = frg_os_now_ns();
        if (!__atomic_load_n(&frg_purge_pending, __ATOMIC_ACQUIRE) || now - last_pass + slack < tick)
            continue; /* woken by a request or the first notification */
        __atomic_store_n(&frg_purge_pending, 0, __ATOMIC_RELEASE);
        frg_purge_decay_pass(now);
        frg_publish_refresh();
        last_pass = frg_os_now_ns();
        if (anything_cached())
            __atomic_store_n(&frg_purge_pending, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

void frg_purge_start(void) {
    if (!frg_opt.background || __atomic_load_n(&thread_started, __ATOMIC_ACQUIRE))
        return;
    /* A fork child whose parent's purger was stuck in its start-up (created,
     * never up; frg_purge_after_fork_child keeps that state) starts none:
     * its start-up would need the lock the stuck one held.  The child runs
     * as with background:false, and so do its own children. */
    if (__atomic_load_n(&purger_created, __ATOMIC_ACQUIRE) &&
        !__atomic_load_n(&purger_up, __ATOMIC_ACQUIRE))
        return;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    sigfillset(&all);
    /* The purger must never take the program's signals (the JVM relies on
     * its own threads handling them). */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    __atomic_store_n(&stop_requested, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&purger_up, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&purger_stuck, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&purger_created, 1, __ATOMIC_SEQ_CST);
    if (pthread_create(&purger, &attr, purger_main, NULL) == 0)
        __atomic_store_n(&thread_started, 1, __ATOMIC_RELEASE);
    else
        __atomic_store_n(&purger_created, 0, __ATOMIC_RELEASE);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (__atomic_load_n(&frg_purge_pending, __ATOMIC_ACQUIRE))
        ring();
}

void frg_purge_stop(void) {
    if (!__atomic_load_n(&thread_started, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&stop_requested, 1, __ATOMIC_RELEASE);
    ring();
    pthread_join(purger, NULL);
    __atomic_store_n(&thread_started, 0, __ATOMIC_RELEASE);
}

void frg_purge_stats(struct frg_purge_stats *out) {
    frg_lock(&purge_lock.lock);
    *out = ps;
    out->thread_running = __atomic_load_n(&thread_started, __ATOMIC_RELAXED);
    frg_unlock(&purge_lock.lock);
}

void frg_purge_wait_started(void) {
    if (!__atomic_load_n(&purger_created, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&purger_up, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&purger_stuck, __ATOMIC_RELAXED))
        return;
    /* Bounded: a purger stuck in its start-up (its process inherited such
     * a lock) must not hang every fork. */
    int saved = errno;
    uint64_t start = frg_os_now_ns();
    while (__atomic_load_n(&purger_created, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&purger_up, __ATOMIC_ACQUIRE)) {
        if (frg_os_now_ns() - start >= PURGER_START_WAIT_NS) {
            __atomic_store_n(&purger_stuck, 1, __ATOMIC_RELAXED);
            break;
        }
        struct timespec ts = {0, 10000000}; /* 10 ms, then look at the clock */
        syscall(SYS_futex, &purger_up, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
    }
    errno = saved;
}

void frg_purge_lock_all(void) { frg_lock(&purge_lock.lock); }
void frg_purge_unlock_all(void) { frg_unlock(&purge_lock.lock); }

void frg_purge_after_fork_child(void) {
    frg_lock_reinit(&purge_lock.lock);
    thread_started = 0; /* threads do not survive fork; init.c restarts it */
    /* A purger stuck in its start-up at the fork stays "created, not up,
     * stuck" here: frg_purge_start starts none in the child, nor in its
     * own children. */
    if (purger_up)
        purger_created = 0;
    private_bell = 0;
}
