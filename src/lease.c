/*
 * lease.c - cache regions leased to threads (lease mode, lease.h).
 *
 * Owns: the lease records, which thread holds which lease, the claim
 * flags of free leases, the revocation protocol (membarrier and the wait
 * for the holder to leave its fast path) and the thread-exit hook that
 * gives a lease back.  The regions themselves and their contents are
 * percpu.c's: a lease is cache index first_idx + i there.
 * Locking: a lease's holder changes only under that lease's lock, which
 * percpu.c owns (rank CPU) and its callers hold; a free lease is claimed
 * with a compare-and-swap on its flag, without a lock, before its lock is
 * taken.  `rec_lock` (rank LEASE) guards the list of free records and is
 * taken with no other lock held, or inside the fork handlers.
 */
#define _GNU_SOURCE
#include "lease.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "meta.h"
#include "os.h"
#include "report.h"

#ifndef MEMBARRIER_CMD_PRIVATE_EXPEDITED
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#endif

/* How long a revocation waits for a holder to leave its fast path: a
 * pop or push takes nanoseconds, so a longer wait means the holder was
 * preempted there (then it runs again within a scheduler period) or is
 * stopped (a debugger, SIGSTOP), when the drain gives up. */
#define REVOKE_WAIT_NS (200 * 1000 * 1000ull)

__thread struct frg_lease_rec *frg_lease_self __attribute__((tls_model("initial-exec")));
/* LEASE_MAKING while this thread arms its exit hook (which may allocate),
 * LEASE_EXITED once the hook has run or could not be armed: no lease then. */
enum { LEASE_OPEN, LEASE_MAKING, LEASE_EXITED };
static __thread int lease_state __attribute__((tls_model("initial-exec")));

static unsigned first, nleases;
static struct frg_lease_rec **holder; /* [nleases], under the lease's lock */
static int *claimed;                  /* [nleases], 1 while taken or held */
static unsigned nfree;                /* leases not claimed (atomic) */
static pthread_key_t exit_key;

static frg_padded_lock_t rec_lock = FRG_PADDED_LOCK_INIT(FRG_RANK_LEASE);
static struct frg_lease_rec *free_recs; /* under rec_lock */

static uint64_t grants, revokes, revoke_timeouts; /* atomic */
static int wanted; /* a thread found no free lease since the purger last looked */
static bool fence_ok; /* membarrier registered: leases may be given out */

static void thread_exit(void *arg);

static long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

bool frg_lease_init(unsigned first_idx, unsigned n) {
    if (!n || membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0)
        return false;
    holder = frg_meta_alloc(n * sizeof *holder, FRG_CACHELINE);
    claimed = frg_meta_alloc(n * sizeof *claimed, FRG_CACHELINE);
    if (!holder || !claimed || pthread_key_create(&exit_key, thread_exit) != 0)
        return false;
    first = first_idx;
    nleases = nfree = n;
    fence_ok = true;
    return true;
}

unsigned frg_lease_count(void) { return nleases; }

static struct frg_lease_rec *rec_new(void) {
    frg_lock(&rec_lock.lock);
    struct frg_lease_rec *r = free_recs;
    if (r)
        free_recs = r->next_free;
    frg_unlock(&rec_lock.lock);
    if (!r && !(r = frg_meta_alloc(sizeof *r, FRG_CACHELINE)))
        return NULL;
    r->busy = 0;
    r->revoked = 1;
    r->idx = FRG_NO_LEASE;
    r->next_free = NULL;
    return r;
}

static void rec_recycle(struct frg_lease_rec *r) {
    frg_lock(&rec_lock.lock);
    r->next_free = free_recs;
    free_recs = r;
    frg_unlock(&rec_lock.lock);
}

/* The calling thread's record, made (and its exit hook armed) at its
 * first lease. */
static struct frg_lease_rec *my_rec(void) {
    struct frg_lease_rec *r = frg_lease_self;
    if (r || lease_state != LEASE_OPEN)
        return r;
    if (!(r = rec_new()))
        return NULL;
    /* May allocate (keys past the first 32, with libfrgmalloc.so as
     * malloc): that allocation finds LEASE_MAKING and no record, and takes
     * the per-CPU path instead of a lease of its own. */
    lease_state = LEASE_MAKING;
    if (pthread_setspecific(exit_key, r) != 0) {
        lease_state = LEASE_EXITED; /* no exit hook: never hold a lease */
        rec_recycle(r);
        return NULL;
    }
    lease_state = LEASE_OPEN;
    frg_lease_self = r;
    return r;
}

int frg_lease_take(void) {
    if (!fence_ok)
        return -1;
    if (!__atomic_load_n(&nfree, __ATOMIC_RELAXED)) {
        if (lease_state == LEASE_OPEN && !__atomic_load_n(&wanted, __ATOMIC_RELAXED))
            __atomic_store_n(&wanted, 1, __ATOMIC_RELAXED); /* read first: no line ping-pong */
        return -1;
    }
    int saved_errno = errno; /* free() may get here; a failed record is no error */
    struct frg_lease_rec *r = my_rec();
    errno = saved_errno;
    if (!r)
        return -1;
    for (unsigned i = 0; i < nleases; i++) {
        int expected = 0;
        if (!__atomic_load_n(&claimed[i], __ATOMIC_RELAXED) &&
            __atomic_compare_exchange_n(&claimed[i], &expected, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            __atomic_fetch_sub(&nfree, 1, __ATOMIC_RELAXED);
            return (int)(first + i);
        }
    }
    return -1;
}

void frg_lease_bind(unsigned idx, uintptr_t region) {
    struct frg_lease_rec *r = frg_lease_self;
    r->region = region;
    r->idx = idx;
    __atomic_store_n(&holder[idx - first], r, __ATOMIC_RELAXED);
    __atomic_store_n(&r->revoked, 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&grants, 1, __ATOMIC_RELAXED);
}

bool frg_lease_held(unsigned idx) {
    return __atomic_load_n(&holder[idx - first], __ATOMIC_RELAXED) != NULL;
}

bool frg_lease_held_by_me(unsigned idx) {
    struct frg_lease_rec *r = frg_lease_self;
    if (!r || holder[idx - first] != r)
        return false;
    /* a revocation that gave up left the flag set: ours again */
    __atomic_store_n(&r->revoked, 0, __ATOMIC_RELAXED);
    return true;
}

static void release(unsigned i) {
    __atomic_store_n(&holder[i], NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&claimed[i], 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&nfree, 1, __ATOMIC_RELAXED);
}

/* Wait until r is outside its fast path; false after REVOKE_WAIT_NS. */
static bool wait_not_busy(struct frg_lease_rec *r) {
    uint64_t start = 0;
    for (unsigned spins = 0; __atomic_load_n(&r->busy, __ATOMIC_ACQUIRE); spins++) {
        if (spins < 200) {
            frg_cpu_relax();
            continue;
        }
        if (!start)
            start = frg_os_now_ns();
        else if (frg_os_now_ns() - start > REVOKE_WAIT_NS)
            return false;
        /* sleep rather than yield: the holder may be on this CPU, below
         * the caller's priority */
        struct timespec ts = {0, 20000};
        syscall(SYS_nanosleep, &ts, NULL); /* unlike nanosleep(), no cancellation point */
    }
    return true;
}

bool frg_lease_revoke(unsigned idx) {
    unsigned i = idx - first;
    struct frg_lease_rec *r = holder[i];
    if (!r)
        return true; /* free, or claimed and not yet bound: nobody uses it */
    int saved_errno = errno; /* free() may get here (a double-free check) */
    __atomic_store_n(&r->revoked, 1, __ATOMIC_SEQ_CST);
    bool out;
    if (r == frg_lease_self)
        /* our own lease, from a slow path: no fence needed, but a signal
         * handler may have interrupted our own pop or push */
        out = !__atomic_load_n(&r->busy, __ATOMIC_ACQUIRE);
    else
        /* After the membarrier every thread either has its busy mark
         * visible here or will read revoked = 1 after setting it. */
        out = fence_ok && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 &&
              wait_not_busy(r);
    if (out) {
        release(i);
        __atomic_fetch_add(&revokes, 1, __ATOMIC_RELAXED);
    } else {
        /* revoked stays set: the holder reopens the lease under its lock
         * (frg_lease_held_by_me) when it next misses */
        __atomic_fetch_add(&revoke_timeouts, 1, __ATOMIC_RELAXED);
    }
    errno = saved_errno;
    return out;
}

/* The thread-exit hook: give the lease back, then the record. */
static void thread_exit(void *arg) {
    struct frg_lease_rec *r = arg;
    lease_state = LEASE_EXITED;
    uint32_t idx = r->idx;
    if (idx != FRG_NO_LEASE)
        frg_percpu_drain_my_lease(idx); /* under its lock, if still ours */
    frg_lease_self = NULL;
    if (idx != FRG_NO_LEASE && __atomic_load_n(&holder[idx - first], __ATOMIC_RELAXED) == r) {
        /* not given back (a fence that failed): the record must stay
         * with the lease it still holds */
        frg_warn("a lease outlives its thread");
        return;
    }
    rec_recycle(r);
}

bool frg_lease_wanted(void) {
    return __atomic_load_n(&wanted, __ATOMIC_RELAXED) && __atomic_exchange_n(&wanted, 0, __ATOMIC_RELAXED);
}

void frg_lease_stop(void) {
    if (nleases)
        pthread_key_delete(exit_key);
}

void frg_lease_stats(struct frg_lease_stats *out) {
    out->held = 0;
    for (unsigned i = 0; i < nleases; i++)
        out->held += __atomic_load_n(&holder[i], __ATOMIC_RELAXED) != NULL;
    out->grants = __atomic_load_n(&grants, __ATOMIC_RELAXED);
    out->revokes = __atomic_load_n(&revokes, __ATOMIC_RELAXED);
    out->revoke_timeouts = __atomic_load_n(&revoke_timeouts, __ATOMIC_RELAXED);
}

void frg_lease_lock_all(void) {
    if (nleases)
        frg_lock(&rec_lock.lock);
}

void frg_lease_unlock_all(void) {
    if (nleases)
        frg_unlock(&rec_lock.lock);
}

void frg_lease_after_fork_child(void) {
    if (!nleases)
        return;
    frg_lock_reinit(&rec_lock.lock);
    /* registration belongs to the address space: renew it */
    fence_ok = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
    struct frg_lease_rec *self = frg_lease_self;
    unsigned free_count = 0;
    for (unsigned i = 0; i < nleases; i++) {
        struct frg_lease_rec *r = holder[i];
        if (r && r == self)
            continue;
        if (r && r->idx == first + i) { /* a parent's thread's: free here */
            r->busy = 0;
            r->revoked = 1;
            r->idx = FRG_NO_LEASE;
            r->next_free = free_recs;
            free_recs = r;
        }
        /* free, held by a parent's thread, or claimed by one that had not
         * bound it yet: free in the child */
        holder[i] = NULL;
        claimed[i] = 0;
        free_count++;
    }
    nfree = free_count;
}
