/*
 * pagemap.h - radix map from address to span descriptor.
 *
 * Two levels over the 47-bit user address space with 4 KiB pages: a static
 * root of 2^20 leaf pointers (8 MiB of .bss, committed only where touched)
 * and leaves of 2^15 entries (256 KiB each, reserved with MAP_NORESERVE and
 * committed page by page as entries are written), each leaf covering
 * 128 MiB.  The root being static means lookups work before
 * initialisation.  Lookups take no lock and cost two dependent loads; an address we never
 * registered maps to NULL, which is how free() knows a pointer is not ours.  Entries are written only by
 * the owner of the span (page heap or huge layer) while it is not yet, or
 * no longer, reachable by the program.
 */
#ifndef FRG_PAGEMAP_H
#define FRG_PAGEMAP_H

#include "os.h"
#include "sizeclass.h"
#include "span.h"

#define FRG_VA_BITS 47
#define FRG_PM_LEAF_BITS 15
#define FRG_PM_ROOT_BITS (FRG_VA_BITS - FRG_PAGE_SHIFT - FRG_PM_LEAF_BITS)

#define FRG_PM_LEAF_PAGES ((sizeof(void *) << FRG_PM_LEAF_BITS) / FRG_PAGE)

/* An entry is the span descriptor's address (low 47 bits; 0 = not ours).
 * The pages of a slab also carry FRG_PM_SLAB, the slab's size class and
 * the page's index inside the slab: free() checks an object and finds its
 * class from the entry and the constant class table, without reading the
 * descriptor, whose other fields the central lists write from any CPU. */
#define FRG_PM_SPAN_MASK (((uint64_t)1 << FRG_VA_BITS) - 1)
#define FRG_PM_SLAB ((uint64_t)1 << FRG_VA_BITS)
#define FRG_PM_CLASS_SHIFT 48
#define FRG_PM_INDEX_SHIFT 56
_Static_assert(FRG_NCLASSES <= 256, "a size class fits the entry's 8 bits");
_Static_assert(FRG_SLAB_MAX_PAGES <= 256, "a slab page index fits the entry's 8 bits");

struct frg_pm_leaf {
    uint64_t entry[1u << FRG_PM_LEAF_BITS];
    uint64_t touched; /* bit i: page i of `entry` has been written */
};

FRG_HIDDEN extern struct frg_pm_leaf *frg_pm_root[(size_t)1 << FRG_PM_ROOT_BITS];

/* Make sure the leaves covering [addr, addr+size) exist; false if metadata
 * memory is exhausted. */
FRG_HIDDEN bool frg_pagemap_ensure(uintptr_t addr, size_t size);
/* Point `npages` pages from `addr` at `span` (NULL to clear).  Leaves must
 * exist (frg_pagemap_ensure).  A slab's kind and class must be set first:
 * its entries carry them. */
FRG_HIDDEN void frg_pagemap_set(uintptr_t addr, size_t npages, struct frg_span *span);
/* Bytes of the page map that have been written (root and leaf pages). */
FRG_HIDDEN size_t frg_pagemap_committed(void);
/* Fork support. */
FRG_HIDDEN void frg_pagemap_lock(void);
FRG_HIDDEN void frg_pagemap_unlock(void);
FRG_HIDDEN void frg_pagemap_reinit_lock(void);

FRG_INLINE uint64_t frg_pagemap_entry(const void *ptr) {
    uintptr_t a = (uintptr_t)ptr;
    if (FRG_UNLIKELY(a >> FRG_VA_BITS))
        return 0;
    uintptr_t page = a >> FRG_PAGE_SHIFT;
    struct frg_pm_leaf *leaf =
        __atomic_load_n(&frg_pm_root[page >> FRG_PM_LEAF_BITS], __ATOMIC_ACQUIRE);
    if (FRG_UNLIKELY(!leaf))
        return 0;
    return __atomic_load_n(&leaf->entry[page & ((1u << FRG_PM_LEAF_BITS) - 1)],
                           __ATOMIC_RELAXED);
}

FRG_INLINE struct frg_span *frg_pm_span(uint64_t entry) {
    return (struct frg_span *)(uintptr_t)(entry & FRG_PM_SPAN_MASK);
}

/* For an entry with FRG_PM_SLAB: the slab's class, and the slab's first
 * byte given an address `ptr` inside it. */
FRG_INLINE unsigned frg_pm_class(uint64_t entry) {
    return (unsigned)(entry >> FRG_PM_CLASS_SHIFT) & 0xff;
}
FRG_INLINE uintptr_t frg_pm_slab_base(uint64_t entry, const void *ptr) {
    return ((uintptr_t)ptr & ~(uintptr_t)(FRG_PAGE - 1)) -
           ((uintptr_t)(entry >> FRG_PM_INDEX_SHIFT) << FRG_PAGE_SHIFT);
}

FRG_INLINE struct frg_span *frg_pagemap_lookup(const void *ptr) {
    return frg_pm_span(frg_pagemap_entry(ptr));
}

#endif
