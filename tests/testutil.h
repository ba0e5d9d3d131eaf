/*
 * testutil.h - helpers shared by the CUnit test programs.
 *
 * Test programs link libfrgmalloc.a and call the frg_* API (and, for
 * white-box tests, internal functions declared in src/).  Helpers here:
 * a main() that runs the registered suites, reading the process's RSS,
 * running a function in a child process and capturing its stderr and
 * signal, and a deterministic PRNG.
 */
#ifndef FRG_TESTUTIL_H
#define FRG_TESTUTIL_H

#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frgmalloc.h"
#include "os.h"

/* xorshift64*: reproducible sequences for a given seed. */
static inline uint64_t tu_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif

#ifdef TU_ASAN
/* KiB of AddressSanitizer's shadow memory that is resident: the Rss of
 * the mappings inside its shadow on x86-64 ([0x7fff8000, 0x10007fff8000),
 * where no application memory lies).  Every instrumented access reads the
 * shadow of the bytes it touches, and on kernels that do not map the
 * shared zero page for a read fault (seen on a 6.18 virtual machine), each
 * such read makes a shadow page resident for good: 1/8 of all memory the
 * tests ever touched, which the allocator's purges cannot give back.
 * Read line by line from /proc/self/smaps, without allocating. */
static inline long tu_asan_shadow_kib(void) {
    int fd = open("/proc/self/smaps", O_RDONLY);
    if (fd < 0)
        return 0;
    char chunk[4096], line[512];
    size_t len = 0;
    long kib = 0;
    bool in_shadow = false;
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] != '\n') {
                if (len < sizeof line - 1)
                    line[len++] = chunk[i];
                continue;
            }
            line[len] = '\0';
            len = 0;
            unsigned long long lo, hi;
            if (strncmp(line, "Rss:", 4) == 0) {
                if (in_shadow)
                    kib += strtol(line + 4, NULL, 10);
            } else if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2) { /* a mapping's first line */
                in_shadow = lo >= 0x7fff8000ull && hi <= 0x10007fff8000ull;
            }
        }
    }
    close(fd);
    return kib;
}
#endif

/* VmRSS of this process in KiB, read without allocating; under
 * AddressSanitizer, without the sanitizer's own shadow memory. */
static inline long tu_rss_kib(void) {
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strstr(buf, "VmRSS:");
    if (!p)
        return -1;
    long kib = strtol(p + 6, NULL, 10);
#ifdef TU_ASAN
    kib -= tu_asan_shadow_kib();
#endif
    return kib;
}

/* The environment variable `name` as a number, or `def` if it is unset
 * (tests shortened under valgrind and sanitizers read their counts so). */
static inline long tu_env_long(const char *name, long def) {
    const char *v = getenv(name);
    return v ? atol(v) : def;
}

/* Run on CPU `cpu` only, and be there; false if this process may not (a
 * cpuset without it).  Callers that must give the CPUs back save their
 * affinity first (sched_getaffinity). */
static inline bool tu_pin(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0 && sched_getcpu() == cpu;
}

/* Fill and check a recognisable pattern (position and salt; not the
 * address, so it survives realloc moving the object). */
static inline void tu_fill(void *p, size_t n, uint8_t salt) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 31 + salt);
}
static inline int tu_check(const void *p, size_t n, uint8_t salt) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (uint8_t)(i * 31 + salt))
            return 0;
    return 1;
}

/* Read fd to its end (a child blocked on a full pipe would never exit),
 * keeping the first size-1 bytes, NUL-terminated. */
static inline void tu_read_all(int fd, char *buf, size_t size) {
    size_t len = 0;
    char sink[4096];
    for (;;) {
        bool room = len + 1 < size;
        ssize_t r = read(fd, room ? buf + len : sink, room ? size - 1 - len : sizeof sink);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (room)
            len += (size_t)r;
    }
    if (size)
        buf[len] = '\0';
}

/* Run fn() in a child; return its wait status and copy its stderr. */
static inline int tu_run_child(void (*fn)(void), char *err, size_t errsize) {
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        signal(SIGABRT, SIG_DFL);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    tu_read_all(pipefd[0], err, errsize);
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* ---- scenarios in fresh processes ------------------------------------------
 * Options are read once per process, so tests that need their own options
 * re-execute the test program: `prog NAME` runs scenario NAME with
 * FRGMALLOC_CONF extended by the scenario's options; the scenario exits 0
 * on success and prints what it measured. */
struct tu_scenario {
    const char *name, *conf;
    void (*fn)(void);
};

/* Run `prog arg` in a new process with FRGMALLOC_CONF extended by `conf`
 * (NULL or "": unchanged), its stdout on out_fd and stderr on err_fd.
 * The environment is built here, before fork: between fork and exec the
 * child only dups and execs, since it must not allocate (the process's
 * malloc may hold a lock another thread had taken).  Returns the pid. */
static inline pid_t tu_spawn(const char *prog, const char *arg, const char *conf, int out_fd,
                             int err_fd) {
    const char *old = getenv("FRGMALLOC_CONF");
    char saved[1024], all[2048];
    bool extend = conf && *conf;
    if (snprintf(saved, sizeof saved, "%s", old ? old : "") >= (int)sizeof saved ||
        snprintf(all, sizeof all, "%s%s%s", saved, old && extend ? "," : "",
                 extend ? conf : "") >= (int)sizeof all)
        return -1; /* too long to restore or to pass on */
    if (extend)
        setenv("FRGMALLOC_CONF", all, 1);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execl(prog, prog, arg, (char *)NULL);
        _exit(127);
    }
    if (extend && old)
        setenv("FRGMALLOC_CONF", saved, 1);
    else if (extend)
        unsetenv("FRGMALLOC_CONF");
    return pid;
}

static inline int tu_run_scenario(const struct tu_scenario *s) {
    char self[4096], out[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) /* dup2 in the child clears it on 1 and 2 */
        return 0;
    pid_t pid = tu_spawn(self, s->name, s->conf, pipefd[1], pipefd[1]);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        return 0;
    }
    tu_read_all(pipefd[0], out, sizeof out);
    close(pipefd[0]);
    int st;
    waitpid(pid, &st, 0);
    fprintf(stderr, "\n    %s: %s", s->name, out);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

#define TU_FAIL(...) do { fflush(stdout); fprintf(stderr, __VA_ARGS__); _exit(1); } while (0)
#define TU_PASS() do { fflush(stdout); _exit(0); } while (0)

/* Tests and scenarios to skip by name: a hook for tests/sanitizers.sh,
 * which defines TU_SKIPPED before including this file.  Skipped ones are
 * listed on stdout. */
#ifndef TU_SKIPPED
#define TU_SKIPPED(name) ((void)(name), 0)
#endif

/* Can this system run the per-CPU caches on rseq at all?  The library
 * built with rseq, a kernel that has the rseq system call and lets us
 * make it (a zero-length area is refused with EINVAL, not ENOSYS or
 * seccomp's EPERM), and the membarrier command (Linux 5.10). */
static inline bool tu_rseq_possible(void) {
    bool built = false;
    size_t len = sizeof built;
    if (frg_mallctl("config.rseq", &built, &len, NULL, 0) != 0 || !built)
        return false;
    int saved = errno;
    bool possible = syscall(SYS_rseq, NULL, 0, 0, 0) != 0 && errno == EINVAL;
    /* and membarrier's rseq command, which drains need unless
     * rseq_fence:migrate (not assumed here: a kernel without the command
     * skips every rseq mode) */
    long cmds = syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0);
    possible &= cmds > 0 && (cmds & (1 << 8)); /* REGISTER_PRIVATE_EXPEDITED_RSEQ */
    errno = saved;
    return possible;
}

/* Lease mode needs membarrier's expedited command (Linux 4.14; not under
 * valgrind, nor where seccomp refuses membarrier). */
static inline bool tu_lease_possible(void) {
    int saved = errno;
    long cmds = syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0);
    errno = saved;
    return cmds > 0 && (cmds & (1 << 4)); /* REGISTER_PRIVATE_EXPEDITED */
}

/* Would the library give the flat page map its 256 GiB reservation of
 * address space (PROT_NONE)?  Not where it does not ask for one (a
 * `ulimit -v`, a large finite `ulimit -l`: its own rule, os.h), nor where
 * the kernel refuses it (valgrind), which is probed here. */
static inline bool tu_flat_pagemap_possible(void) {
    if (frg_os_address_space_counted())
        return false;
    size_t size = (size_t)256 << 30;
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    munmap(p, size);
    return true;
}

/* Is the page-map layout in use `want` ("flat" or "tree")?  A run that
 * wants flat also passes with tree where the flat one is not possible
 * (probed only then: a second 256 GiB could fail where one fits). */
static inline bool tu_pagemap_as_expected(const char *want) {
    const char *got = "?";
    size_t len = sizeof got;
    frg_free(frg_malloc(1)); /* initialises the library */
    frg_mallctl("stats.pagemap", &got, &len, NULL, 0);
    if (!strcmp(got, want))
        return true;
    if (!strcmp(want, "flat") && !strcmp(got, "tree") && !tu_flat_pagemap_possible()) {
        printf("page map: tree, as the flat one's reservation is refused or limited here\n");
        return true;
    }
    fprintf(stderr, "expected page-map layout %s, running with %s\n", want, got);
    return false;
}

/* FRG_TEST_PAGEMAP (tests/run-modes.sh): the page-map layout the run
 * expects; 0 if it is in use (or none is expected), 1 if not. */
static inline int tu_pagemap_check(void) {
    const char *want = getenv("FRG_TEST_PAGEMAP");
    return !want || tu_pagemap_as_expected(want) ? 0 : 1;
}

/* tests/run-modes.sh names the cache mode and rseq area (and, if a third
 * part is given, the drains' fence) each run expects in FRG_TEST_EXPECT
 * ("rseq/glibc", "lock/none", "rseq/glibc/migrate"...): a mode that fell
 * back to another would pass its tests without testing itself.  0 if as
 * expected (or nothing expected), 1 if not, 77 (skip) for an rseq or
 * lease mode on a system that cannot have one. */
static inline int tu_mode_check(void) {
    const char *want = getenv("FRG_TEST_EXPECT");
    if (!want)
        return 0;
    frg_free(frg_malloc(1)); /* initialises the library */
    const char *mode = "?", *area = "?", *fence = "?";
    size_t len = sizeof mode;
    frg_mallctl("stats.percpu.mode", &mode, &len, NULL, 0);
    len = sizeof area;
    frg_mallctl("stats.percpu.rseq_area", &area, &len, NULL, 0);
    len = sizeof fence;
    frg_mallctl("stats.percpu.rseq_fence", &fence, &len, NULL, 0);
    char got[96];
    snprintf(got, sizeof got, "%s/%s", mode, area);
    const char *second = strchr(want, '/');
    if (second && strchr(second + 1, '/'))
        snprintf(got + strlen(got), sizeof got - strlen(got), "/%s", fence);
    if (!strcmp(got, want))
        return 0;
    if (!strncmp(want, "rseq/", 5) && !tu_rseq_possible()) {
        printf("skipped: %s expected, but this build or kernel cannot run rseq\n", want);
        return 77;
    }
    if (!strncmp(want, "lease/", 6) && !tu_lease_possible()) {
        printf("skipped: %s expected, but this kernel cannot run lease mode\n", want);
        return 77;
    }
    fprintf(stderr, "expected cache mode and rseq area %s, running in %s\n", want, got);
    return 1;
}

/* Run the registered tests (minus skipped ones); 0 if all passed. */
static inline int tu_run_registry(void) {
    int mode_check = tu_mode_check();
    if (!mode_check)
        mode_check = tu_pagemap_check();
    if (mode_check) {
        CU_cleanup_registry();
        return mode_check;
    }
    CU_set_fail_on_inactive(CU_FALSE);
    for (CU_pSuite su = CU_get_registry()->pSuite; su; su = su->pNext)
        for (CU_pTest t = su->pTest; t; t = t->pNext)
            if (TU_SKIPPED(t->pName)) {
                CU_set_test_active(t, CU_FALSE);
                printf("skipping %s\n", t->pName);
            }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

/* main() of a program made of scenarios: one CUnit assertion each. */
#define TU_SCENARIO_MAIN(suite_name, table)                                      \
    static void tu_all_scenarios(void) {                                         \
        for (size_t i = 0; i < sizeof table / sizeof *table; i++) {             \
            if (TU_SKIPPED(table[i].name))                                       \
                printf("skipping %s\n", table[i].name);                          \
            else                                                                 \
                CU_ASSERT(tu_run_scenario(&table[i]));                           \
        }                                                                        \
    }                                                                            \
    int main(int argc, char **argv) {                                            \
        if (argc == 2) { /* tu_run_scenario runs one in a new process */         \
            for (size_t i = 0; i < sizeof table / sizeof *table; i++)           \
                if (!strcmp(argv[1], table[i].name))                             \
                    table[i].fn();                                               \
            return 2;                                                            \
        }                                                                        \
        if (CU_initialize_registry() != CUE_SUCCESS)                             \
            return 99;                                                           \
        CU_add_test(CU_add_suite(suite_name, NULL, NULL), "scenarios",           \
                    tu_all_scenarios);                                           \
        return tu_run_registry();                                                \
    }

#define TU_SUITE(name) CU_pSuite suite_##name = CU_add_suite(#name, NULL, NULL)
#define TU_TEST(suite, fn) CU_add_test(suite_##suite, #fn, fn)

/* Each test program defines register_tests() and uses TU_MAIN. */
#define TU_MAIN                                                                  \
    int main(void) {                                                             \
        if (CU_initialize_registry() != CUE_SUCCESS)                             \
            return 99;                                                           \
        register_tests();                                                        \
        return tu_run_registry();                                                \
    }

#endif
