/*
 * transfer.c - the transfer cache (transfer.h): per size class, a bounded
 * stack of free objects that per-CPU caches flush into and refill from.
 *
 * Owns: classes[] (each class's stack, capacity and low-water mark),
 * held.bytes, the bytes held within transfer_max in all classes, and
 * budget_held.bytes, those held on the dirty budget's room (objects of
 * one-object slabs, see hold_on_budget).
 * Locking: classes[c].lock (rank TRANSFER) guards class c's stack.
 * It is held only to copy pointers; the central lists (rank CENTRAL) are
 * called after it is released, except by drains, which hold it across the
 * hand-over so that a drained class is empty when they return.  The
 * pointer arrays come from the metadata bump allocator (rank META_BUMP) on
 * a class's first flush, with the class lock held.  held.bytes and
 * budget_held.bytes are changed only under the lock of the class whose
 * count changes with them (a fork child never sees them disagree); a
 * flush reserves its bytes there, so transfer_max is exact.  The budget's
 * room is read without a lock, as stashing reads it: flushes on several
 * CPUs at once may each pass it, by a batch each.
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
    unsigned count;      /* objects held, at most max_objs[class] */
    /* The fewest objects held since low_since_ns: the `low` objects at the
     * bottom of the stack have not been touched since then. */
    unsigned low;
    uint64_t low_since_ns; /* purger's clock */
    /* Of `count`, the objects held on the dirty budget's room rather than
     * within transfer_max (one-object classes only, see hold_on_budget);
     * read without the lock, written with it. */
    unsigned on_budget;
    void **slots;
} FRG_ALIGNED(FRG_CACHELINE);

static struct transfer_class classes[FRG_NCLASSES] = {
    [0 ... FRG_NCLASSES - 1] = {.lock = FRG_LOCK_INIT(FRG_RANK_TRANSFER)},
};
static unsigned max_objs[FRG_NCLASSES]; /* per-class bound (0: class unused) */
/* Slots in class c's array: max_objs[c], or TRANSFER_MAX_OBJS where
 * objects may also be held on the dirty budget. */
static unsigned cap_objs[FRG_NCLASSES];
/* Bytes of objects held, all classes (atomic), in a line of its own: every
 * transfer on any CPU writes it. */
static struct {
    size_t bytes;
} FRG_ALIGNED(FRG_CACHELINE) held;
/* Bytes of objects held on the dirty budget's room, all classes (atomic):
 * frg_purge_keep_room counts them with the stashed slabs. */
static struct {
    size_t bytes;
} FRG_ALIGNED(FRG_CACHELINE) budget_held;

/* count is read without the lock (to skip empty classes), written with it */
static void set_count(struct transfer_class *t, unsigned n) {
    __atomic_store_n(&t->count, n, __ATOMIC_RELAXED);
}

void frg_transfer_init(void) {
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        size_t n = frg_opt.transfer_max / 4 / frg_class_size(c);
        max_objs[c] = (unsigned)(n > TRANSFER_MAX_OBJS ? TRANSFER_MAX_OBJS : n);
        /* A slab of one object is free exactly when its object is: holding
         * the object here keeps the same pages as stashing the slab
         * (central.c), under the same budget, without refiling a slab at
         * every free and malloc. */
        bool whole_slab = frg_classes[c].nobjs == 1 && frg_opt.transfer_max;
        cap_objs[c] = whole_slab ? TRANSFER_MAX_OBJS : max_objs[c];
    }
}

/* Set up class c's array on its first flush (max_objs[c] > 0); false if
 * there is no memory for it. */
static bool ready(struct transfer_class *t, unsigned c) {
    if (FRG_UNLIKELY(t->slots == NULL))
        t->slots = frg_meta_alloc(cap_objs[c] * sizeof(void *), FRG_CACHELINE);
    return t->slots != NULL;
}

/* n objects leave class c's stack: those held on the budget first.  Class
 * lock held. */
static void unaccount(struct transfer_class *t, unsigned c, unsigned n) {
    unsigned b = n < t->on_budget ? n : t->on_budget;
    size_t size = frg_class_size(c);
    __atomic_store_n(&t->on_budget, t->on_budget - b, __ATOMIC_RELAXED);
    if (b)
        __atomic_fetch_sub(&budget_held.bytes, b * size, __ATOMIC_RELAXED);
    if (n > b)
        __atomic_fetch_sub(&held.bytes, (n - b) * size, __ATOMIC_RELAXED);
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
        if (t->count < t->low)
            t->low = t->count;
        unaccount(t, cls, got);
        frg_unlock(&t->lock);
    }
    if (got < n)
        got += frg_central_alloc_batch(cls, out + got, n - got);
    return got;
}

static size_t drain_bottom(unsigned c, unsigned n, uint64_t idle_since_ns, bool *released);

/* A one-object class's batch that transfer_max has no room for: held on
 * the dirty budget's room if there is any (else none of it); while the
 * budget is overrun, the class gives back as many of the objects it holds
 * on it as the overrun takes, as a class gives back its stashed slabs.
 * Returns the objects taken. */
static unsigned hold_on_budget(unsigned cls, void *const *ptrs, unsigned n, size_t bytes,
                               bool *released) {
    struct transfer_class *t = &classes[cls];
    int64_t room = frg_purge_keep_room();
    if (room >= 0 ? room < (int64_t)bytes : !__atomic_load_n(&t->on_budget, __ATOMIC_RELAXED))
        return 0; /* no room for the batch; or overrun, with nothing to give back */
    unsigned taken = 0;
    frg_lock(&t->lock);
    if (room < 0) {
        /* as many as the overrun, not the whole class: one free pays for it */
        size_t size = frg_class_size(cls);
        size_t over = ((size_t)-room + size - 1) / size;
        unsigned give = t->on_budget < over ? t->on_budget : (unsigned)over;
        drain_bottom(cls, give < t->count ? give : t->count, 0, released);
    } else if (t->count + n <= cap_objs[cls] && ready(t, cls)) {
        bool was_empty = t->count == 0;
        memcpy(t->slots + t->count, ptrs, n * sizeof(void *));
        set_count(t, t->count + n);
        __atomic_store_n(&t->on_budget, t->on_budget + n, __ATOMIC_RELAXED);
        __atomic_fetch_add(&budget_held.bytes, bytes, __ATOMIC_RELAXED);
        taken = n;
        if (was_empty)
            frg_purge_notify();
    }
    frg_unlock(&t->lock);
    return taken;
}

bool frg_transfer_free_batch(unsigned cls, void *const *ptrs, unsigned n) {
    struct transfer_class *t = &classes[cls];
    size_t bytes = n * frg_class_size(cls);
    unsigned taken = 0;
    if (max_objs[cls] &&
        __atomic_load_n(&held.bytes, __ATOMIC_RELAXED) + bytes <= frg_opt.transfer_max) {
        frg_lock(&t->lock);
        if (t->count - t->on_budget + n <= max_objs[cls] && t->count + n <= cap_objs[cls] &&
            ready(t, cls)) {
            /* Reserve the bytes: the bound holds however many classes
             * flush at once. */
            if (__atomic_add_fetch(&held.bytes, bytes, __ATOMIC_RELAXED) <= frg_opt.transfer_max) {
                bool was_empty = t->count == 0;
                memcpy(t->slots + t->count, ptrs, n * sizeof(void *));
                set_count(t, t->count + n);
                taken = n;
                if (was_empty)
                    frg_purge_notify(); /* the purger drains what stays unused */
            } else {
                __atomic_fetch_sub(&held.bytes, bytes, __ATOMIC_RELAXED);
            }
        }
        frg_unlock(&t->lock);
    }
    bool released = false;
    /* cap_objs above max_objs: a one-object class, with slots beyond
     * transfer_max's share (not when that share already fills them) */
    if (!taken && cap_objs[cls] > max_objs[cls])
        taken = hold_on_budget(cls, ptrs, n, bytes, &released);
    return (taken < n && frg_central_free_batch(cls, ptrs + taken, n - taken)) || released;
}

/* Move the `n` objects at the bottom of class c's stack (the longest
 * there) to the central lists; `idle_since_ns`: they were not touched
 * since the purger's clock read that (0: not known; see
 * frg_central_free_batch_idle).
 * Class lock held. */
static size_t drain_bottom(unsigned c, unsigned n, uint64_t idle_since_ns, bool *released) {
    struct transfer_class *t = &classes[c];
    if (!n)
        return 0;
    size_t bytes = n * frg_class_size(c);
    unaccount(t, c, n); /* first: the budget's room then counts them as gone */
    *released |= frg_central_free_batch_idle(c, t->slots, n, idle_since_ns);
    memmove(t->slots, t->slots + n, (t->count - n) * sizeof(void *));
    if (FRG_VG_ENABLED)
        memset(t->slots + t->count - n, 0, n * sizeof(void *));
    set_count(t, t->count - n);
    t->low = t->low > n ? t->low - n : 0;
    return bytes;
}

static size_t drain_class(unsigned c, bool *released) {
    struct transfer_class *t = &classes[c];
    if (!__atomic_load_n(&t->count, __ATOMIC_RELAXED))
        return 0;
    frg_lock(&t->lock);
    size_t bytes = drain_bottom(c, t->count, 0, released);
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
        if (now_ns >= t->low_since_ns + idle_ns) {
            /* untouched for a whole period: the bottom `low` objects */
            bytes += drain_bottom(c, t->low < t->count ? t->low : t->count, t->low_since_ns,
                                  &released);
            t->low = t->count;
            t->low_since_ns = now_ns;
        }
        frg_unlock(&t->lock);
    }
    if (released)
        frg_pageheap_enforce_budget();
    return bytes;
}

size_t frg_transfer_bytes(void) {
    return __atomic_load_n(&held.bytes, __ATOMIC_RELAXED) +
           __atomic_load_n(&budget_held.bytes, __ATOMIC_RELAXED);
}

size_t frg_transfer_budget_bytes(void) {
    return __atomic_load_n(&budget_held.bytes, __ATOMIC_RELAXED);
}

size_t frg_transfer_objs(unsigned cls) {
    return __atomic_load_n(&classes[cls].count, __ATOMIC_RELAXED);
}

void frg_transfer_lock_all(void) { frg_lock_each(FRG_LOCK_ARRAY(classes, FRG_NCLASSES, lock)); }
void frg_transfer_unlock_all(void) { frg_unlock_each(FRG_LOCK_ARRAY(classes, FRG_NCLASSES, lock)); }
void frg_transfer_reinit_locks(void) {
    frg_lock_reinit_each(FRG_LOCK_ARRAY(classes, FRG_NCLASSES, lock));
}
