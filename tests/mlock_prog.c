/*
 * mlock_prog.c - mlockall in a process that runs libfrgmalloc.so (run by
 * tests/mlock.sh with LD_PRELOAD).
 *
 * mlockall faults in every page of every accessible mapping it locks; the
 * flat page map reserves 256 GiB of address space, which must cost
 * nothing there: it stays inaccessible (PROT_NONE) except for the slices
 * the heap's chunks need (src/pagemap.h).  Checked: the layout (as the
 * test script expects) is the same after the call; RSS stays small (the
 * kernel counts the reservation in VmLck, as address space, but faults in
 * none of it); objects allocated before the call are freed and new ones
 * allocated after it; a foreign pointer is still reported, not a crash.
 * Prints "mlock_prog: ok", or "mlock_prog: FAIL ..." and exits 1, or
 * exits 77 where the system refuses mlockall (no CAP_IPC_LOCK and a
 * small memlock limit): nothing to check then.
 *
 * `mlock_prog future LIB` instead locks all memory, present and future
 * (MCL_FUTURE), and only then loads LIB with dlopen: every mapping the
 * library makes from then on is faulted in as it is made.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define GIB ((size_t)1 << 30)
#define N 20000

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static int failed;

static void check(int ok, const char *what) {
    if (!ok) {
        printf("mlock_prog: FAIL %s\n", what);
        failed = 1;
    }
}

static const char *layout(mallctl_fn ctl) {
    const char *s = "?";
    size_t len = sizeof s;
    return ctl && ctl("stats.pagemap", &s, &len, NULL, 0) == 0 ? s : "?";
}

/* A field of /proc/self/status in kB ("VmLck:"), or -1. */
static long status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, strlen(field)))
            v = strtol(line + strlen(field), NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void expect_layout(const char *got) {
    const char *want = getenv("MLOCK_EXPECT_LAYOUT");
    if (want && strcmp(got, want)) {
        printf("mlock_prog: FAIL page-map layout %s, expected %s\n", got, want);
        failed = 1;
    }
}

/* MCL_FUTURE before the library starts. */
static int future(const char *lib) {
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        printf("mlock_prog: skipped: mlockall refused (%s)\n", strerror(errno));
        return 77;
    }
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    mallctl_fn ctl = h ? (mallctl_fn)dlsym(h, "frg_mallctl") : NULL;
    void *(*fmalloc)(size_t) = h ? (void *(*)(size_t))dlsym(h, "frg_malloc") : NULL;
    check(ctl && fmalloc, "dlopen of the library");
    for (int i = 0; fmalloc && i < N; i++)
        check(fmalloc((size_t)(16 + i % 3000)) != NULL, "frg_malloc");
    printf("mlock_prog: MCL_FUTURE, then dlopen: layout %s, VmLck %ld MiB, VmRSS %ld MiB\n",
           layout(ctl), status_kb("VmLck:") >> 10, status_kb("VmRSS:") >> 10);
    expect_layout(layout(ctl));
    check(status_kb("VmRSS:") < (long)(1 * GIB >> 10), "RSS over 1 GiB");
    munlockall();
    if (failed)
        return 1;
    printf("mlock_prog: ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "future"))
        return future(argv[2]);
    mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    check(ctl != NULL, "no mallctl: not running under libfrgmalloc.so");
    static void *before[N];
    for (int i = 0; i < N; i++)
        before[i] = malloc((size_t)(16 + i % 2000) * (i % 97 == 0 ? 97 : 1));
    const char *was = layout(ctl);
    expect_layout(was);
    int rc = mlockall(MCL_CURRENT);
    int err = errno;
    if (rc != 0) {
        printf("mlock_prog: skipped: mlockall refused (%s)\n", strerror(err));
        return 77;
    }
    long locked = status_kb("VmLck:"), rss = status_kb("VmRSS:");
    printf("mlock_prog: layout %s -> %s, mlockall ok, VmSize %ld MiB, VmLck %ld MiB, VmRSS %ld MiB\n",
           was, layout(ctl), status_kb("VmSize:") >> 10, locked >> 10, rss >> 10);
    check(!strcmp(layout(ctl), was), "the layout changed");
    check(rss < (long)(1 * GIB >> 10), "RSS over 1 GiB after mlockall");
    munlockall();
    for (int i = 0; i < N; i += 2)
        free(before[i]);
    static void *after[N];
    for (int i = 0; i < N; i++) {
        after[i] = malloc((size_t)(16 + i % 3000) * (i % 89 == 0 ? 89 : 1));
        check(after[i] != NULL, "malloc after mlockall");
        memset(after[i], 1, 16);
    }
    for (int i = 0; i < N; i++)
        free(after[i]);
    for (int i = 1; i < N; i += 2)
        free(before[i]);
    int local;
    char *volatile stranger = (char *)&local + 4096;
    free(stranger); /* not ours: reported (misuse:report), not a crash */
    if (failed)
        return 1;
    printf("mlock_prog: ok\n");
    return 0;
}
