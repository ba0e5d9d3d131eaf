/*
 * override.h - exporting the glibc allocator names from libfrgmalloc.so.
 *
 * FRG_OVERRIDE(name, target) makes `name` an alias of `target` (same code,
 * no extra jump) in the shared library built with -DFRG_OVERRIDE_GLIBC.
 * The static library defines only the frg_* names, so an SDK that links it
 * never replaces the process's malloc.  An alias must sit in the file that
 * defines its target.
 */
#ifndef FRG_OVERRIDE_H
#define FRG_OVERRIDE_H

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9
#define FRG_COPY_ATTRS(target) __attribute__((copy(target)))
#else
#define FRG_COPY_ATTRS(target)
#endif

#ifdef FRG_OVERRIDE_GLIBC
#define FRG_OVERRIDE(name, target)                                               \
    extern __typeof(target) name FRG_COPY_ATTRS(target)                          \
        __attribute__((alias(#target), visibility("default")));
#else
#define FRG_OVERRIDE(name, target)
#endif

#endif
