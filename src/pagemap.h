/*
 * pagemap.h - radix map from address to span descriptor.
 *
 * Two levels over the 47-bit user address space with 4 KiB pages: a static
 * root of 2^20 leaf pointers (8 MiB of .bss, committed only where touched)
 * and leaves of 2^15 entries (256 KiB each, reserved with MAP_NORESERVE and
 * committed page by page as entries are written), each leaf covering
 * 128 MiB.  The root being static means lookups work before
 * initialisation.  Lookups take no lock and cost two dependent loads; an address we never registered maps to NULL, which
 * is how free() knows a pointer is not ours.  Entries are written only by
 * the owner of the span (page heap or huge layer) while it is not yet, or
 * no longer, reachable by the program.
 */
#ifndef FRG_PAGEMAP_H
#define FRG_PAGEMAP_H

#include "os.h"
#include "span.h"

#define FRG_VA_BITS 47
#define FRG_PM_LEAF_BITS 15
#define FRG_PM_ROOT_BITS (FRG_VA_BITS - FRG_PAGE_SHIFT - FRG_PM_LEAF_BITS)

#define FRG_PM_LEAF_PAGES ((sizeof(void *) << FRG_PM_LEAF_BITS) / FRG_PAGE)

struct frg_pm_leaf {
    struct frg_span *entry[1u << FRG_PM_LEAF_BITS];
    uint64_t touched; /* bit i: page i of `entry` has been written */
};

FRG_HIDDEN extern struct frg_pm_leaf *frg_pm_root[(size_t)1 << FRG_PM_ROOT_BITS];

/* Make sure the leaves covering [addr, addr+size) exist; false if metadata
 * memory is exhausted. */
FRG_HIDDEN bool frg_pagemap_ensure(uintptr_t addr, size_t size);
/* Point `npages` pages from `addr` at `span` (NULL to clear).  Leaves must
 * exist (frg_pagemap_ensure). */
FRG_HIDDEN void frg_pagemap_set(uintptr_t addr, size_t npages, struct frg_span *span);
/* Bytes of the page map that have been written (root and leaf pages). */
FRG_HIDDEN size_t frg_pagemap_committed(void);
/* Fork support. */
FRG_HIDDEN void frg_pagemap_lock(void);
FRG_HIDDEN void frg_pagemap_unlock(void);
FRG_HIDDEN void frg_pagemap_reinit_lock(void);

FRG_INLINE struct frg_span *frg_pagemap_lookup(const void *ptr) {
    uintptr_t a = (uintptr_t)ptr;
    if (FRG_UNLIKELY(a >> FRG_VA_BITS))
        return NULL;
    uintptr_t page = a >> FRG_PAGE_SHIFT;
    struct frg_pm_leaf *leaf =
        __atomic_load_n(&frg_pm_root[page >> FRG_PM_LEAF_BITS], __ATOMIC_ACQUIRE);
    if (FRG_UNLIKELY(!leaf))
        return NULL;
    return __atomic_load_n(&leaf->entry[page & ((1u << FRG_PM_LEAF_BITS) - 1)],
                           __ATOMIC_RELAXED);
}

#endif
