/*
 * sdk_lib.c - a stand-in for a native SDK that links libfrgmalloc.a
 * privately (built as tests/libsdktest.so with -Wl,--exclude-libs,ALL) and
 * is loaded with dlopen by sdk_host.c.
 */
#include <malloc.h>
#include <string.h>

#include "frgmalloc.h"

#define SDK_EXPORT __attribute__((visibility("default")))

/* Build and tear down an object graph on the private heap; returns the
 * private heap's live bytes at the peak. */
SDK_EXPORT size_t sdk_run(int n) {
    void **objs = frg_malloc((size_t)n * sizeof *objs);
    for (int i = 0; i < n; i++) {
        objs[i] = frg_malloc(16 + (size_t)(i % 300));
        memset(objs[i], i, 16);
    }
    size_t peak = frg_mallinfo2().uordblks;
    for (int i = 0; i < n; i++)
        frg_free(objs[i]);
    frg_free(objs);
    return peak;
}

SDK_EXPORT size_t sdk_live_bytes(void) { return frg_mallinfo2().uordblks; }
SDK_EXPORT int sdk_trim(void) { return frg_malloc_trim(0); }
