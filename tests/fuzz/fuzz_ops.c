/*
 * fuzz_ops.c - libFuzzer harness: the input is a program of allocation
 * operations on a table of 64 slots, run against the frg_* API.
 *
 * Operations (one opcode byte, then operands; a short input reads zeros):
 * malloc, calloc (and an overflowing calloc), realloc (grow, shrink, to 0,
 * of NULL, same size), the aligned family (memalign, posix_memalign,
 * aligned_alloc, valloc, pvalloc, with invalid alignments that must give
 * EINVAL), free, malloc_usable_size (then the whole usable size is used),
 * malloc_trim, mallctl purge / cache flush, allocation and free on a
 * second thread (cross-thread frees), impossible sizes that must fail.
 * Sizes cover small (<= 64 KiB, log-uniform, with the class and layer
 * boundaries), large (<= 1 MiB) and now and then huge (up to 4 MiB); live
 * requested bytes are capped at 64 MiB.
 *
 * Checked: every allocation succeeds (within the cap), is aligned, does
 * not overlap another live object and has a usable size of at least the
 * request; calloc memory is zero; each object holds a pattern derived
 * from its slot and offset (all of it up to 64 KiB, then the first 64
 * bytes of every page and the last 64 bytes) that is checked before every
 * realloc and free, and realloc keeps the common prefix; every 32
 * operations and at the end the page heap and central-list validators
 * pass and, when the purger thread is off, stats.allocated equals the
 * usable bytes of the live objects.  Each input frees everything it
 * allocated, so inputs are independent.  The harness never misuses the
 * API: a misuse report from the library is a finding.  A failed check
 * prints what failed and aborts.
 *
 * Built by tests/fuzz.sh: the library's sources (every .c file of src/
 * but frgmalloc-stat.c) without FRG_OVERRIDE_GLIBC, plus this file, with
 * clang -fsanitize=fuzzer and UBSan (and ASan).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frgmalloc.h"

#include "central.h"
#include "pageheap.h"

#define NSLOTS 64
#define FULL_BYTES 65536        /* patterned in full up to here */
#define LIVE_CAP (64u << 20)    /* requested bytes live at once */
#define VALIDATE_EVERY 32
#define MIB (1024u * 1024u)

struct slot {
    unsigned char *p;
    size_t size;   /* bytes that hold the pattern (request, or usable) */
    size_t usable; /* frg_malloc_usable_size at allocation */
    uint8_t salt;
};

static struct slot slots[NSLOTS];
static size_t live_bytes, live_usable;
static unsigned generation;
static bool check_accounting;

/* ---- failures -------------------------------------------------------- */

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_ops: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- the input ------------------------------------------------------- */

struct input {
    const uint8_t *p;
    size_t n;
};

static unsigned get8(struct input *in) {
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}
static unsigned get16(struct input *in) { return get8(in) | get8(in) << 8; }
static unsigned get24(struct input *in) { return get16(in) | get8(in) << 16; }

static const size_t boundary_sizes[] = {
    0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 112, 127, 128, 129, 160, 161, 1023, 1024, 1025,
    4095, 4096, 4097, 32768, 49152, 65535, 65536, 65537, 65536 + 4096, 131072, 524288,
    MIB - 4096, MIB - 1, MIB, MIB + 1, MIB + 4096, 2 * MIB, 4 * MIB - 1,
};

/* A request size: mostly small (log-uniform), some large, few huge. */
static size_t get_size(struct input *in) {
    unsigned sel = get8(in);
    size_t size;
    if (sel < 12)
        size = boundary_sizes[get8(in) % (sizeof boundary_sizes / sizeof *boundary_sizes)];
    else if (sel < 200)
        size = get24(in) & ((1u << (get8(in) % 17)) - 1); /* < 64 KiB */
    else if (sel < 250)
        size = 65536 + get24(in) % (MIB - 65536 + 1);
    else
        size = MIB + get24(in) % (3 * MIB);
    if (live_bytes + size > LIVE_CAP)
        size %= 65536;
    return size;
}

static struct slot *get_slot(struct input *in) { return &slots[get8(in) % NSLOTS]; }

/* ---- the pattern ----------------------------------------------------- */

/* Byte `off` of an object with salt `salt`: depends on the offset, not
 * the address, so it survives realloc moving the object. */
#define pat(off, salt) ((uint8_t)(((off) >> 8) * 31 + (off) * 7 + (salt)))

/* The harness's own loops over object memory carry no coverage (nor
 * ASan, which does not know the library's memory) instrumentation: it
 * would only slow them down many times and guide nothing.  Not inlined,
 * so the attribute is not lost in an instrumented caller. */
#define NO_COVERAGE __attribute__((noinline, no_sanitize("coverage", "address")))

/* Fill, or check, the patterned parts of [from, to) of an object whose
 * patterned length is len: all of it below FULL_BYTES, then the first 64
 * bytes of each page and the last 64 bytes. */
static NO_COVERAGE bool walk(unsigned char *p, size_t from, size_t to, size_t len, uint8_t salt,
                             bool fill) {
    size_t tail = len > 64 ? len - 64 : 0;
    size_t pos = from;
    while (pos < to) {
        size_t end;
        if (pos < FULL_BYTES) {
            end = FULL_BYTES;
        } else if (pos >= tail) {
            end = to;
        } else if (pos % 4096 < 64) {
            end = pos - pos % 4096 + 64;
        } else { /* on to the next page start, or the tail */
            size_t next = pos - pos % 4096 + 4096;
            pos = next < tail ? next : tail;
            continue;
        }
        if (end > to)
            end = to;
        if (fill) {
            for (size_t i = pos; i < end; i++)
                p[i] = pat(i, salt);
        } else {
            unsigned diff = 0;
            for (size_t i = pos; i < end; i++)
                diff |= p[i] ^ pat(i, salt);
            if (diff)
                return false;
        }
        pos = end;
    }
    return true;
}

static void fill(struct slot *s, size_t from) { walk(s->p, from, s->size, s->size, s->salt, true); }

static NO_COVERAGE bool all_zero(const unsigned char *p, size_t n) {
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static void check(const struct slot *s, size_t upto, const char *when) {
    if (!walk(s->p, 0, upto, s->size, s->salt, false)) {
        size_t i = 0;
        while (i < upto && s->p[i] == pat(i, s->salt))
            i++;
        fail("%s: object %p (size %zu) corrupt at offset %zu", when, (void *)s->p, s->size, i);
    }
}

/* ---- bookkeeping ----------------------------------------------------- */

/* A new object `p` of `size` requested bytes for slot s (empty). */
static NO_COVERAGE void adopt(struct slot *s, void *p, size_t size, size_t align,
                              const char *what) {
    if (!p)
        fail("%s(%zu) returned NULL (errno %d) with %zu bytes live", what, size, errno,
             live_bytes);
    uintptr_t a = (uintptr_t)p;
    if (a % 16 || (align && a % align))
        fail("%s(%zu): %p is not aligned to %zu", what, size, p, align > 16 ? align : 16);
    size_t usable = frg_malloc_usable_size(p);
    if (usable < size)
        fail("%s(%zu): usable size %zu is smaller", what, size, usable);
    size_t extent = usable ? usable : 1;
    for (int i = 0; i < NSLOTS; i++) {
        const struct slot *o = &slots[i];
        if (o != s && o->p) {
            size_t oext = o->usable ? o->usable : 1;
            if (a < (uintptr_t)o->p + oext && (uintptr_t)o->p < a + extent)
                fail("%s(%zu): %p+%zu overlaps live %p+%zu", what, size, p, usable,
                     (void *)o->p, o->usable);
        }
    }
    s->p = p;
    s->size = size;
    s->usable = usable;
    s->salt = (uint8_t)(generation++ * 13 + (unsigned)(s - slots) * 29);
    live_bytes += size;
    live_usable += usable;
}

static void release(struct slot *s) {
    live_bytes -= s->size;
    live_usable -= s->usable;
    s->p = NULL;
    s->size = s->usable = 0;
}

/* ---- a second thread -------------------------------------------------- */

/* Runs one malloc or free at a time for the main thread, so objects are
 * freed on another thread (and perhaps CPU) than the one that made them. */
static pthread_mutex_t helper_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t helper_cv = PTHREAD_COND_INITIALIZER;
static enum { H_IDLE, H_MALLOC, H_FREE, H_DONE } helper_req;
static void *helper_ptr;
static size_t helper_size;

static void *helper_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&helper_mu);
    for (;;) {
        while (helper_req == H_IDLE || helper_req == H_DONE)
            pthread_cond_wait(&helper_cv, &helper_mu);
        if (helper_req == H_MALLOC)
            helper_ptr = frg_malloc(helper_size);
        else
            frg_free(helper_ptr);
        helper_req = H_DONE;
        pthread_cond_broadcast(&helper_cv);
    }
    return NULL;
}

static void *on_helper(int req, void *p, size_t size) {
    pthread_mutex_lock(&helper_mu);
    helper_req = req;
    helper_ptr = p;
    helper_size = size;
    pthread_cond_broadcast(&helper_cv);
    while (helper_req != H_DONE)
        pthread_cond_wait(&helper_cv, &helper_mu);
    helper_req = H_IDLE;
    p = helper_ptr;
    pthread_mutex_unlock(&helper_mu);
    return p;
}

/* ---- checks of the whole heap ---------------------------------------- */

/* Read a statistic of `size` bytes from a fresh snapshot. */
static void stat_read(const char *name, void *v, size_t size) {
    uint64_t epoch = 1;
    size_t len = size, elen = sizeof epoch;
    if (frg_mallctl("epoch", &epoch, &elen, &epoch, sizeof epoch) != 0 ||
        frg_mallctl(name, v, &len, NULL, 0) != 0 || len != size)
        fail("mallctl %s failed", name);
}

static void validate(const char *when) {
    if (!frg_pageheap_validate())
        fail("%s: frg_pageheap_validate failed", when);
    if (!frg_central_validate())
        fail("%s: frg_central_validate failed", when);
    uint64_t misuse;
    stat_read("stats.misuse_reports", &misuse, sizeof misuse);
    if (misuse) /* with misuse:report the library goes on after a report */
        fail("%s: the library reported %llu misuses of a valid program", when,
             (unsigned long long)misuse);
    if (check_accounting) {
        size_t got;
        stat_read("stats.allocated", &got, sizeof got);
        if (got != live_usable)
            fail("%s: stats.allocated %zu, live objects' usable bytes %zu", when, got,
                 live_usable);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    pthread_t t;
    if (pthread_create(&t, NULL, helper_main, NULL) != 0)
        fail("cannot start the helper thread");
    pthread_detach(t);
    bool background = true;
    size_t len = sizeof background;
    frg_free(frg_malloc(1)); /* initialise */
    if (frg_mallctl("opt.background", &background, &len, NULL, 0) != 0)
        fail("mallctl opt.background failed");
    /* With a purger thread, a statistics snapshot may catch it moving
     * objects between caches and slabs: compare only without one. */
    check_accounting = !background;
    return 0;
}

/* ---- one input ---------------------------------------------------------- */

static void do_free(struct slot *s, bool remote) {
    if (!s->p)
        return;
    check(s, s->size, "free");
    if (remote)
        on_helper(H_FREE, s->p, 0);
    else
        frg_free(s->p);
    release(s);
}

static void do_realloc(struct slot *s, size_t size) {
    if (!s->p) {
        adopt(s, frg_realloc(NULL, size), size, 0, "realloc(NULL)");
        fill(s, 0);
        return;
    }
    check(s, s->size, "before realloc");
    if (size == 0) { /* glibc semantics: frees, returns NULL */
        if (frg_realloc(s->p, 0) != NULL)
            fail("realloc(p, 0) did not return NULL");
        release(s);
        return;
    }
    struct slot old = *s;
    void *q = frg_realloc(s->p, size);
    if (!q)
        fail("realloc(%zu -> %zu) returned NULL", old.size, size);
    /* the common prefix, judged by the old object's pattern layout */
    size_t keep = old.size < size ? old.size : size;
    struct slot moved = old;
    moved.p = q;
    check(&moved, keep, "after realloc");
    release(s);
    adopt(s, q, size, 0, "realloc");
    s->salt = old.salt;
    fill(s, 0);
}

static void do_aligned(struct slot *s, struct input *in) {
    unsigned variant = get8(in) % 5, e = get8(in) % 23;
    size_t size = get_size(in);
    size_t align = (size_t)1 << e;
    void *p = NULL;
    switch (variant) {
    case 0: /* memalign rounds alignments that are not powers of two */
        if (get8(in) & 1) { /* align - 1: 0, 1, 3, 7, ... rounds up to align */
            p = frg_memalign(align - 1, size);
            align = align - 1 <= 1 ? 1 : align;
        } else {
            p = frg_memalign(align, size);
        }
        break;
    case 1: {
        int rc;
        if (get8(in) % 8 == 0) { /* not a power of two, or below sizeof(void *) */
            void *keep = (void *)&rc;
            size_t bad = align < 8 ? align : align * 3;
            rc = frg_posix_memalign(&keep, bad, size);
            if (rc != EINVAL || keep != (void *)&rc)
                fail("posix_memalign(%zu) gave %d, not EINVAL", bad, rc);
            return;
        }
        if (align < sizeof(void *))
            align = sizeof(void *);
        rc = frg_posix_memalign(&p, align, size);
        if (rc != 0)
            fail("posix_memalign(%zu, %zu) gave %d", align, size, rc);
        break;
    }
    case 2:
        if (get8(in) % 8 == 0 && e > 1) {
            errno = 0;
            if (frg_aligned_alloc(align + 1, size) != NULL || errno != EINVAL)
                fail("aligned_alloc(%zu) did not fail with EINVAL", align + 1);
            return;
        }
        p = frg_aligned_alloc(align, size);
        break;
    case 3:
        p = frg_valloc(size);
        align = 4096;
        break;
    default:
        p = frg_pvalloc(size);
        align = 4096;
        size = (size + 4095) & ~(size_t)4095;
        if (!size)
            size = 4096;
        break;
    }
    do_free(s, false);
    adopt(s, p, size, align, "aligned allocation");
    fill(s, 0);
}

/* Requests that must fail cleanly: no allocation, errno ENOMEM. */
static void do_impossible(struct input *in) {
    unsigned v = get8(in) % 4;
    void *p;
    errno = 0;
    switch (v) {
    case 0: p = frg_malloc((size_t)PTRDIFF_MAX + 1 + get16(in)); break;
    case 1: p = frg_calloc((size_t)1 << 33, ((size_t)1 << 31) + get8(in)); break;
    case 2: p = frg_reallocarray(NULL, SIZE_MAX / 3, 4); break;
    default: p = frg_malloc(SIZE_MAX - get8(in)); break;
    }
    if (p != NULL || errno != ENOMEM)
        fail("impossible request %u gave %p, errno %d", v, p, errno);
}

static void run(const uint8_t *data, size_t size) {
    struct input in = {data, size};
    unsigned ops = 0;
    while (in.n) {
        unsigned op = get8(&in) % 16;
        struct slot *s = get_slot(&in);
        switch (op) {
        case 0:
        case 1: {
            size_t n = get_size(&in);
            do_free(s, false);
            adopt(s, frg_malloc(n), n, 0, "malloc");
            fill(s, 0);
            break;
        }
        case 2: {
            size_t n = get_size(&in), k = 1 + get8(&in) % 16;
            do_free(s, false);
            adopt(s, frg_calloc(k, n / k), n / k * k, 0, "calloc");
            if (!all_zero(s->p, s->size))
                fail("calloc(%zu, %zu): memory is not zeroed", k, n / k);
            fill(s, 0);
            break;
        }
        case 3:
        case 4:
            do_realloc(s, get_size(&in));
            break;
        case 5:
            do_aligned(s, &in);
            break;
        case 6:
        case 7:
            do_free(s, false);
            break;
        case 8: /* the usable size really is usable */
            if (s->p) {
                check(s, s->size, "usable_size");
                size_t u = frg_malloc_usable_size(s->p);
                if (u != s->usable)
                    fail("usable size of %p changed: %zu, then %zu", (void *)s->p,
                         s->usable, u);
                size_t old = s->size;
                live_bytes += u - s->size;
                s->size = u;
                fill(s, old > 64 ? old - 64 : 0);
            }
            break;
        case 9:
            frg_malloc_trim((size_t)get8(&in) << 12);
            break;
        case 10:
            validate("validate op");
            break;
        case 11:
            do_free(s, true);
            break;
        case 12: {
            size_t n = get_size(&in);
            do_free(s, false);
            adopt(s, on_helper(H_MALLOC, NULL, n), n, 0, "malloc on another thread");
            fill(s, 0);
            break;
        }
        case 13:
            do_impossible(&in);
            break;
        case 14: {
            static const char *const actions[] = {"thread.tcache.flush", "arena.0.purge"};
            const char *a = actions[get8(&in) % 2];
            if (frg_mallctl(a, NULL, NULL, NULL, 0) != 0)
                fail("mallctl(%s) failed", a);
            break;
        }
        default: /* realloc within the same size: usually in place */
            if (s->p)
                do_realloc(s, s->size ? s->size - (s->size > 8 && get8(&in) & 1) : 1);
            break;
        }
        if (++ops % VALIDATE_EVERY == 0)
            validate("periodic");
    }
    for (int i = 0; i < NSLOTS; i++)
        do_free(&slots[i], false);
    if (live_bytes || live_usable)
        fail("bookkeeping: %zu bytes still live after freeing everything", live_bytes);
    validate("end of input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
