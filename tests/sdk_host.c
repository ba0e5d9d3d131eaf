/*
 * sdk_host.c - loads tests/libsdktest.so (an SDK with libfrgmalloc.a
 * linked in) with dlopen, the way System.loadLibrary does: it loads (no
 * "cannot allocate memory in static TLS block"), works on its private
 * heap, exports none of our symbols, and the process's malloc stays
 * glibc's; and that it can be unloaded while a thread that used it lives
 * on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t (*run)(int);
static void *thread_main(void *arg) { return (void *)run(5000); }

/* Works in the SDK, then waits until the SDK is unloaded, then exits:
 * nothing of the SDK may run at its exit (lease mode's exit hook). */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int park_state; /* 1: worked, 2: SDK unloaded */
static void *parked_main(void *arg) {
    run(5000);
    pthread_mutex_lock(&park_lock);
    park_state = 1;
    pthread_cond_broadcast(&park_cond);
    while (park_state != 2)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    return arg;
}

int main(int argc, char **argv) {
    int fail = 0;
    /* argv[2]: "pinned" or "unloaded", what dlclose must leave */
    const char *path = argc > 1 ? argv[1] : "tests/libsdktest.so";
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("not ok - dlopen: %s\n", dlerror());
        return 1;
    }
    printf("ok - dlopen of an SDK linking libfrgmalloc.a\n");
    run = (size_t (*)(int))dlsym(h, "sdk_run");
    size_t (*live)(void) = (size_t (*)(void))dlsym(h, "sdk_live_bytes");
    int (*trim)(void) = (int (*)(void))dlsym(h, "sdk_trim");
    if (!run || !live || !trim) {
        printf("not ok - SDK entry points missing\n");
        return 1;
    }
    size_t before = live();
    size_t peak = run(20000);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, thread_main, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    if (peak > before + 20000 * 16 && live() == before)
        printf("ok - the SDK's private heap grows and comes back\n");
    else {
        printf("not ok - private heap: before %zu peak %zu after %zu\n", before, peak, live());
        fail = 1;
    }
    trim();
    if (dlsym(RTLD_DEFAULT, "frg_malloc") == NULL && dlsym(h, "frg_malloc") == NULL &&
        dlsym(h, "frg_pageheap_alloc") == NULL)
        printf("ok - no frg symbol leaks out of the SDK\n");
    else {
        printf("not ok - frg symbols visible from the SDK\n");
        fail = 1;
    }
    Dl_info info;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (m && dladdr(m, &info) && strstr(info.dli_fname, "libc.so"))
        printf("ok - the process's malloc is still %s\n", info.dli_fname);
    else {
        printf("not ok - malloc resolves to %s\n", m && dladdr(m, &info) ? info.dli_fname : "?");
        fail = 1;
    }
    void *g = malloc(100); /* glibc's heap, untouched by the SDK */
    free(g);

    pthread_t parked;
    pthread_create(&parked, NULL, parked_main, NULL);
    pthread_mutex_lock(&park_lock);
    while (park_state != 1)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    if (dlclose(h) != 0) {
        printf("not ok - dlclose: %s\n", dlerror());
        return 1;
    }
    pthread_mutex_lock(&park_lock);
    park_state = 2;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
    pthread_join(parked, NULL); /* a crash here: the SDK left a hook behind */
    /* In rseq mode the SDK pins itself (the kernel reads its rseq
     * descriptors for as long as threads live); otherwise it is gone. */
    void *still = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    const char *want = argc > 2 ? argv[2] : "any";
    const char *got = still ? "pinned" : "unloaded";
    if (strcmp(want, "any") && strcmp(want, got)) {
        printf("not ok - after dlclose the SDK is %s, expected %s\n", got, want);
        fail = 1;
    } else
        printf("ok - a thread that used the SDK exits after its dlclose (SDK %s)\n", got);
    return fail;
}
