/*
 * churn_vm.c - the workload of the churn benchmark: one interpreter "VM" is
 * an object graph of ~100 KiB (80-120 KiB): small objects of skewed sizes
 * (16 B - 2 KiB, 85% <= 256 B) in a pointer array grown with realloc, three
 * linked lists, a binary search tree, four arrays grown with realloc in
 * small steps, and 1-3 buffers of 8-64 KiB.  An event allocates temporaries
 * (some grown with realloc) and replaces a few VM objects.  Interleaved with
 * this work, a share of allocations is long-lived (kept until exit).  Every
 * allocation is filled with a pattern that is checked before it is freed.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "churn.h"

/* Skewed small-object size, 16 B - 2 KiB; 85% are <= 256 B. */
size_t small_size(struct rng *r)
{
    uint32_t k = rng_below(r, 100);
    if (k < 45) return 16 + rng_below(r, 49);      /* 16..64     */
    if (k < 70) return 65 + rng_below(r, 64);      /* 65..128    */
    if (k < 85) return 129 + rng_below(r, 128);    /* 129..256   */
    if (k < 95) return 257 + rng_below(r, 768);    /* 257..1024  */
    return 1025 + rng_below(r, 1024);              /* 1025..2048 */
}

/* ------------------------------------------------- fill / check helpers */
static inline uint32_t new_tag(struct worker *w)
{
    w->serial++;
    return (TAG_MAGIC << 24) | (w->serial & 0xFFFFFFu);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die("out of memory (realloc)");
    return q;
}

void obj_init(struct worker *w, struct obj *o, size_t size)
{
    o->next = NULL;
    o->size = (uint32_t)size;
    o->tag = new_tag(w);
    if (size > sizeof *o)
        memset((char *)o + sizeof *o, (int)(o->tag & 0xFF), size - sizeof *o);
}

/* Check the header and the pattern bytes of the payload from offset off on
 * (tree nodes keep their links in the first bytes of the payload). */
static void obj_check_from(struct worker *w, const struct obj *o, size_t off)
{
    if ((o->tag >> 24) != TAG_MAGIC || o->size < sizeof *o || o->size > (1u << 20))
        die("corrupted object header");
    if (o->size > off) {
        const unsigned char *p = (const unsigned char *)o;
        unsigned char b = (unsigned char)(o->tag & 0xFF);
        if (p[off] != b || p[o->size - 1] != b || p[(off + o->size) / 2] != b)
            die("corrupted object payload");
        w->checksum += p[o->size - 1];
    }
    w->checksum += o->size;
}

void obj_check(struct worker *w, const struct obj *o)
{
    obj_check_from(w, o, sizeof *o);
}

/* Long-lived objects: interleaved with the work, a share of allocations. */
static void maybe_longlived(struct worker *w)
{
    if (w->ll_threshold == 0 || (rng_next(&w->rng) >> 32) >= w->ll_threshold)
        return;
    size_t sz = small_size(&w->rng);
    struct obj *o = xmalloc(sz);
    obj_init(w, o, sz);
    o->next = w->ll_head;
    w->ll_head = o;
    w->ll_bytes += sz;
    w->ll_count++;
}

/* An allocation that is part of the workload (counts for the LL share). */
static void *work_alloc(struct worker *w, size_t n)
{
    void *p = xmalloc(n);
    w->nalloc++;
    maybe_longlived(w);
    return p;
}

static void *work_realloc(struct worker *w, void *old, size_t n)
{
    void *p = xrealloc(old, n);
    w->nalloc++;
    maybe_longlived(w);
    return p;
}

static struct obj *new_small(struct worker *w, size_t sz)
{
    struct obj *o = work_alloc(w, sz);
    obj_init(w, o, sz);
    return o;
}

/* -------------------------------------------------------- VM operations */
static size_t objs_push(struct worker *w, struct vm *vm, struct obj *o)
{
    if (vm->nobj == vm->capobj) {
        size_t nc = vm->capobj ? vm->capobj * 2 : 16;
        vm->objs = work_realloc(w, vm->objs, nc * sizeof *vm->objs);
        vm->capobj = nc;
    }
    vm->objs[vm->nobj++] = o;
    return (sizeof *vm->objs) + o->size;
}

static size_t tree_insert(struct worker *w, struct vm *vm)
{
    size_t sz = sizeof(struct tnode) + rng_below(&w->rng, 57);   /* 40..96 */
    struct tnode *n = (struct tnode *)new_small(w, sz);
    n->left = n->right = NULL;
    n->key = rng_next(&w->rng);
    struct tnode **pp = &vm->tree;
    while (*pp)
        pp = (n->key < (*pp)->key) ? &(*pp)->left : &(*pp)->right;
    *pp = n;
    return sz;
}

static void tree_free(struct worker *w, struct tnode *n)
{
    while (n) {
        tree_free(w, n->left);
        struct tnode *r = n->right;
        obj_check_from(w, &n->h, sizeof *n);
        free(n);
        n = r;
    }
}

/* Append k elements to a vector, growing it with realloc in fixed steps. */
static size_t vec_append(struct worker *w, struct vec *v, size_t k)
{
    size_t grown = 0;
    if (v->len + k > v->cap) {
        size_t nc = v->cap;
        while (nc < v->len + k)
            nc += v->step;
        v->data = work_realloc(w, v->data, nc * v->esz);
        if (v->len && v->data[0] != v->pat)
            die("realloc lost vector contents");
        grown = (nc - v->cap) * v->esz;
        v->cap = nc;
    }
    memset(v->data + v->len * v->esz, v->pat, k * v->esz);
    v->len += k;
    return grown;
}

struct vm *vm_create(struct worker *w)
{
    struct rng *r = &w->rng;
    struct vm *vm = work_alloc(w, sizeof *vm);
    memset(vm, 0, sizeof *vm);
    vm->h.size = sizeof *vm;
    vm->h.tag = new_tag(w);
    static const size_t esz[NVECS] = { 4, 8, 16, 24 };
    for (int i = 0; i < NVECS; i++) {
        vm->vec[i].esz = esz[i];
        vm->vec[i].step = 8 + rng_below(r, 25);
        vm->vec[i].pat = (unsigned char)(0x30 + i);
    }

    /* ~100 KiB in total (80-120 KiB): 1-3 buffers skewed toward 8 KiB. */
    size_t target = (size_t)(102400.0 * (0.8 + 0.4 * rng_unit(r)));
    size_t bufsum = 0;
    vm->nbuf = 1 + (int)rng_below(r, MAXBUF);
    for (int i = 0; i < vm->nbuf; i++) {
        double u = rng_unit(r);
        vm->bufsz[i] = 8192 + (size_t)(57344.0 * u * u * u);
        bufsum += vm->bufsz[i];
    }
    size_t small_target = target > bufsum + 30720 ? target - bufsum : 30720;

    size_t bytes = 0;
    int next_buf = 0;
    while (bytes < small_target) {
        /* buffers are allocated at evenly spread points of the build */
        if (next_buf < vm->nbuf &&
            bytes >= (size_t)(next_buf + 1) * small_target / (size_t)(vm->nbuf + 1)) {
            size_t bs = vm->bufsz[next_buf];
            vm->buf[next_buf] = work_alloc(w, bs);
            memset(vm->buf[next_buf], 0x5A + next_buf, bs);
            next_buf++;
        }
        uint32_t k = rng_below(r, 100);
        if (k < 60) {
            bytes += objs_push(w, vm, new_small(w, small_size(r)));
        } else if (k < 75) {
            struct obj *o = new_small(w, small_size(r));
            int li = (int)rng_below(r, NLISTS);
            o->next = vm->list[li];
            vm->list[li] = o;
            bytes += o->size;
        } else if (k < 85) {
            bytes += tree_insert(w, vm);
        } else {
            bytes += vec_append(w, &vm->vec[rng_below(r, NVECS)], 1 + rng_below(r, 8));
        }
    }
    while (next_buf < vm->nbuf) {
        size_t bs = vm->bufsz[next_buf];
        vm->buf[next_buf] = work_alloc(w, bs);
        memset(vm->buf[next_buf], 0x5A + next_buf, bs);
        next_buf++;
    }
    return vm;
}

void vm_destroy(struct worker *w, struct vm *vm)
{
    if ((vm->h.tag >> 24) != TAG_MAGIC)
        die("corrupted vm");
    for (size_t i = 0; i < vm->nobj; i++) {
        obj_check(w, vm->objs[i]);
        free(vm->objs[i]);
    }
    free(vm->objs);
    for (int li = 0; li < NLISTS; li++) {
        struct obj *o = vm->list[li];
        while (o) {
            struct obj *n = o->next;
            obj_check(w, o);
            free(o);
            o = n;
        }
    }
    tree_free(w, vm->tree);
    for (int i = 0; i < NVECS; i++) {
        struct vec *v = &vm->vec[i];
        if (v->len && (v->data[0] != v->pat || v->data[v->len * v->esz - 1] != v->pat))
            die("corrupted vector");
        w->checksum += v->len;
        free(v->data);
    }
    for (int i = 0; i < vm->nbuf; i++) {
        unsigned char *b = vm->buf[i];
        unsigned char p = (unsigned char)(0x5A + i);
        size_t s = vm->bufsz[i];
        if (b[0] != p || b[s / 2] != p || b[s - 1] != p)
            die("corrupted buffer");
        w->checksum += b[s - 1];
        free(b);
    }
    free(vm);
}

/* An event: temporaries (mixed sizes, some grown with realloc) and a few
 * mutations of the VM (free an object and allocate its replacement). */
void vm_event(struct worker *w, struct vm *vm)
{
    struct rng *r = &w->rng;
    unsigned char *tmp[16];
    size_t tsz[16];
    int nt = 4 + (int)rng_below(r, 13);
    for (int i = 0; i < nt; i++) {
        uint32_t k = rng_below(r, 100);
        size_t sz = k < 80 ? small_size(r)
                  : k < 95 ? 2048 + rng_below(r, 6145)
                           : 8192 + rng_below(r, 24577);
        tmp[i] = work_alloc(w, sz);
        memset(tmp[i], 0x11 + i, sz);
        if (rng_below(r, 4) == 0) {             /* a growing string builder */
            size_t nsz = sz + sz / 2 + rng_below(r, (uint32_t)sz * 2 + 1);
            tmp[i] = work_realloc(w, tmp[i], nsz);
            if (tmp[i][0] != (unsigned char)(0x11 + i))
                die("realloc lost temporary contents");
            memset(tmp[i] + sz, 0x11 + i, nsz - sz);
            sz = nsz;
        }
        tsz[i] = sz;
    }

    int nmut = 1 + (int)rng_below(r, 4);
    for (int m = 0; m < nmut; m++) {
        uint32_t k = rng_below(r, 100);
        if (k < 60 && vm->nobj) {
            size_t i = rng_below(r, (uint32_t)vm->nobj);
            obj_check(w, vm->objs[i]);
            free(vm->objs[i]);
            vm->objs[i] = new_small(w, small_size(r));
        } else if (k < 80) {
            int li = (int)rng_below(r, NLISTS);
            if (vm->list[li] && rng_below(r, 2)) {
                struct obj *o = vm->list[li];
                vm->list[li] = o->next;
                obj_check(w, o);
                free(o);
            }
            struct obj *o = new_small(w, small_size(r));
            o->next = vm->list[li];
            vm->list[li] = o;
        } else if (k < 90) {
            tree_insert(w, vm);
        } else {
            vec_append(w, &vm->vec[rng_below(r, NVECS)], 1 + rng_below(r, 8));
        }
    }

    /* free the temporaries in a shuffled order */
    int order[16];
    for (int i = 0; i < nt; i++)
        order[i] = i;
    for (int i = nt - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int j = 0; j < nt; j++) {
        int i = order[j];
        unsigned char p = (unsigned char)(0x11 + i);
        if (tmp[i][0] != p || tmp[i][tsz[i] - 1] != p)
            die("corrupted temporary");
        w->checksum += tmp[i][tsz[i] / 2];
        free(tmp[i]);
        tmp[i] = NULL;
    }
}
