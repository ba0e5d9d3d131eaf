/*
 * test_misuse.c - misuse is detected and reported with one exact line,
 * "frgmalloc: <what> of <pointer>", then abort()s; with misuse:report the
 * call is ignored and the program goes on with an intact heap.
 *
 * Each scenario runs in a fresh process (this program re-executed with the
 * scenario's name), which prints the pointer it is about to misuse on
 * stdout so the parent can check the message names it.
 */
#include "testutil.h"

#include <errno.h>
#include <malloc.h>

#include "central.h"
#include "pageheap.h"
#include "percpu.h"
#include "transfer.h"

static void announce(const void *p) {
    printf("%p\n", p);
    fflush(stdout);
}

static void double_free_small(void) {
    void *p = frg_malloc(40);
    frg_free(p);
    announce(p);
    frg_free(p);
}

/* The first free's object has left the per-CPU cache before the second. */
static void double_free_small_flushed(void) {
    void *keep = frg_malloc(40); /* keeps the slab alive */
    void *p = frg_malloc(40);
    frg_free(p);
    frg_malloc_trim(0);
    announce(p);
    frg_free(p);
    frg_free(keep);
}

/* Many frees in between: p is deep in a cache. */
static void double_free_small_buried(void) {
    void *p = frg_malloc(64);
    frg_free(p);
    void *q[100];
    for (int i = 0; i < 100; i++)
        q[i] = frg_malloc(64);
    for (int i = 0; i < 100; i++)
        frg_free(q[i]);
    announce(p);
    frg_free(p);
}

/* Run with cache_max:0: every free goes past the CPU cache into the
 * transfer cache, where the second free must still find it. */
static void double_free_small_transfer(void) {
    void *keep = frg_malloc(64); /* keeps the slab alive */
    void *p = frg_malloc(64);
    frg_free(p);
    if (frg_fastpath.cache_mode != FRG_CACHE_OFF && frg_transfer_objs(frg_size_to_class(64)) == 0)
        _exit(5); /* the scenario did not set itself up */
    announce(p);
    frg_free(p);
    frg_free(keep);
}

static void double_free_large(void) {
    void *p = frg_malloc(200000);
    frg_free(p);
    announce(p);
    frg_free(p);
}

/* Freed runs are kept in large.c's cache: the second free must also be
 * caught when the first one gave the run straight back to the page heap. */
static void double_free_large_uncached(void) { double_free_large(); }

static void realloc_freed_large(void) {
    void *p = frg_malloc(200000);
    frg_free(p); /* kept in the large cache */
    announce(p);
    frg_realloc(p, 300000);
}

static void usable_size_freed_large(void) {
    void *p = frg_malloc(200000);
    frg_free(p);
    announce(p);
    frg_malloc_usable_size(p);
}

static void double_free_huge(void) {
    void *p = frg_malloc(8 << 20);
    frg_free(p);
    announce(p);
    frg_free(p);
}

/* A use after free wipes the key of a cached object, which is then freed
 * again: both copies reach the central list in one flush, with an object
 * of another slab between them.  The first copy empties its slab (one
 * object per slab), which goes to the page heap when the flush moves on
 * (no dirty budget to stash it); the second then points into freed pages. */
static void double_free_flushed_released(void) {
    char *p = frg_malloc(16384), *q = frg_malloc(16384);
    frg_free(p);
    frg_free(q);
    memset(p + 8, 0, 8);
    announce(p);
    frg_free(p);
    frg_percpu_drain_all(false);
}

static void free_stack(void) {
    int x;
    announce(&x);
    frg_free(&x);
}

static void free_global(void) {
    static char buf[64];
    announce(buf + 16);
    frg_free(buf + 16);
}

static void free_interior_small(void) {
    char *p = frg_malloc(100);
    announce(p + 16);
    frg_free(p + 16);
}

/* The unusable tail of a slab: 48-byte objects, 85 to a page, 16 bytes
 * left; a pointer there is a multiple of the size but no object. */
static void free_slab_tail(void) {
    char *p = frg_malloc(48);
    char *tail = (char *)((uintptr_t)p & ~(uintptr_t)4095) + 85 * 48;
    announce(tail);
    frg_free(tail);
}

static void free_interior_large(void) {
    char *p = frg_malloc(300000);
    announce(p + 8192);
    frg_free(p + 8192);
}

/* A large run maps its first page only: an interior pointer is found by
 * walking the page map back to it, from its last page too. */
static void free_interior_large_end(void) {
    char *p = frg_malloc(300000);
    announce(p + 299000);
    frg_free(p + 299000);
}

/* Pages a realloc added in place are inside the run as well. */
static void free_interior_large_grown(void) {
    char *p = frg_malloc(100000);
    char *q = frg_realloc(p, 400000);
    if (q != p)
        printf("moved\n"); /* the scenario still checks the report */
    announce(q + 350000);
    frg_free(q + 350000);
}

/* Inside a freed run kept in the large cache: its memory is freed. */
static void realloc_interior_cached_large(void) {
    char *p = frg_malloc(200000);
    frg_free(p);
    announce(p + 100000);
    frg_realloc(p + 100000, 10);
}

static void free_libc_pointer(void) {
    void *p = malloc(100); /* glibc's, not ours */
    announce(p);
    frg_free(p);
}

static void realloc_freed(void) {
    void *p = frg_malloc(300);
    frg_free(p);
    announce(p);
    frg_realloc(p, 500);
}

static void realloc_invalid(void) {
    int x;
    announce(&x);
    frg_realloc(&x, 10);
}

static void usable_size_freed(void) {
    void *p = frg_malloc(700);
    frg_free(p);
    announce(p);
    frg_malloc_usable_size(p);
}

static void usable_size_invalid(void) {
    int x;
    announce(&x);
    frg_malloc_usable_size(&x);
}

/* misuse:report: the bad call is ignored and the heap stays correct. */
static void report_and_continue(void) {
    void *p = frg_malloc(48);
    frg_free(p);
    announce(p);
    frg_free(p); /* reported, ignored */
    void *a = frg_malloc(48), *b = frg_malloc(48);
    if (a == b) /* a double free that was not ignored would hand p out twice */
        _exit(3);
    int x;
    frg_free(&x);
    frg_free(a);
    frg_free(b);
    if (!frg_central_validate() || !frg_pageheap_validate())
        _exit(4);
    _exit(0);
}

/* A use after free wipes the free key of an object whose slab is empty
 * and stashed; its second free then reaches the central list, where the
 * slab bitmap reports it.  The stashed slab must not be released twice
 * (it was: the stash then linked to itself and handed the slab out twice). */
static void report_stashed_double_free(void) {
    alarm(20); /* a stash that loops would hang the checks below */
    char *p = frg_malloc(48);
    frg_free(p);
    frg_percpu_drain_all(false); /* p's slab is empty now: stashed */
    memset(p, 0, 16);            /* the use after free */
    announce(p);
    frg_free(p);                 /* the key is gone: cached */
    frg_percpu_drain_all(false); /* reaches the slab bitmap: reported */
    if (!frg_central_validate())
        _exit(6);
    frg_malloc_trim(0); /* releases the stash: each slab once */
    if (!frg_central_validate() || !frg_pageheap_validate())
        _exit(7);
    char *a[200];
    for (int i = 0; i < 200; i++)
        a[i] = frg_malloc(48);
    for (int i = 0; i < 200; i++)
        for (int k = 0; k < i; k++)
            if (a[i] == a[k])
                _exit(3); /* an object handed out twice */
    for (int i = 0; i < 200; i++)
        frg_free(a[i]);
    if (!frg_central_validate() || !frg_pageheap_validate())
        _exit(4);
    _exit(0);
}

struct scenario {
    const char *name;
    void (*fn)(void);
    const char *what; /* expected "<what> of" */
    const char *conf; /* options added for this scenario */
};

static const struct scenario scenarios[] = {
    {"double_free_small", double_free_small, "double free"},
    {"double_free_small_flushed", double_free_small_flushed, "double free"},
    {"double_free_small_buried", double_free_small_buried, "double free"},
    {"double_free_small_transfer", double_free_small_transfer, "double free", "cache_max:0"},
    {"double_free_large", double_free_large, "double free"},
    {"double_free_large_uncached", double_free_large_uncached, "double free", "large_cache_max:0"},
    {"realloc_freed_large", realloc_freed_large, "use-after-free realloc"},
    {"usable_size_freed_large", usable_size_freed_large, "use-after-free malloc_usable_size"},
    {"double_free_huge", double_free_huge, "double free"},
    {"double_free_flushed_released", double_free_flushed_released, "double free",
     "transfer_max:0,dirty_min:0,dirty_ratio:0"},
    {"free_stack", free_stack, "invalid free"},
    {"free_global", free_global, "invalid free"},
    {"free_interior_small", free_interior_small, "interior free"},
    {"free_slab_tail", free_slab_tail, "interior free"},
    {"free_interior_large", free_interior_large, "interior free"},
    {"free_interior_large_end", free_interior_large_end, "interior free"},
    {"free_interior_large_grown", free_interior_large_grown, "interior free"},
    {"realloc_interior_cached_large", realloc_interior_cached_large, "use-after-free realloc"},
    {"free_libc_pointer", free_libc_pointer, "invalid free"},
    {"realloc_freed", realloc_freed, "use-after-free realloc"},
    {"realloc_invalid", realloc_invalid, "invalid realloc"},
    {"usable_size_invalid", usable_size_invalid, "invalid malloc_usable_size"},
    {"usable_size_freed", usable_size_freed, "use-after-free malloc_usable_size"},
};

static char self[4096];

/* Run scenario `name` in a fresh process; collect stdout, stderr, status. */
static int run(const char *name, const char *conf, char *out, size_t out_size, char *err,
               size_t err_size) {
    int po[2], pe[2];
    out[0] = err[0] = '\0';
    if (pipe2(po, O_CLOEXEC))
        return -1;
    if (pipe2(pe, O_CLOEXEC)) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid_t pid = tu_spawn(self, name, conf, po[1], pe[1]);
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return -1;
    }
    tu_read_all(po[0], out, out_size); /* a line: fits the pipe, so stdout first is fine */
    tu_read_all(pe[0], err, err_size);
    close(po[0]);
    close(pe[0]);
    int st = -1;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

static void test_each_misuse_aborts_with_message(void) {
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        char out[256], err[4096], want[512];
        int st = run(scenarios[i].name, scenarios[i].conf, out, sizeof out, err, sizeof err);
        out[strcspn(out, "\n")] = '\0';
        snprintf(want, sizeof want, "frgmalloc: %s of %s\n", scenarios[i].what, out);
        int aborted = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
        int exact = strcmp(err, want) == 0;
        if (!aborted || !exact)
            fprintf(stderr, "\n    %s: status 0x%x, stderr '%s', expected '%s'", scenarios[i].name,
                    st, err, want);
        CU_ASSERT(aborted);
        CU_ASSERT(exact);
    }
}

static void test_report_mode_continues(void) {
    char out[256], err[4096], want[512];
    int st = run("report_and_continue", "misuse:report", out, sizeof out, err, sizeof err);
    out[strcspn(out, "\n")] = '\0';
    snprintf(want, sizeof want, "frgmalloc: double free of %s\n", out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT(strncmp(err, want, strlen(want)) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "frgmalloc: invalid free of 0x"));
}

static void test_report_mode_stashed_slab(void) {
    char out[256], err[4096], want[512];
    int st = run("report_stashed_double_free", "misuse:report", out, sizeof out, err, sizeof err);
    out[strcspn(out, "\n")] = '\0';
    snprintf(want, sizeof want, "frgmalloc: double free of %s\n", out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        printf("\n    status 0x%x, stderr '%s'\n", st, err);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT(strncmp(err, want, strlen(want)) == 0);
}

static void register_tests(void) {
    TU_SUITE(misuse);
    TU_TEST(misuse, test_each_misuse_aborts_with_message);
    TU_TEST(misuse, test_report_mode_continues);
    TU_TEST(misuse, test_report_mode_stashed_slab);
}

int main(int argc, char **argv) {
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    if (argc == 2) {
        if (!strcmp(argv[1], "report_and_continue"))
            report_and_continue();
        if (!strcmp(argv[1], "report_stashed_double_free"))
            report_stashed_double_free();
        for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
            if (!strcmp(argv[1], scenarios[i].name)) {
                scenarios[i].fn();
                return 0; /* not detected */
            }
        return 2;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 99;
    register_tests();
    return tu_run_registry();
}
