/*
 * lock.h - the one mutex type the allocator uses.
 *
 * A thin wrapper over pthread_mutex_t (which allocates nothing and is
 * understood by valgrind and ThreadSanitizer).  The global lock order is
 * written in docs/design.md ("Locking"); debug builds record the rank of
 * the innermost lock each thread holds and assert that locks are taken in
 * increasing rank.
 */
#ifndef FRG_LOCK_H
#define FRG_LOCK_H

#include <pthread.h>
#include "util.h"

/* Lock ranks: a thread may only acquire a lock of higher rank than every
 * lock it already holds. */
enum frg_lock_rank {
    FRG_RANK_CTL = 1,    /* mallctl snapshot, stats publication */
    FRG_RANK_PURGER,     /* purger thread control, stats collection */
    FRG_RANK_CPU,        /* per-CPU cache of one CPU */
    FRG_RANK_CENTRAL,    /* central list of one size class */
    FRG_RANK_HUGE,       /* huge mappings and their cache */
    FRG_RANK_PAGEHEAP,   /* chunks and page runs */
    FRG_RANK_META,       /* descriptor pools, page-map leaf creation */
    FRG_RANK_META_BUMP,  /* the metadata bump allocator */
};

typedef struct {
    pthread_mutex_t m;
    int rank;
} frg_lock_t;

#define FRG_LOCK_INIT(rank) {PTHREAD_MUTEX_INITIALIZER, (rank)}

#ifdef FRG_DEBUG
FRG_HIDDEN void frg_lock_debug_acquire(frg_lock_t *l);
FRG_HIDDEN void frg_lock_debug_release(frg_lock_t *l);
#else
#define frg_lock_debug_acquire(l) ((void)(l))
#define frg_lock_debug_release(l) ((void)(l))
#endif

FRG_INLINE void frg_lock(frg_lock_t *l) {
    pthread_mutex_lock(&l->m);
    frg_lock_debug_acquire(l);
}
FRG_INLINE bool frg_trylock(frg_lock_t *l) {
    if (pthread_mutex_trylock(&l->m) != 0)
        return false;
    frg_lock_debug_acquire(l);
    return true;
}
FRG_INLINE void frg_unlock(frg_lock_t *l) {
    frg_lock_debug_release(l);
    pthread_mutex_unlock(&l->m);
}
/* After fork, in the child: the lock is free again whoever held it. */
FRG_INLINE void frg_lock_reinit(frg_lock_t *l) { pthread_mutex_init(&l->m, NULL); }

#endif
