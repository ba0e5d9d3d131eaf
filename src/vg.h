/*
 * vg.h - telling valgrind's memcheck about our objects.
 *
 * With configure --enable-valgrind (FRG_VALGRIND) the allocation entry
 * points mark blocks as allocated and freed with memcheck client requests,
 * so a program that links libfrgmalloc statically (where memcheck cannot
 * replace malloc) still gets use-after-free, overflow and leak reports.
 * The requests cost a few no-op instructions when not running under
 * valgrind; without FRG_VALGRIND they compile to nothing.
 */
#ifndef FRG_VG_H
#define FRG_VG_H

#ifdef FRG_VALGRIND
#include <valgrind/memcheck.h>
/* Mark the whole usable area inaccessible, then the request allocated:
 * an overflow into the slack after the request is reported too. */
#define FRG_VG_MALLOC(p, size, zeroed)                                                \
    do {                                                                              \
        if (p) {                                                                      \
            VALGRIND_MAKE_MEM_NOACCESS((p), frg_malloc_usable_size(p));               \
            VALGRIND_MALLOCLIKE_BLOCK((p), (size), 0, (zeroed));                      \
        }                                                                             \
    } while (0)
#define FRG_VG_FREE(p) VALGRIND_FREELIKE_BLOCK((p), 0)
#define FRG_VG_NOACCESS(p, size) VALGRIND_MAKE_MEM_NOACCESS((p), (size))
/* Reading our key word of a block being freed: not the program's read. */
#define FRG_VG_DEFINED(p, size) VALGRIND_MAKE_MEM_DEFINED((p), (size))
/* Our own bookkeeping word in a freed object (the double-free key). */
#define FRG_VG_OWN(p, size) VALGRIND_MAKE_MEM_UNDEFINED((p), (size))
#define FRG_VG_QUIET_BEGIN() VALGRIND_DISABLE_ERROR_REPORTING
#define FRG_VG_QUIET_END() VALGRIND_ENABLE_ERROR_REPORTING
#define FRG_VG_ENABLED 1
#else
#define FRG_VG_MALLOC(p, size, zeroed) ((void)0)
#define FRG_VG_FREE(p) ((void)0)
#define FRG_VG_NOACCESS(p, size) ((void)0)
#define FRG_VG_DEFINED(p, size) ((void)0)
#define FRG_VG_OWN(p, size) ((void)0)
#define FRG_VG_QUIET_BEGIN() ((void)0)
#define FRG_VG_QUIET_END() ((void)0)
#define FRG_VG_ENABLED 0
#endif

#endif
