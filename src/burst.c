/*
 * burst.c - seeing the end of a burst of frees.
 *
 * Owns: the history of pages in use that the purger keeps between passes.
 * Locking: called only with purge.c's purge_lock held (decay passes,
 * malloc_trim), which also orders it with fork; reads the page heap's
 * counts under the heap lock (frg_pageheap_used_pages).
 *
 * In use means pages in spans, which includes the empty slabs the central
 * lists stash and the large runs the caches keep.  So a program that frees
 * and reallocates in rounds, whose dirty budget has grown (its boost) to
 * stash what each round frees, shows no fall and is not purged at every
 * round; a burst after a quiet time finds the budget small, the slabs go
 * to the page heap, and the fall shows.  The page heap keeps the most
 * pages there were in spans between two looks, so a burst shorter than a
 * tick is seen.
 */
#include "burst.h"

#include "pageheap.h"

/* A fall smaller than this is not a burst: the caches cannot pin much. */
#define BURST_MIN_PAGES (((size_t)16 << 20) / FRG_PAGE)

static size_t high_pages; /* most in use since the last burst ended */
static size_t last_pages; /* in use as the last pass ended */
static bool looked;       /* a pass ended before this one */

/* Pages in use now, with the page heap's high point since the last look
 * folded into high_pages. */
static size_t look(void) {
    size_t high, used = frg_pageheap_used_pages(&high);
    if (high > high_pages)
        high_pages = high;
    return used;
}

/* Ended: in use fell to half or less of its high point since the last
 * burst, by BURST_MIN_PAGES at least, and the program moved it by less
 * than a sixteenth of that fall since the last pass ended (what a pass
 * gives back itself is not the program's doing). */
bool frg_burst_ended(void) {
    size_t used = look();
    if (!looked)
        return false;
    size_t fall = high_pages - used; /* high_pages >= the heap's high >= used */
    if (fall < BURST_MIN_PAGES || fall < high_pages / 2)
        return false;
    size_t moved = last_pages > used ? last_pages - used : used - last_pages;
    return moved < fall / 16;
}

void frg_burst_pass_end(bool ended) {
    last_pages = look();
    looked = true;
    if (ended)
        high_pages = last_pages; /* the next burst starts from here */
}
