/*
 * slow_mremap.c - an LD_PRELOAD shim for tests/remap_race.sh: every mremap
 * sleeps 200 us after the kernel has done it, so that other threads run
 * while the caller has not yet updated its own records.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>

void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...) {
    static void *(*real)(void *, size_t, size_t, int, ...);
    if (!real)
        real = (void *(*)(void *, size_t, size_t, int, ...))dlsym(RTLD_NEXT, "mremap");
    void *target = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        target = va_arg(ap, void *);
        va_end(ap);
    }
    void *r = real(old, old_size, new_size, flags, target);
    usleep(200);
    return r;
}
