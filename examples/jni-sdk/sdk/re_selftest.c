/*
 * re_selftest.c - checks the rule engine SDK without a JVM and measures
 * what a VM costs: live bytes per VM (from mallinfo2 of the heap the SDK
 * uses), allocations per VM and per event, and the share of long-lived
 * (shared) allocations.  Built by build.sh as out/re_selftest and
 * out/re_selftest_frg.  Usage: re_selftest [vms] [events]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "ruleengine.h"

#ifdef RE_USE_FRG
#include "frgmalloc.h"
#define LIVE() frg_mallinfo2().uordblks
#elif defined(__GLIBC__) && (__GLIBC__ < 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ < 33))
#define LIVE() ((size_t)(unsigned)mallinfo().uordblks)
#else
#define LIVE() mallinfo2().uordblks
#endif

int main(int argc, char **argv) {
    int nvms = argc > 1 ? atoi(argv[1]) : 2000;
    int nev = argc > 2 ? atoi(argv[2]) : 20;
    re_vm **vms = calloc((size_t)nvms, sizeof *vms); /* libc, not the SDK heap */
    if (vms == NULL || nvms <= 0 || nev < 0)
        return 2;
    re_destroy(re_create(123456789u)); /* creates the shared objects */
    re_counters c0, c1, c2, c3;
    re_get_counters(&c0);
    size_t live0 = LIVE();
    for (int i = 0; i < nvms; i++)
        vms[i] = re_create((uint32_t)i);
    re_get_counters(&c1);
    size_t live1 = LIVE();
    long fired = 0;
    for (int e = 0; e < nev; e++)
        for (int i = 0; i < nvms; i++)
            fired += re_event(vms[i], e * 7919 + i);
    re_get_counters(&c2);
    size_t live2 = LIVE();
    for (int i = nvms - 1; i >= 0; i--)
        re_destroy(vms[i]);
    re_get_counters(&c3);
    size_t live3 = LIVE();
    free(vms);
    printf("heap=%s shared=%d vms=%d events=%d fired=%ld\n", re_heap_name(),
           re_shared_enabled(), nvms, nev, fired);
    printf("live bytes per VM after create: %.1f KiB, after events: %.1f KiB\n",
           (double)(live1 - live0) / nvms / 1024, (double)(live2 - live0) / nvms / 1024);
    printf("allocations per VM create: %.1f, per event: %.1f\n",
           (double)(c1.allocs_total - c0.allocs_total) / nvms,
           nev ? (double)(c2.allocs_total - c1.allocs_total) / nvms / nev : 0.0);
    printf("long-lived (shared) allocations: %llu of %llu = %.2f%%\n",
           (unsigned long long)(c3.allocs_shared - c0.allocs_shared),
           (unsigned long long)(c3.allocs_total - c0.allocs_total),
           100.0 * (double)(c3.allocs_shared - c0.allocs_shared) /
               (double)(c3.allocs_total - c0.allocs_total));
    printf("live bytes left after destroying all: %.1f KiB (%.2f%% of the peak growth)\n",
           ((double)live3 - (double)live0) / 1024,
           100.0 * ((double)live3 - (double)live0) / (double)(live2 - live0));
    printf("shared: %llu symbols, %llu metrics\n", (unsigned long long)c3.shared_symbols,
           (unsigned long long)c3.shared_metrics);
    return 0;
}
