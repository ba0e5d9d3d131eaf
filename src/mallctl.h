/*
 * mallctl.h - jemalloc-style control and statistics by name.
 *
 * frg_mallctl("stats.allocated", &v, &len, NULL, 0) and friends.  Names
 * form a tree declared once in mallctl.c; docs/mallctl.md is generated from
 * it.  Errors follow jemalloc: ENOENT unknown name, EINVAL wrong size or
 * value, EPERM write to a read-only name.  stats.* values come from a
 * snapshot refreshed by writing (or reading) `epoch`.
 */
#ifndef FRG_MALLCTL_H
#define FRG_MALLCTL_H

#include <stddef.h>
#include "util.h"

/* Print every name, its type, access and description as a markdown
 * table (tests/mallctl_doc checks docs/mallctl.md against it). */
FRG_HIDDEN void frg_mallctl_doc(void (*write)(void *, const char *), void *opaque);

FRG_HIDDEN void frg_mallctl_lock(void);
FRG_HIDDEN void frg_mallctl_unlock(void);
FRG_HIDDEN void frg_mallctl_reinit_lock(void);

#endif
