/*
 * transfer.c - the transfer cache (transfer.h): per size class, a bounded
 * stack of free objects that per-CPU caches flush into and refill from.
 *
 * Owns: frg_transfer[] (each class's stack, its capacity and use flag) and
 * the count of bytes held.
 * Locking: frg_transfer[c].lock (rank TRANSFER) guards class c's stack.
 * It is held only to copy pointers; the central lists (rank CENTRAL) are
 * called after it is released, except by drains, which hold it across the
 * hand-over so that a drained class is empty when they return.  The
 * pointer arrays come from the metadata bump allocator (rank META_BUMP) on
 * a class's first flush, with the class lock held.
 */
#include "transfer.h"

#include <string.h>

#include "central.h"
#include "lock.h"
#include "meta.h"
#include "options.h"
#include "pageheap.h"
#include "purge.h"
#include "vg.h"

#define TRANSFER_MAX_OBJS 1024

struct transfer_class {
    frg_lock_t lock;
    unsigned count;      /* objects held */
    unsigned cap;        /* most it may hold (0: not set up yet or unused) */
    bool used;           /* a flush or refill since the purger last looked */
    uint64_t seen_used_ns; /* purger: when it last found `used` set */
    void **slots;
} FRG_ALIGNED(FRG_CACHELINE);

static struct transfer_class classes[FRG_NCLASSES] = {
    [0 ... FRG_NCLASSES - 1] = {.lock = FRG_LOCK_INIT(FRG_RANK_TRANSFER)},
};
static unsigned max_objs[FRG_NCLASSES];

/* count is read without the lock (to skip empty classes), written with it */
static void set_count(struct transfer_class *t, unsigned n) {
    __atomic_store_n(&t->count, n, __ATOMIC_RELAXED);
}
static size_t held_bytes;    /* atomic: bytes of objects held, all classes */

void frg_transfer_init(void) {
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        size_t n = frg_opt.transfer_max / 4 / frg_class_size(c);
        max_objs[c] = (unsigned)(n > TRANSFER_MAX_OBJS ? TRANSFER_MAX_OBJS : n);
    }
}

/* Set up class c's array on first use; false if it has none. */
static bool ready(struct transfer_class *t, unsigned c) {
    if (FRG_LIKELY(t->slots != NULL))
        return true;
    if (!max_objs[c])
        return false;
    t->slots = frg_meta_alloc(max_objs[c] * sizeof(void *), FRG_CACHELINE);
    if (!t->slots)
        return false;
    t->cap = max_objs[c];
    return true;
}

unsigned frg_transfer_alloc_batch(unsigned cls, void **out, unsigned n) {
    struct transfer_class *t = &classes[cls];
    unsigned got = 0;
    if (__atomic_load_n(&t->count, __ATOMIC_RELAXED)) {
        frg_lock(&t->lock);
        got = t->count < n ? t->count : n;
        set_count(t, t->count - got);
        memcpy(out, t->slots + t->count, got * sizeof(void *));
        if (FRG_VG_ENABLED) /* memcheck's leak scan must not find them here */
            memset(t->slots + t->count, 0, got * sizeof(void *));
        t->used = true;
        frg_unlock(&t->lock);
        __atomic_fetch_sub(&held_bytes, got * frg_class_size(cls), __ATOMIC_RELAXED);
    }
    if (got < n)
        got += frg_central_alloc_batch(cls, out + got, n - got);
    return got;
}

bool frg_transfer_free_batch(unsigned cls, void *const *ptrs, unsigned n) {
    struct transfer_class *t = &classes[cls];
    size_t bytes = n * frg_class_size(cls);
    unsigned taken = 0;
    if (max_objs[cls] &&
        __atomic_load_n(&held_bytes, __ATOMIC_RELAXED) + bytes <= frg_opt.transfer_max) {
        frg_lock(&t->lock);
        if (ready(t, cls) && t->count + n <= t->cap) {
            bool was_empty = t->count == 0;
            memcpy(t->slots + t->count, ptrs, n * sizeof(void *));
            set_count(t, t->count + n);
            t->used = true;
            taken = n;
            __atomic_fetch_add(&held_bytes, bytes, __ATOMIC_RELAXED);
            if (was_empty)
                frg_purge_notify(); /* the purger drains an unused class */
        }
        frg_unlock(&t->lock);
    }
    return taken < n && frg_central_free_batch(cls, ptrs + taken, n - taken);
}

/* Move class c's objects to the central lists (class lock held). */
static size_t drain_locked(unsigned c, bool *released) {
    struct transfer_class *t = &classes[c];
    if (!t->count)
        return 0;
    size_t bytes = t->count * frg_class_size(c);
    *released |= frg_central_free_batch(c, t->slots, t->count);
    if (FRG_VG_ENABLED)
        memset(t->slots, 0, t->count * sizeof(void *));
    set_count(t, 0);
    __atomic_fetch_sub(&held_bytes, bytes, __ATOMIC_RELAXED);
    return bytes;
}

static size_t drain_class(unsigned c, bool *released) {
    struct transfer_class *t = &classes[c];
    if (!__atomic_load_n(&t->count, __ATOMIC_RELAXED))
        return 0;
    frg_lock(&t->lock);
    size_t bytes = drain_locked(c, released);
    frg_unlock(&t->lock);
    return bytes;
}

size_t frg_transfer_drain(unsigned cls) {
    bool released = false;
    size_t bytes = 0;
    if (cls < FRG_NCLASSES)
        bytes = drain_class(cls, &released);
    else
        for (unsigned c = 0; c < FRG_NCLASSES; c++)
            bytes += drain_class(c, &released);
    if (released)
        frg_pageheap_enforce_budget();
    return bytes;
}

size_t frg_transfer_decay(uint64_t now_ns, uint64_t idle_ns) {
    bool released = false;
    size_t bytes = 0;
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        struct transfer_class *t = &classes[c];
        if (!__atomic_load_n(&t->count, __ATOMIC_RELAXED))
            continue;
        frg_lock(&t->lock);
        if (t->used) {
            t->used = false;
            t->seen_used_ns = now_ns;
        } else if (now_ns - t->seen_used_ns >= idle_ns) {
            bytes += drain_locked(c, &released);
        }
        frg_unlock(&t->lock);
    }
    if (released)
        frg_pageheap_enforce_budget();
    return bytes;
}

size_t frg_transfer_bytes(void) { return __atomic_load_n(&held_bytes, __ATOMIC_RELAXED); }

size_t frg_transfer_objs(unsigned cls) {
    return __atomic_load_n(&classes[cls].count, __ATOMIC_RELAXED);
}

void frg_transfer_lock_all(void) {
    for (unsigned c = 0; c < FRG_NCLASSES; c++)
        frg_lock(&classes[c].lock);
}

void frg_transfer_unlock_all(void) {
    for (unsigned c = FRG_NCLASSES; c-- > 0;)
        frg_unlock(&classes[c].lock);
}

void frg_transfer_reinit_locks(void) {
    for (unsigned c = 0; c < FRG_NCLASSES; c++)
        frg_lock_reinit(&classes[c].lock);
}
