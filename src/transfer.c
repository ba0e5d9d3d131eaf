/*
 * transfer.c - the transfer cache (transfer.h): per size class, a bounded
 * stack of free objects that per-CPU caches flush into and refill from.
 *
 * Owns: classes[] (each class's stack, capacity and low-water mark) and
 * held.bytes, the bytes held in all classes.
 * Locking: classes[c].lock (rank TRANSFER) guards class c's stack.
 * It is held only to copy pointers; the central lists (rank CENTRAL) are
 * called after it is released, except by drains, which hold it across the
 * hand-over so that a drained class is empty when they return.  The
 * pointer arrays come from the metadata bump allocator (rank META_BUMP) on
 * a class's first flush, with the class lock held.  held.bytes is
 * changed only under the lock of the class whose count changes with it (a
 * fork child never sees the two disagree); a flush reserves its bytes
 * there, so the bound is exact.
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
    void **slots;
} FRG_ALIGNED(FRG_CACHELINE);

static struct transfer_class classes[FRG_NCLASSES] = {
    [0 ... FRG_NCLASSES - 1] = {.lock = FRG_LOCK_INIT(FRG_RANK_TRANSFER)},
};
static unsigned max_objs[FRG_NCLASSES]; /* per-class bound (0: class unused) */
/* Bytes of objects held, all classes (atomic), in a line of its own: every
 * transfer on any CPU writes it. */
static struct {
    size_t bytes;
} FRG_ALIGNED(FRG_CACHELINE) held;

/* count is read without the lock (to skip empty classes), written with it */
static void set_count(struct transfer_class *t, unsigned n) {
    __atomic_store_n(&t->count, n, __ATOMIC_RELAXED);
}

void frg_transfer_init(void) {
    for (unsigned c = 0; c < FRG_NCLASSES; c++) {
        size_t n = frg_opt.transfer_max / 4 / frg_class_size(c);
        max_objs[c] = (unsigned)(n > TRANSFER_MAX_OBJS ? TRANSFER_MAX_OBJS : n);
    }
}

/* Set up class c's array on its first flush (max_objs[c] > 0); false if
 * there is no memory for it. */
static bool ready(struct transfer_class *t, unsigned c) {
    if (FRG_UNLIKELY(t->slots == NULL))
        t->slots = frg_meta_alloc(max_objs[c] * sizeof(void *), FRG_CACHELINE);
    return t->slots != NULL;
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
        __atomic_fetch_sub(&held.bytes, got * frg_class_size(cls), __ATOMIC_RELAXED);
        frg_unlock(&t->lock);
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
        __atomic_load_n(&held.bytes, __ATOMIC_RELAXED) + bytes <= frg_opt.transfer_max) {
        frg_lock(&t->lock);
        if (t->count + n <= max_objs[cls] && ready(t, cls)) {
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
    return taken < n && frg_central_free_batch(cls, ptrs + taken, n - taken);
}

/* Move the `n` objects at the bottom of class c's stack (the longest
 * there) to the central lists.  Class lock held. */
static size_t drain_bottom(unsigned c, unsigned n, bool *released) {
    struct transfer_class *t = &classes[c];
    if (!n)
        return 0;
    size_t bytes = n * frg_class_size(c);
    *released |= frg_central_free_batch(c, t->slots, n);
    memmove(t->slots, t->slots + n, (t->count - n) * sizeof(void *));
    if (FRG_VG_ENABLED)
        memset(t->slots + t->count - n, 0, n * sizeof(void *));
    set_count(t, t->count - n);
    t->low = t->low > n ? t->low - n : 0;
    __atomic_fetch_sub(&held.bytes, bytes, __ATOMIC_RELAXED);
    return bytes;
}

static size_t drain_class(unsigned c, bool *released) {
    struct transfer_class *t = &classes[c];
    if (!__atomic_load_n(&t->count, __ATOMIC_RELAXED))
        return 0;
    frg_lock(&t->lock);
    size_t bytes = drain_bottom(c, t->count, released);
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
            bytes += drain_bottom(c, t->low < t->count ? t->low : t->count, &released);
            t->low = t->count;
            t->low_since_ns = now_ns;
        }
        frg_unlock(&t->lock);
    }
    if (released)
        frg_pageheap_enforce_budget();
    return bytes;
}

size_t frg_transfer_bytes(void) { return __atomic_load_n(&held.bytes, __ATOMIC_RELAXED); }

size_t frg_transfer_objs(unsigned cls) {
    return __atomic_load_n(&classes[cls].count, __ATOMIC_RELAXED);
}

void frg_transfer_lock_all(void) { frg_lock_each(FRG_LOCK_ARRAY(classes, FRG_NCLASSES, lock)); }
void frg_transfer_unlock_all(void) { frg_unlock_each(FRG_LOCK_ARRAY(classes, FRG_NCLASSES, lock)); }
void frg_transfer_reinit_locks(void) {
    frg_lock_reinit_each(FRG_LOCK_ARRAY(classes, FRG_NCLASSES, lock));
}
