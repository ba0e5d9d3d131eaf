/*
 * preload_prog.c - run with libfrgmalloc.so preloaded (tests/preload.sh):
 * the whole glibc surface resolves to our library and behaves, including
 * calls made before main (a constructor), through dlsym, inside
 * pthread_create, from thread-exit destructors and from C++-style
 * early/late allocation; mallinfo2 and malloc_trim tell the truth.
 * Prints "preload_prog: ok" and exits 0 on success.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GLIBC__) && (__GLIBC__ < 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ < 33))
/* glibc before 2.33 has no mallinfo2: the preloaded library's, found at
 * run time, with frgmalloc.h's struct. */
#include "frgmalloc.h"
#define mallinfo2() (((struct mallinfo2(*)(void))dlsym(RTLD_DEFAULT, "mallinfo2"))())
#endif

static int failures;
#define CHECK(c)                                                                    \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "preload_prog: check failed: %s (line %d)\n", #c, __LINE__); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static void *early;
static void *(*dl_malloc)(size_t);

__attribute__((constructor)) static void before_main(void) {
    early = malloc(1234); /* before main, possibly before our constructor */
    memset(early, 0x11, 1234);
    dl_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
}

static pthread_key_t key;
static void destructor(void *p) { free(p); }

static void *thread_main(void *arg) {
    char *s = strdup("thread-local string"); /* libc calls our malloc */
    pthread_setspecific(key, malloc(333));
    void *p = calloc(100, 10);
    free(p);
    free(s);
    return arg;
}

int main(void) {
    /* our library is the process's malloc */
    void *ours = dlsym(RTLD_DEFAULT, "frg_malloc");
    CHECK(ours != NULL);
    CHECK(dlsym(RTLD_DEFAULT, "malloc") == ours); /* malloc is an alias of frg_malloc */
    CHECK(dlsym(RTLD_DEFAULT, "mallinfo2") == dlsym(RTLD_DEFAULT, "frg_mallinfo2"));
    CHECK(malloc_usable_size(early) >= 1234);
    free(early);

    /* threads, thread-exit destructors */
    pthread_key_create(&key, destructor);
    for (int round = 0; round < 20; round++) {
        pthread_t t[8];
        for (int i = 0; i < 8; i++)
            CHECK(pthread_create(&t[i], NULL, thread_main, NULL) == 0);
        for (int i = 0; i < 8; i++)
            pthread_join(t[i], NULL);
    }

    /* the glibc extensions and the __libc_* aliases */
    extern void *__libc_malloc(size_t);
    extern void __libc_free(void *);
    void *lm = __libc_malloc(50);
    CHECK(malloc_usable_size(lm) >= 50);
    __libc_free(lm);
    void *m = memalign(4096, 100), *v = valloc(10), *pv = pvalloc(10), *aa = aligned_alloc(64, 64);
    CHECK(((uintptr_t)m & 4095) == 0 && ((uintptr_t)v & 4095) == 0 && ((uintptr_t)pv & 4095) == 0);
    CHECK(((uintptr_t)aa & 63) == 0);
    free(m);
    free(v);
    free(pv);
    free(aa);
    int *arr = reallocarray(NULL, 1000, sizeof(int));
    CHECK(arr != NULL);
    free(arr);
    errno = 0;
    CHECK(reallocarray(NULL, SIZE_MAX / 2, 4) == NULL && errno == ENOMEM);

    struct mallinfo2 a = mallinfo2();
    void *big[20];
    for (int i = 0; i < 20; i++) {
        big[i] = malloc(512 * 1024);
        memset(big[i], 1, 512 * 1024);
    }
    struct mallinfo2 b = mallinfo2();
    CHECK(b.uordblks - a.uordblks == 20 * 512 * 1024);
    for (int i = 0; i < 20; i++)
        free(big[i]);
    CHECK(malloc_trim(0) == 1);
    struct mallinfo2 c = mallinfo2();
    CHECK(c.uordblks == a.uordblks);
    CHECK(c.keepcost == 0);
    CHECK(mallopt(M_ARENA_MAX, 1) == 1);

    /* malloc_info speaks glibc's XML */
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    CHECK(malloc_info(0, f) == 0);
    fclose(f);
    CHECK(strstr(xml, "<malloc version=\"1\">") != NULL);
    free(xml);

    (void)dl_malloc;
    if (failures)
        return 1;
    printf("preload_prog: ok\n");
    return 0;
}
