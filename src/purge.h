/*
 * purge.h - returning memory to the OS when the program stops using it.
 *
 * Three mechanisms (docs/design.md, "Purging"):
 *  1. eager: a slab or run that becomes empty is freed to the page heap at
 *     once (or stashed within the dirty budget); the page heap purges with
 *     madvise as soon as its dirty pages exceed the budget (dirty_min,
 *     dirty_ratio, boost: pageheap_purge.c), by the freeing thread (with
 *     purge_offload: by the purger thread, asked by the free, unless past
 *     twice the budget);
 *  2. decay: the purger thread returns what stayed unused for `decay_ms`
 *     (dirty pages by generation, stashed slabs, per-CPU caches, huge
 *     mappings), and everything once the whole process has been idle that
 *     long, or a burst of frees has just ended (burst.h: then the CPU
 *     caches are drained first, and the boost's dirty pages stay); it
 *     sleeps on a futex while there is nothing to purge;
 *  3. on demand: malloc_trim(0) / arena.<i>.purge purge everything now.
 */
#ifndef FRG_PURGE_H
#define FRG_PURGE_H

#include "util.h"

/* Start the purger thread (option `background`); called from the library
 * constructor and in the child after fork, never from inside malloc. */
FRG_HIDDEN void frg_purge_start(void);
/* Stop and join it (library destructor: exit, or dlclose of an SDK). */
FRG_HIDDEN void frg_purge_stop(void);
/* Something became dirty or cached: make sure the purger will look.  Safe
 * in any context (an atomic flag and, rarely, a futex wake). */
FRG_HIDDEN void frg_purge_notify_slow(void);
FRG_HIDDEN extern int frg_purge_pending;
/* The program went past its CPU caches (a refill, a flush, a large or
 * huge object): with unchanged caches, the sign it is busy.  The purger
 * sets frg_activity_seen at each pass and notes the time if it had been
 * cleared: a load of a read-mostly word here, a store once per pass. */
FRG_HIDDEN extern int frg_activity_seen;
FRG_HIDDEN void frg_note_activity_slow(void);
FRG_INLINE void frg_note_activity(void) {
    if (FRG_UNLIKELY(__atomic_load_n(&frg_activity_seen, __ATOMIC_RELAXED)))
        frg_note_activity_slow();
}
FRG_INLINE void frg_purge_notify(void) {
    if (FRG_UNLIKELY(!__atomic_load_n(&frg_purge_pending, __ATOMIC_RELAXED)))
        frg_purge_notify_slow();
}
/* Bytes of free pages that may still be kept resident outside the page
 * heap (central's slab stash, large.c's run cache, transfer.c's objects of
 * one-object slabs held on the budget): the dirty budget less the page
 * heap's dirty pages and what the three keep already; negative when the
 * budget is overrun.  Read without locks: a hint, as the budget is. */
FRG_HIDDEN int64_t frg_purge_keep_room(void);
/* Dirty pages went over the budget: if the purger thread runs (and the
 * option `purge_offload` is on), ask it to purge them and return true;
 * false: the caller purges them itself. */
FRG_HIDDEN bool frg_purge_offload(void);
/* Purge everything now: per-CPU and transfer caches, dirty pages, the huge cache.
 * Returns the bytes given back. */
FRG_HIDDEN size_t frg_purge_all(void);
/* One decay pass as the purger thread makes it (exposed for tests). */
FRG_HIDDEN size_t frg_purge_decay_pass(uint64_t now_ns);

struct frg_purge_stats {
    uint64_t passes, wakeups, bytes_decayed, bytes_trimmed;
    uint64_t offloaded; /* eager purges run by the purger at a free's request */
    uint64_t bursts;    /* ends of free bursts, each purged as if idle */
    bool thread_running;
};
FRG_HIDDEN void frg_purge_stats(struct frg_purge_stats *out);

/* Fork (prepare handler): wait (at most 1 s) until a purger thread just
 * started is past its thread start-up, so that no lock it takes there is
 * inherited taken.  If it is not, the child keeps it as "stuck" and
 * frg_purge_start starts no purger there: its start-up would need that
 * lock. */
FRG_HIDDEN void frg_purge_wait_started(void);
FRG_HIDDEN void frg_purge_lock_all(void);
FRG_HIDDEN void frg_purge_unlock_all(void);
FRG_HIDDEN void frg_purge_after_fork_child(void);

#endif
