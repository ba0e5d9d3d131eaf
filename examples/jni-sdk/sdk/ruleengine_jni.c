/*
 * ruleengine_jni.c - JNI binding of the rule engine SDK for demo.RuleEngine.
 *
 *   long create()                    -> re_create(next seed)
 *   int event(long vm, int seed)     -> re_event
 *   void destroy(long vm)            -> re_destroy
 *   void setShared(boolean)          -> re_set_shared
 *   String purgeAllocator()          -> the heap's own explicit purge (see
 *                                       below); returns what it called
 *   String allocatorInfo()           -> one line of key=value pairs:
 *     sdk_heap      "libc" (the process's malloc) or "frg-static" (private
 *                   libfrgmalloc.a heap, built with -DRE_USE_FRG);
 *     malloc_lib    the file that defines the malloc this library calls
 *                   (dladdr), e.g. libc.so.6 or a preloaded allocator;
 *     frg_exported  1 if the process exports frg_malloc (libfrgmalloc.so
 *                   preloaded); static mode does not export it;
 *     frg.*         frg_mallinfo2() of the SDK's private heap (static mode)
 *                   or of the whole process (preload mode);
 *     proc.*        mallinfo2() of the process's malloc (glibc's own heap
 *                   in static mode: the JVM's memory), proc.lib names the
 *                   file that provides that mallinfo2;
 *     sdk.*         SDK counters (live VMs, allocations, shared objects).
 *     frg.resident/active/allocated/fragmented/dirty/metadata come from
 *                   frg_mallctl("stats.*") when available (resident: upper
 *                   bound of the heap's RSS; compiled in for static mode
 *                   when build.sh finds frg_mallctl in libfrgmalloc.a:
 *                   -DRE_HAVE_MALLCTL);
 *   mallinfo2 fields: arena = bytes the heap holds from the system (chunks),
 *   uordblks = live bytes, fordblks = free bytes in the heap, fsmblks =
 *   (frg) bytes cached in per-CPU caches, keepcost = (frg) dirty bytes
 *   malloc_trim would purge, hblkhd = bytes in separate mmaps.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <jni.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruleengine.h"

#ifdef RE_USE_FRG
#include "frgmalloc.h"
#endif

#if defined(__GLIBC__) && (__GLIBC__ < 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ < 33))
/* glibc before 2.33 has neither struct mallinfo2 nor mallinfo2(): ask the
 * process's mallinfo2 if a preloaded allocator has one, else widen glibc's
 * mallinfo(). */
#ifndef RE_USE_FRG
struct mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
#endif
static struct mallinfo2 proc_mallinfo2(void) {
    struct mallinfo2 (*mi2)(void) = (struct mallinfo2 (*)(void))dlsym(RTLD_DEFAULT, "mallinfo2");
    if (mi2 != NULL)
        return mi2();
    struct mallinfo m = mallinfo();
    return (struct mallinfo2){(unsigned)m.arena, (unsigned)m.ordblks, (unsigned)m.smblks,
                              (unsigned)m.hblks, (unsigned)m.hblkhd, (unsigned)m.usmblks,
                              (unsigned)m.fsmblks, (unsigned)m.uordblks, (unsigned)m.fordblks,
                              (unsigned)m.keepcost};
}
static void *proc_mallinfo2_fn(void) {
    void *mi2 = dlsym(RTLD_DEFAULT, "mallinfo2");
    return mi2 != NULL ? mi2 : (void *)&mallinfo;
}
#else
#define proc_mallinfo2 mallinfo2
#define proc_mallinfo2_fn() ((void *)&mallinfo2)
#endif

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static uint32_t next_seed;

JNIEXPORT jlong JNICALL Java_demo_RuleEngine_create(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    uint32_t seed = __atomic_fetch_add(&next_seed, 1, __ATOMIC_RELAXED);
    return (jlong)(intptr_t)re_create(seed);
}

JNIEXPORT jint JNICALL Java_demo_RuleEngine_event(JNIEnv *env, jclass cls, jlong vm, jint seed) {
    (void)env;
    (void)cls;
    return re_event((re_vm *)(intptr_t)vm, seed);
}

JNIEXPORT void JNICALL Java_demo_RuleEngine_destroy(JNIEnv *env, jclass cls, jlong vm) {
    (void)env;
    (void)cls;
    re_destroy((re_vm *)(intptr_t)vm);
}

JNIEXPORT void JNICALL Java_demo_RuleEngine_setShared(JNIEnv *env, jclass cls, jboolean on) {
    (void)env;
    (void)cls;
    re_set_shared(on ? 1 : 0);
}

/*
 * The explicit purge each allocator offers, found at run time so the same
 * library works under every preload: a private libfrgmalloc.a heap
 * (frg_malloc_trim), a preloaded libfrgmalloc.so (malloc_trim, a full
 * synchronous purge), mimalloc (mi_collect(true)), tcmalloc
 * (MallocExtension_ReleaseFreeMemory), jemalloc (mallctl
 * "arena.4096.purge"), else glibc (malloc_trim(0)).  Used by the demo's
 * -Dpurge=true runs: what each allocator reaches when asked explicitly.
 */
JNIEXPORT jstring JNICALL Java_demo_RuleEngine_purgeAllocator(JNIEnv *env, jclass cls) {
    (void)cls;
    const char *called;
#ifdef RE_USE_FRG
    frg_malloc_trim(0);
    called = "frg_malloc_trim";
#else
    void (*mi_collect)(_Bool) = (void (*)(_Bool))dlsym(RTLD_DEFAULT, "mi_collect");
    void (*tc_release)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
    mallctl_fn je_ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (dlsym(RTLD_DEFAULT, "frg_malloc") != NULL) {
        malloc_trim(0);
        called = "malloc_trim";
    } else if (mi_collect != NULL) {
        mi_collect(1);
        called = "mi_collect";
    } else if (tc_release != NULL) {
        tc_release();
        called = "MallocExtension_ReleaseFreeMemory";
    } else if (je_ctl != NULL) {
        called = je_ctl("arena.4096.purge", NULL, NULL, NULL, 0) == 0 ? "arena.4096.purge"
                                                                       : "arena.4096.purge(failed)";
    } else {
        malloc_trim(0);
        called = "malloc_trim";
    }
#endif
    return (*env)->NewStringUTF(env, called);
}

/* The base name of the file defining the function at addr, or "?". */
static const char *lib_of(void *addr) {
    Dl_info di;
    if (dladdr(addr, &di) == 0 || di.dli_fname == NULL)
        return "?";
    const char *slash = strrchr(di.dli_fname, '/');
    return slash ? slash + 1 : di.dli_fname;
}

static size_t put_mallinfo(char *buf, size_t cap, const char *prefix, struct mallinfo2 mi) {
    int n = snprintf(buf, cap,
                     " %s.arena=%zu %s.uordblks=%zu %s.fordblks=%zu %s.fsmblks=%zu"
                     " %s.keepcost=%zu %s.hblkhd=%zu",
                     prefix, mi.arena, prefix, mi.uordblks, prefix, mi.fordblks, prefix,
                     mi.fsmblks, prefix, mi.keepcost, prefix, mi.hblkhd);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

__attribute__((unused)) static size_t put_mallctl(char *buf, size_t cap, mallctl_fn ctl) {
    static const char *const names[] = {"resident", "active", "allocated",
                                        "fragmented", "dirty", "metadata"};
    size_t len = 0;
    uint64_t epoch = 1;
    size_t esz = sizeof epoch;
    if (ctl == NULL || ctl("epoch", &epoch, &esz, &epoch, esz) != 0) /* refresh stats.* */
        return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char key[32];
        size_t v = 0, vlen = sizeof v;
        snprintf(key, sizeof key, "stats.%s", names[i]);
        if (ctl(key, &v, &vlen, NULL, 0) != 0)
            continue;
        int n = snprintf(buf + len, cap - len, " frg.%s=%zu", names[i], v);
        len += n < 0 ? 0 : (size_t)n >= cap - len ? cap - len - 1 : (size_t)n;
    }
    return len;
}

JNIEXPORT jstring JNICALL Java_demo_RuleEngine_allocatorInfo(JNIEnv *env, jclass cls) {
    (void)cls;
    char buf[2048]; /* on the stack: asking must not allocate from a heap */
    size_t len = 0, cap = sizeof buf;
    void *frg_sym = dlsym(RTLD_DEFAULT, "frg_malloc");
    int n = snprintf(buf, cap, "sdk_heap=%s malloc_lib=%s frg_exported=%d shared=%d",
                     re_heap_name(), lib_of((void *)&malloc), frg_sym != NULL,
                     re_shared_enabled());
    len = n < 0 ? 0 : (size_t)n;
#ifdef RE_USE_FRG
    len += put_mallinfo(buf + len, cap - len, "frg", frg_mallinfo2());
#ifdef RE_HAVE_MALLCTL
    len += put_mallctl(buf + len, cap - len, frg_mallctl);
#endif
#else
    if (frg_sym != NULL) { /* libfrgmalloc.so preloaded: ask it directly */
        struct mallinfo2 (*fmi)(void) =
            (struct mallinfo2 (*)(void))dlsym(RTLD_DEFAULT, "frg_mallinfo2");
        if (fmi != NULL)
            len += put_mallinfo(buf + len, cap - len, "frg", fmi());
        len += put_mallctl(buf + len, cap - len, (mallctl_fn)dlsym(RTLD_DEFAULT, "frg_mallctl"));
    }
#endif
    n = snprintf(buf + len, cap - len, " proc.lib=%s", lib_of(proc_mallinfo2_fn()));
    len += n < 0 ? 0 : (size_t)n;
    len += put_mallinfo(buf + len, cap - len, "proc", proc_mallinfo2());
    re_counters c;
    re_get_counters(&c);
    snprintf(buf + len, cap - len,
             " sdk.live_vms=%llu sdk.events=%llu sdk.allocs=%llu sdk.shared_allocs=%llu"
             " sdk.symbols=%llu sdk.metrics=%llu",
             (unsigned long long)(c.vms_created - c.vms_destroyed),
             (unsigned long long)c.events, (unsigned long long)c.allocs_total,
             (unsigned long long)c.allocs_shared, (unsigned long long)c.shared_symbols,
             (unsigned long long)c.shared_metrics);
    return (*env)->NewStringUTF(env, buf);
}
