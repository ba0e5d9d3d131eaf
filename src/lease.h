/*
 * lease.h - cache regions leased to threads: the lease cache mode.
 *
 * Where restartable sequences cannot be used (glibc.pthread.rseq=0, a
 * kernel before 5.10, rseq blocked by seccomp) the lock mode costs an
 * atomic lock and unlock per call.  In lease mode a few threads each hold
 * a cache region of their own (at most `leases` at once, by default two
 * per CPU, so cache memory stays bounded by CPUs); the holder pops and
 * pushes with plain loads and stores.  Other threads use the per-CPU
 * caches under their lock, as in lock mode.
 *
 * The holder and a drainer (trim, idle decay, thread exit) agree through
 * an asymmetric fence: the holder marks itself busy, then reads whether
 * the lease was revoked, with only a compiler barrier in between; the
 * drainer marks the lease revoked, runs membarrier
 * (MEMBARRIER_CMD_PRIVATE_EXPEDITED, Linux 4.14), which orders the two on
 * every thread of the process, and then waits until the holder is not
 * busy.  After that the holder will see the revocation before it touches
 * the region again.
 *
 * A malloc from a signal handler that interrupts the holder's own pop or
 * push is not safe in this mode (it is not in lock mode either, which
 * would deadlock; rseq mode restarts the interrupted sequence).
 */
#ifndef FRG_LEASE_H
#define FRG_LEASE_H

#include "rseq.h"

/* One per thread that has asked for a lease; never freed, recycled when
 * its thread exits.  `revoked` is written only under the lock of the
 * lease the record holds (or last held), the rest by its own thread
 * under that lock (bind) or in its fast path (busy). */
#define FRG_NO_LEASE UINT32_MAX
struct frg_lease_rec {
    uint32_t busy;    /* 1 while the thread pops or pushes */
    uint32_t revoked; /* 1: stay out of the region (no lease, or one being taken back) */
    uintptr_t region; /* the leased region, while !revoked */
    uint32_t idx;     /* cache index of the lease held or last held, or FRG_NO_LEASE */
    struct frg_lease_rec *next_free;
} FRG_ALIGNED(FRG_CACHELINE);

FRG_HIDDEN extern __thread struct frg_lease_rec *frg_lease_self
    __attribute__((tls_model("initial-exec")));

/* Pop one object of class cls from the calling thread's lease; NULL if it
 * has none or the class is empty. */
FRG_INLINE void *frg_lease_pop(uintptr_t cls) {
    struct frg_lease_rec *r = frg_lease_self;
    if (FRG_UNLIKELY(!r))
        return NULL;
    __atomic_store_n(&r->busy, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the drainer's membarrier orders it */
    void *p = NULL;
    if (FRG_LIKELY(!__atomic_load_n(&r->revoked, __ATOMIC_RELAXED))) {
        struct frg_cache_hdr *h = (struct frg_cache_hdr *)r->region + cls;
        unsigned cur = __atomic_load_n(&h->current, __ATOMIC_RELAXED);
        if (FRG_LIKELY(cur > h->begin)) {
            p = ((void **)r->region)[cur - 1];
            __atomic_store_n(&h->current, (uint16_t)(cur - 1), __ATOMIC_RELAXED);
        }
    }
    __atomic_store_n(&r->busy, 0, __ATOMIC_RELEASE);
    return p;
}

/* Push p onto the calling thread's lease; false if it has none or the
 * class is full. */
FRG_INLINE bool frg_lease_push(uintptr_t cls, void *p) {
    struct frg_lease_rec *r = frg_lease_self;
    if (FRG_UNLIKELY(!r))
        return false;
    __atomic_store_n(&r->busy, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    bool done = false;
    if (FRG_LIKELY(!__atomic_load_n(&r->revoked, __ATOMIC_RELAXED))) {
        struct frg_cache_hdr *h = (struct frg_cache_hdr *)r->region + cls;
        unsigned cur = __atomic_load_n(&h->current, __ATOMIC_RELAXED);
        if (FRG_LIKELY(cur < h->end)) {
            ((void **)r->region)[cur] = p;
            __atomic_store_n(&h->current, (uint16_t)(cur + 1), __ATOMIC_RELAXED);
            done = true;
        }
    }
    __atomic_store_n(&r->busy, 0, __ATOMIC_RELEASE);
    return done;
}

/* Set up leases for cache indexes first_idx .. first_idx + n - 1; false
 * (lease mode unavailable) if the kernel has no expedited membarrier or
 * the thread-exit hook cannot be had. */
FRG_HIDDEN bool frg_lease_init(unsigned first_idx, unsigned n);
FRG_HIDDEN unsigned frg_lease_count(void);

/* The lease the calling thread holds or last held (to be confirmed under
 * its lock with frg_lease_held_by_me), or -1. */
FRG_INLINE int frg_lease_last(void) {
    struct frg_lease_rec *r = frg_lease_self;
    return r && r->idx != FRG_NO_LEASE ? (int)r->idx : -1;
}
/* A free lease's index, taken from the pool for the calling thread, or -1
 * (none free, the thread is exiting, or no memory for its record).  The
 * caller then takes the lease's lock and calls frg_lease_bind. */
FRG_HIDDEN int frg_lease_take(void);
/* Caller holds lease idx's lock: idx (taken above) is the caller's, with
 * the region at `region`. */
FRG_HIDDEN void frg_lease_bind(unsigned idx, uintptr_t region);
/* Some thread holds lease idx (a hint, read without its lock). */
FRG_HIDDEN bool frg_lease_held(unsigned idx);
/* Caller holds lease idx's lock: the calling thread holds idx.  If a
 * revocation of it gave up (its `revoked` still set), it is the thread's
 * again: the flag is cleared. */
FRG_HIDDEN bool frg_lease_held_by_me(unsigned idx);
/* Caller holds lease idx's lock.  Take the lease back from its holder, if
 * any, and return it to the pool: afterwards the holder is outside its
 * fast path and will not enter the region again.  False if the holder
 * could not be waited out (stopped inside its fast path, e.g. by a
 * debugger, for longer than a bound) or the fence failed: the lease stays
 * the holder's, with `revoked` left set, so that the holder's next slow
 * path (under the lock) reopens it. */
FRG_HIDDEN bool frg_lease_revoke(unsigned idx);

/* Some thread found no free lease since the last call (the purger then
 * takes back leases idle for a tick rather than for decay_ms). */
FRG_HIDDEN bool frg_lease_wanted(void);

/* percpu_drain.c: if the calling thread holds lease idx, take it back
 * and empty it (thread exit). */
FRG_HIDDEN void frg_percpu_drain_my_lease(unsigned idx);

struct frg_lease_stats {
    unsigned held;                 /* leases held now */
    uint64_t grants, revokes;      /* since start */
    uint64_t revoke_timeouts;      /* revocations that gave up waiting */
};
FRG_HIDDEN void frg_lease_stats(struct frg_lease_stats *out);

/* At exit, or when an SDK that links us is dlclose'd: threads exiting
 * later must not call our exit hook (its code may be gone).  Their
 * leases are not given back; there is nobody left to use them. */
FRG_HIDDEN void frg_lease_stop(void);

FRG_HIDDEN void frg_lease_lock_all(void);
FRG_HIDDEN void frg_lease_unlock_all(void);
/* In a fork child: the leases of threads that do not exist there are
 * free again (their regions keep their objects); the caller's stays.
 * Registers membarrier again; if that fails no lease is given out any
 * more (the caller's own can still be taken back: a holder needs no
 * fence against itself). */
FRG_HIDDEN void frg_lease_after_fork_child(void);

#endif
