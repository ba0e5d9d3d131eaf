/*
 * slab.h - object bookkeeping inside one slab span.
 *
 * A slab is a span whose pages hold `nobjs` objects of one size class
 * (frg_classes[sclass]),
 * back to back from the span's base.  Which objects are free is an
 * out-of-band bitmap in the span descriptor: nothing is written into free
 * objects, so a use-after-free or overflow cannot corrupt it, and a double
 * free is a bit that is already set.  Callers hold the central lock of the
 * slab's class.
 */
#ifndef FRG_SLAB_H
#define FRG_SLAB_H

#include "span.h"

enum frg_slab_put { FRG_PUT_OK, FRG_PUT_DOUBLE_FREE, FRG_PUT_INTERIOR };

/* Lay out a fresh slab of class `cls`: every object free. */
FRG_HIDDEN void frg_slab_format(struct frg_span *s, unsigned cls);
/* Take up to n free objects, lowest addresses first; returns how many.
 * The pages they lie on are no longer counted as purged, and get their
 * page-map slab flag back. */
FRG_HIDDEN unsigned frg_slab_take(struct frg_span *s, void **out, unsigned n);
/* Return one object to its slab. */
FRG_HIDDEN enum frg_slab_put frg_slab_put(struct frg_span *s, void *p);
/* Pages of s that hold objects, all of them free (bit j = page j), purged
 * or not (see s->purged).  A page of nothing but the slab's unused tail is
 * never touched, so never counted. */
FRG_HIDDEN uint16_t frg_slab_free_pages(const struct frg_span *s);
/* Pages `pages` of slab s, which hold only free objects and lost their
 * slab flag for a purge, are in use again (or the purge failed, maybe
 * half-way): write the free key back into every object that starts on
 * them, then set their flag.  Class lock held. */
FRG_HIDDEN void frg_slab_pages_back(const struct frg_span *s, uint16_t pages);
/* Is p the start of an object that is currently allocated? */
FRG_HIDDEN bool frg_slab_is_live(const struct frg_span *s, const void *p);
/* Debug: freemap consistent with nfree and the class, no live object on
 * a purged page, page-map slab flags set exactly on the pages not purged.
 * (The slab must be registered in the page map.) */
FRG_HIDDEN bool frg_slab_validate(const struct frg_span *s);

#endif
