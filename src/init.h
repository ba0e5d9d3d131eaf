/*
 * init.h - one-time initialisation and process-lifecycle hooks.
 *
 * The allocator initialises itself lazily on the first call that needs
 * more than the constant tables (the dynamic loader, dlsym and
 * pthread_create may all call malloc before any constructor runs).
 * Initialisation allocates nothing through malloc and uses no stdio.
 * Fork handlers take every allocator lock in rank order before fork() and
 * reset them in the child.
 */
#ifndef FRG_INIT_H
#define FRG_INIT_H

#include "fastpath_vars.h"
#include "util.h"

/* frg_fastpath.init_state */
enum { FRG_INIT_NONE, FRG_INIT_RUNNING, FRG_INIT_DONE };

FRG_HIDDEN bool frg_init_slow(void);

FRG_INLINE bool frg_ensure_init(void) {
    if (FRG_LIKELY(__atomic_load_n(&frg_fastpath.init_state, __ATOMIC_ACQUIRE) == FRG_INIT_DONE))
        return true;
    return frg_init_slow();
}

#endif
