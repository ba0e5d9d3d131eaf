/*
 * churn.h - shared declarations of the churn benchmark (churn.c runs the
 * threads and measures RSS; churn_vm.c is the workload: the VM object graph,
 * events and long-lived objects).  See churn.c for what is measured.
 */
#ifndef CHURN_H
#define CHURN_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

void die(const char *msg) __attribute__((noreturn));

/* ------------------------------------------------------------------ RNG */
struct rng { uint64_t s; };

static inline uint64_t rng_next(struct rng *r)
{
    /* xorshift64* */
    uint64_t x = r->s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static inline double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline void rng_seed(struct rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    if (r->s == 0)
        r->s = 1;
    for (int i = 0; i < 8; i++)
        rng_next(r);
}

/* --------------------------------------------------------- data model */
#define TAG_MAGIC 0xA5u
#define NLISTS 3
#define NVECS 4
#define MAXBUF 3

/* Every small object starts with this 16-byte header; payload follows. */
struct obj {
    struct obj *next;
    uint32_t size;
    uint32_t tag;          /* TAG_MAGIC << 24 | serial; payload byte = tag */
};

struct tnode {
    struct obj h;
    struct tnode *left, *right;
    uint64_t key;
};

struct vec {
    unsigned char *data;
    size_t len, cap, esz, step;
    unsigned char pat;
};

struct vm {
    struct obj h;
    struct obj **objs;
    size_t nobj, capobj;
    struct obj *list[NLISTS];
    struct tnode *tree;
    struct vec vec[NVECS];
    unsigned char *buf[MAXBUF];
    size_t bufsz[MAXBUF];
    int nbuf;
};

struct worker {
    int id;
    pthread_t th;
    struct rng rng;
    struct vm **vms;          /* this worker's slots in the global array */
    size_t nvms;
    struct vm **kill;         /* slice of the shuffled array to destroy */
    size_t nkill;
    uint32_t serial;
    uint64_t ll_threshold;    /* long-lived if rng < threshold (of 2^32) */
    struct obj *ll_head;
    uint64_t ll_bytes, ll_count, nalloc;
    uint64_t checksum;
    double t_done;
    char pad[64];
};

size_t small_size(struct rng *r);
void *xmalloc(size_t n);
void obj_init(struct worker *w, struct obj *o, size_t size);
void obj_check(struct worker *w, const struct obj *o);
struct vm *vm_create(struct worker *w);
void vm_destroy(struct worker *w, struct vm *vm);
void vm_event(struct worker *w, struct vm *vm);

#endif
