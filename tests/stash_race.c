/*
 * stash_race.c - a double free racing with the purge of an emptied slab
 * (run by tests/stash_race.sh, with madvise slowed down by
 * tests/slow_madvise.c so that the window below is wide).
 *
 * An emptied slab may be kept whole for reuse (the stash); a full purge
 * gives it back with madvise, which zeroes its pages and with them the
 * free key each free object carries in word 1.  If the slab's page-map
 * entries still named it at that moment, a second free of one of its
 * objects would find no key, pass the fast path's double-free check and
 * be cached: the object would later be handed out while its page belongs
 * to the page heap, and to the next slab carved there.  The main thread
 * frees a page of 64-byte objects and calls malloc_trim(0); another thread
 * frees one of them again while the trim sits in madvise.  That free must
 * be reported (run with misuse:report) and must not come back from malloc
 * twice.  Prints "stash_race: ok".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OBJS 256    /* four slabs' worth of 64-byte objects */
#define AFTER 20000 /* allocations that would meet a stray pointer again */

static void *objs[OBJS];
static void (*madvise_last)(uintptr_t *start, uintptr_t *end);
static int doubled; /* objects freed a second time */

/* Wait until the trim sleeps after zeroing a range that holds some of our
 * objects, then free those again. */
static void *second_free(void *arg) {
    (void)arg;
    for (int waited_ms = 0; waited_ms < 5000; waited_ms++) {
        uintptr_t start, end;
        madvise_last(&start, &end);
        for (int i = 0; i < OBJS; i++)
            if (objs[i] && (uintptr_t)objs[i] >= start && (uintptr_t)objs[i] < end) {
                free(objs[i]); /* the double free */
                objs[i] = NULL;
                doubled++;
            }
        if (doubled)
            return NULL;
        usleep(1000);
    }
    return NULL;
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    static void *later[AFTER];
    madvise_last = (void (*)(uintptr_t *, uintptr_t *))dlsym(RTLD_DEFAULT, "slow_madvise_last");
    if (!madvise_last) {
        fprintf(stderr, "stash_race: run with tests/libslowmadvise.so preloaded\n");
        return 2;
    }
    /* One CPU for both threads: what the second free caches, main takes. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    sched_setaffinity(0, sizeof one, &one);
    for (int i = 0; i < OBJS; i++)
        if (!(objs[i] = malloc(64)))
            return 1;
    for (int i = 0; i < OBJS; i++)
        free(objs[i]);
    pthread_t t;
    if (pthread_create(&t, NULL, second_free, NULL) != 0)
        return 1;
    malloc_trim(0); /* flushes the caches, stashes the empty slabs, purges them */
    pthread_join(t, NULL);
    if (!doubled) {
        fprintf(stderr, "stash_race: no slab of the objects was purged\n");
        return 1;
    }
    /* Everything live must be distinct. */
    for (int i = 0; i < AFTER; i++) {
        if (!(later[i] = malloc(64)))
            return 1;
        memset(later[i], 0x5a, 64);
    }
    qsort(later, AFTER, sizeof *later, cmp_ptr);
    for (int i = 1; i < AFTER; i++)
        if (later[i] == later[i - 1]) {
            fprintf(stderr, "stash_race: malloc returned %p twice\n", later[i]);
            return 1;
        }
    for (int i = 0; i < AFTER; i++)
        free(later[i]);
    printf("stash_race: ok (%d double frees)\n", doubled);
    return 0;
}
