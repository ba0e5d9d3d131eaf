/*
 * remap_race.c - huge objects grown by mremap on several threads at once
 * (run by tests/remap_race.sh, with mremap slowed down by
 * tests/slow_mremap.c so that the window below is wide).
 *
 * When a huge object moves, the kernel releases its old address range and
 * another thread may at once map that range for a new object and register
 * it in the page map.  If the mover cleared the old address's entry only
 * after the move, it would wipe the newcomer's: a later free or realloc of
 * a live object would be reported as invalid.  Each thread grows objects
 * with realloc (the `realloc` path) and allocates a bigger object right
 * after freeing a smaller one (a cached mapping grown to fit); every
 * object's first and last bytes are checked.  Prints "remap_race: ok".
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 8
#define ROUNDS 2000
#define MIB ((size_t)1 << 20)

static unsigned next_rand(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

static char *make(size_t size, char tag) {
    char *p = malloc(size);
    if (!p) {
        fprintf(stderr, "remap_race: malloc(%zu) failed\n", size);
        exit(1);
    }
    p[0] = tag;
    p[size - 1] = tag;
    return p;
}

static void check(const char *p, size_t size, char tag) {
    if (p[0] != tag || p[size - 1] != tag) {
        fprintf(stderr, "remap_race: object %p lost its contents\n", (const void *)p);
        exit(1);
    }
}

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        char tag = (char)(i + 1);
        size_t a = MIB + next_rand(&seed) % (4 * MIB);
        char *p = make(a, tag);
        size_t b = a + MIB + next_rand(&seed) % (8 * MIB);
        char *q = realloc(p, b); /* grown by mremap, in place or moved */
        if (!q) {
            fprintf(stderr, "remap_race: realloc to %zu failed\n", b);
            exit(1);
        }
        if (q[0] != tag || q[a - 1] != tag) {
            fprintf(stderr, "remap_race: realloc lost the contents of %p\n", (void *)p);
            exit(1);
        }
        q[b - 1] = tag;
        check(q, b, tag);
        free(q);
        char *r = make(b + 2 * MIB, tag); /* a cached mapping, grown */
        check(r, b + 2 * MIB, tag);
        free(r);
    }
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0)
            return 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    puts("remap_race: ok");
    return 0;
}
