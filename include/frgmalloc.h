/*
 * frgmalloc.h - public interface of libfrgmalloc.
 *
 * libfrgmalloc is a fragmentation-resistant malloc whose resident memory
 * follows live memory.  Used three ways:
 *   - LD_PRELOAD=libfrgmalloc.so: replaces malloc, free, ... for the whole
 *     process (the standard names are exported by the shared library);
 *   - linked statically (libfrgmalloc.a): only the frg_* names below exist,
 *     so a native SDK can use its own private heap while the process keeps
 *     its malloc.  Pointers from frg_malloc must be freed with frg_free;
 *   - frg_mallctl / frg_malloc_stats_print: statistics and control.
 * See docs/api.md.
 */
#ifndef FRGMALLOC_H
#define FRGMALLOC_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FRGMALLOC_VERSION "0.1.0"

#ifndef FRG_API
#define FRG_API __attribute__((visibility("default")))
#endif

/* The standard allocation functions, with glibc's semantics. */
FRG_API void *frg_malloc(size_t size) __attribute__((malloc, alloc_size(1)));
FRG_API void frg_free(void *ptr);
FRG_API void *frg_calloc(size_t nmemb, size_t size) __attribute__((malloc, alloc_size(1, 2)));
FRG_API void *frg_realloc(void *ptr, size_t size) __attribute__((alloc_size(2)));
FRG_API void *frg_reallocarray(void *ptr, size_t nmemb, size_t size);
FRG_API int frg_posix_memalign(void **memptr, size_t alignment, size_t size);
FRG_API void *frg_aligned_alloc(size_t alignment, size_t size)
    __attribute__((malloc, alloc_size(2)));
FRG_API void *frg_memalign(size_t alignment, size_t size) __attribute__((malloc));
FRG_API void *frg_valloc(size_t size) __attribute__((malloc));
FRG_API void *frg_pvalloc(size_t size) __attribute__((malloc));
FRG_API size_t frg_malloc_usable_size(void *ptr);

/* glibc's malloc.h extensions. */
#if defined(__GLIBC__) && (__GLIBC__ < 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ < 33))
/* glibc before 2.33 has no struct mallinfo2: this is its layout. */
struct mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
#else
struct mallinfo2;
#endif
FRG_API int frg_malloc_trim(size_t pad);
FRG_API void frg_malloc_stats(void);
FRG_API int frg_malloc_info(int options, FILE *stream);
FRG_API int frg_mallopt(int param, int value);
FRG_API struct mallinfo2 frg_mallinfo2(void);
struct mallinfo;
FRG_API struct mallinfo frg_mallinfo(void);

/* Control and statistics by name, with jemalloc's conventions (see
 * docs/mallctl.md): frg_mallctl("stats.allocated", &v, &len, NULL, 0).
 * Returns 0, or ENOENT (unknown name), EINVAL (wrong size or value),
 * EPERM (write to a read-only name). */
FRG_API int frg_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
                        size_t newlen);
FRG_API int frg_mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp);
FRG_API int frg_mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                             void *newp, size_t newlen);
/* Print statistics through write_cb (stderr when NULL).  opts: "J" JSON,
 * "b" without the per-size-class table. */
FRG_API void frg_malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                                    const char *opts);

/* Options a program may set at build time: "key:value,key:value" (see
 * docs/options.md).  Define it in the program to use it:
 *     const char *frg_malloc_conf = "dirty_max:8M";                      */
extern const char *frg_malloc_conf;

#ifdef __cplusplus
}
#endif

#endif
