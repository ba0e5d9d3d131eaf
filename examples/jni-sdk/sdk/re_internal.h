/*
 * re_internal.h - private to the rule engine SDK (ruleengine.c, re_shared.c).
 *
 * The allocation macros: every allocation of the SDK goes through them.
 * By default they are the libc names (glibc, or whatever allocator is
 * LD_PRELOADed); with -DRE_USE_FRG they are libfrgmalloc's frg_* names,
 * for linking libfrgmalloc.a privately into the SDK's shared library.
 *
 * Also: checked allocation (abort on out of memory), counters, the shared
 * objects' interface (intern table, metrics registry, in re_shared.c).
 */
#ifndef RE_INTERNAL_H
#define RE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef RE_USE_FRG
#include "frgmalloc.h"
#define RE_MALLOC(n) frg_malloc(n)
#define RE_CALLOC(n, s) frg_calloc((n), (s))
#define RE_REALLOC(p, n) frg_realloc((p), (n))
#define RE_FREE(p) frg_free(p)
#define RE_HEAP "frg-static"
#else
#define RE_MALLOC(n) malloc(n)
#define RE_CALLOC(n, s) calloc((n), (s))
#define RE_REALLOC(p, n) realloc((p), (n))
#define RE_FREE(p) free(p)
#define RE_HEAP "libc"
#endif

#define RE_HIDDEN __attribute__((visibility("hidden")))

/* Returns p; if it is NULL for a non-zero size, prints and aborts. */
RE_HIDDEN void *re_chk(void *p, size_t n);

/* Process-wide counters (atomic adds; see re_get_counters). */
RE_HIDDEN extern uint64_t re_g_created, re_g_destroyed, re_g_events, re_g_allocs;
#define RE_ADD(var, n) __atomic_fetch_add(&(var), (uint64_t)(n), __ATOMIC_RELAXED)

/* FNV-1a of len bytes. */
RE_HIDDEN uint32_t re_hash(const char *s, size_t len);

/* The interned, process-lifetime copy of s (allocated the first time). */
RE_HIDDEN const char *re_intern(const char *s, size_t len);

/* A metric counter; registered ones live as long as the process. */
typedef struct re_metric {
    const char *name; /* interned (registered) or owned by a VM */
    uint64_t count, sum;
    uint64_t hist[8];
} re_metric;

/* Allocates a counter named name (interned) and keeps it in the registry. */
RE_HIDDEN re_metric *re_metric_register(const char *name);

#endif
