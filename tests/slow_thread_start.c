/*
 * slow_thread_start.c - an LD_PRELOAD shim for tests/fork_start.sh: every
 * thread created with pthread_create sleeps FRG_TEST_START_DELAY_MS
 * (default 300) before its start routine runs, standing in for a thread
 * whose start-up takes long (a loaded machine, a sanitizer runtime).  The
 * first 64 threads are delayed; later ones start normally.  It allocates
 * nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct start {
    void *(*fn)(void *);
    void *arg;
};
static struct start starts[64];
static unsigned used;

static void *delayed(void *p) {
    struct start *s = p;
    const char *env = getenv("FRG_TEST_START_DELAY_MS");
    long ms = env ? atol(env) : 300;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return s->fn(s->arg);
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real)
        real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(
            RTLD_NEXT, "pthread_create");
    unsigned i = __atomic_fetch_add(&used, 1, __ATOMIC_RELAXED);
    if (i >= 64)
        return real(t, attr, fn, arg);
    starts[i].fn = fn;
    starts[i].arg = arg;
    return real(t, attr, delayed, &starts[i]);
}
