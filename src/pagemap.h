/*
 * pagemap.h - radix map from address to span descriptor.
 *
 * Two levels over the 47-bit user address space with 4 KiB pages: a static
 * root of 2^20 leaf pointers (8 MiB of .bss, committed only where touched)
 * and leaves of 2^15 entries (256 KiB each, committed page by page as
 * entries are written), each leaf covering 128 MiB.  The root being static
 * means lookups work before initialisation.
 *
 * Two layouts of the leaves (option `pagemap`):
 *   flat  the default: all 2^20 possible leaves are consecutive slices of
 *         one 256 GiB reservation of address space, inaccessible
 *         (PROT_NONE: no memory, nothing for mlockall to fault in) until
 *         a chunk needs a slice, which is then made readable and writable
 *         before the root points at it.  A lookup loads the root entry
 *         and, without waiting for it, frg_pm_flat[address >> 12]: the
 *         root only says whether that slice is there, so the CPU runs the
 *         two loads side by side, where the tree's second load needs the
 *         first's value.
 *   tree  each leaf its own 256 KiB reservation (MAP_NORESERVE), made
 *         when a chunk first needs it; a lookup loads the root, then the
 *         leaf.  The fallback where the reservation is refused (a
 *         `ulimit -v` below it, valgrind).
 * Writers go through the root in both layouts (in the flat one it points
 * at the slices in use).  Lookups take no lock; an address we never
 * registered maps to 0, which is how free() knows a pointer is not ours.
 * Entries are written only by the owner of the span (page heap or huge
 * layer) while it is not yet, or no longer, reachable by the program; the
 * one exception is the slab flag of pages with no live object
 * (frg_pagemap_set_slab_flag).
 */
#ifndef FRG_PAGEMAP_H
#define FRG_PAGEMAP_H

#include "os.h"
#include "sizeclass.h"
#include "span.h"

#define FRG_VA_BITS 47
#define FRG_PM_LEAF_BITS 15
#define FRG_PM_ROOT_BITS (FRG_VA_BITS - FRG_PAGE_SHIFT - FRG_PM_LEAF_BITS)

#define FRG_PM_LEAF_PAGES ((sizeof(uint64_t) << FRG_PM_LEAF_BITS) / FRG_PAGE) /* 64 */

/* An entry is the span descriptor's address (bits 4-46; 0 = not ours;
 * descriptors are 16-byte aligned).  The pages of a slab also carry
 * FRG_PM_SLAB (bit 47), the slab's size class (bits 56-63) and bits 12-15
 * of the slab's base address (bits 0-3): free() checks an object and
 * finds its class from the entry and the constant class table, without
 * reading the descriptor, whose other fields the central lists write from
 * any CPU.  Those four base bits are all it needs to find an object's
 * offset in a slab of at most 64 KiB (frg_pm_slab_offset).  The first
 * page of a run of a large class that the CPU caches take carries them
 * too (its sclass): to free() it is a one-object slab.  Bits 48-55
 * count the times the slab flag was cleared (mod 256), so that free() can
 * tell "still set" from "cleared and set again" by comparing the whole
 * entry (alloc.c, entry_unchanged). */
#define FRG_PM_SPAN_MASK ((((uint64_t)1 << FRG_VA_BITS) - 1) & ~(uint64_t)15)
#define FRG_PM_SLAB ((uint64_t)1 << FRG_VA_BITS)
#define FRG_PM_GEN_SHIFT 48
#define FRG_PM_GEN_MASK ((uint64_t)0xff << FRG_PM_GEN_SHIFT)
#define FRG_PM_CLASS_SHIFT 56
_Static_assert(FRG_PM_GEN_SHIFT > FRG_VA_BITS && FRG_PM_GEN_SHIFT + 8 == FRG_PM_CLASS_SHIFT,
               "the clear count sits between the slab flag and the class");
#define FRG_PM_BASE_SHIFT 12 /* entry bits 0-3 are the base's bits 12-15 */
_Static_assert(FRG_NCACHE_CLASSES <= 256, "a size class (large ones too) fits the entry's 8 bits");
_Static_assert(FRG_SLAB_MAX_PAGES * FRG_PAGE <= 65536,
               "an offset inside a slab fits 16 bits (frg_pm_slab_offset)");
_Static_assert(sizeof(struct frg_span) % 16 == 0 && _Alignof(struct frg_span) >= 16,
               "descriptors leave the entry's low 4 bits free");

struct frg_pm_leaf {
    uint64_t entry[1u << FRG_PM_LEAF_BITS];
};

FRG_HIDDEN extern struct frg_pm_leaf *frg_pm_root[(size_t)1 << FRG_PM_ROOT_BITS];
/* The flat layout's reservation: entry i is page i's; NULL in the tree
 * layout and before initialisation.  Set once, before any leaf exists. */
FRG_HIDDEN extern uint64_t *frg_pm_flat;

/* Choose the layout (option `pagemap`); at initialisation, before the
 * first frg_pagemap_ensure. */
FRG_HIDDEN void frg_pagemap_init(void);
/* "flat" or "tree": the layout in use. */
FRG_HIDDEN const char *frg_pagemap_layout(void);

/* Make sure the leaves covering [addr, addr+size) exist; false (errno =
 * ENOMEM) if metadata memory is exhausted. */
FRG_HIDDEN bool frg_pagemap_ensure(uintptr_t addr, size_t size);
/* Point `npages` pages from `addr` at `span` (NULL to clear).  Leaves must
 * exist (frg_pagemap_ensure).  A slab's kind and class must be set first:
 * its entries carry them. */
FRG_HIDDEN void frg_pagemap_set(uintptr_t addr, size_t npages, struct frg_span *span);
/* Set or clear FRG_PM_SLAB on `npages` slab pages from `addr`, keeping
 * the rest of their entries (a clear also bumps the clear count).  Pages
 * of a slab that hold no live object and were given back to the OS lose
 * the flag while they are (the central
 * list does it, under the class's lock), so that free, realloc and
 * malloc_usable_size of a pointer into them take the slow path, which
 * checks the slab's freemap: the free key a freed object held is gone
 * with the page. */
FRG_HIDDEN void frg_pagemap_set_slab_flag(uintptr_t addr, size_t npages, bool on);
/* Bytes of the page map that have been written (pages of the root, of the
 * leaves and of their touched bits). */
FRG_HIDDEN size_t frg_pagemap_committed(void);
/* Fork support. */
FRG_HIDDEN void frg_pagemap_lock(void);
FRG_HIDDEN void frg_pagemap_unlock(void);
FRG_HIDDEN void frg_pagemap_reinit_lock(void);

/* Where ptr's entry is kept, or NULL if no leaf covers it. */
FRG_INLINE const uint64_t *frg_pagemap_slot(const void *ptr) {
    uintptr_t a = (uintptr_t)ptr;
    uintptr_t root_idx = a >> (FRG_PAGE_SHIFT + FRG_PM_LEAF_BITS);
    if (FRG_UNLIKELY(root_idx >= ((uintptr_t)1 << FRG_PM_ROOT_BITS))) /* a >= 2^47 */
        return NULL;
    struct frg_pm_leaf *leaf = __atomic_load_n(&frg_pm_root[root_idx], __ATOMIC_ACQUIRE);
    if (FRG_UNLIKELY(!leaf))
        return NULL;
    /* Flat: the same address as from `leaf`, computed without its value,
     * so the entry's load need not wait for the root's. */
    const uint64_t *flat = __atomic_load_n(&frg_pm_flat, __ATOMIC_RELAXED);
    if (FRG_LIKELY(flat != NULL))
        return &flat[a >> FRG_PAGE_SHIFT];
    return &leaf->entry[(a >> FRG_PAGE_SHIFT) & ((1u << FRG_PM_LEAF_BITS) - 1)];
}

/* The entry kept at `slot` (0 for NULL).  Acquire: what the caller reads
 * of the page after it comes after it. */
FRG_INLINE uint64_t frg_pagemap_read(const uint64_t *slot) {
    return slot ? __atomic_load_n(slot, __ATOMIC_ACQUIRE) : 0;
}

FRG_INLINE uint64_t frg_pagemap_entry(const void *ptr) {
    return frg_pagemap_read(frg_pagemap_slot(ptr));
}

FRG_INLINE struct frg_span *frg_pm_span(uint64_t entry) {
    return (struct frg_span *)(uintptr_t)(entry & FRG_PM_SPAN_MASK);
}

/* For an entry with FRG_PM_SLAB: the slab's class, and the byte offset of
 * `ptr` (an address inside the slab) from the slab's base.  The offset is
 * below 2^16, so it is (ptr - base) mod 2^16, and base mod 2^16 is the
 * entry's low 4 bits shifted up by 12: the entry's other bits shift out
 * of the 16-bit result. */
FRG_INLINE unsigned frg_pm_class(uint64_t entry) {
    return (unsigned)(entry >> FRG_PM_CLASS_SHIFT);
}
FRG_INLINE uint16_t frg_pm_slab_offset(uint64_t entry, const void *ptr) {
    return (uint16_t)((uintptr_t)ptr - (uintptr_t)(entry << FRG_PM_BASE_SHIFT));
}
FRG_INLINE struct frg_span *frg_pagemap_lookup(const void *ptr) {
    return frg_pm_span(frg_pagemap_entry(ptr));
}

#endif
