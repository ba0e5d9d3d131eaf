/*
 * burst.h - seeing the end of a burst of frees, for the purger.
 *
 * A program that frees most of what it held and then goes on with a
 * little work (a JVM after a JNI SDK destroyed its objects) never looks
 * idle, yet what the caches kept from those frees pins otherwise empty
 * slabs.  The purger asks at the start of each pass whether such a burst
 * has just ended, and if so drains the CPU caches and purges as an idle
 * pass does (docs/design.md, "Purging").
 */
#ifndef FRG_BURST_H
#define FRG_BURST_H

#include <stdbool.h>

#include "util.h"

/* At the start of a pass (purge_lock held): has a burst just ended? */
FRG_HIDDEN bool frg_burst_ended(void);
/* At the end of a pass, with what frg_burst_ended said; and after a full
 * purge (malloc_trim), with true: what is in use now is where the next
 * burst starts. */
FRG_HIDDEN void frg_burst_pass_end(bool ended);

#endif
