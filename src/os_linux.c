/*
 * os_linux.c - the Linux implementation of os.h.
 *
 * Owns: every mmap, munmap, mremap, mprotect, madvise, process_madvise and
 * prctl the library makes, the counters of those calls, the
 * fault-injection hook, the address-space limits it reads, CPU counting,
 * environment lookup, and keeping our module loaded.  The only file that
 * includes <sys/mman.h>.
 * Locking: none; counters and the "batched purge works" flag are atomics,
 * the "under valgrind" flag is set once at initialisation, the rest is
 * stateless syscalls.
 */
#define _GNU_SOURCE
#include "os.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "options.h"
#include "vg.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif
#ifndef PR_SET_VMA_ANON_NAME
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#if !defined(SYS_process_madvise) && defined(__x86_64__)
#define SYS_process_madvise 440
#endif
/* "The calling process" as a pidfd (Linux 6.14): unlike a pidfd opened at
 * start-up it still means the caller after fork(), never the parent. */
#define FRG_PIDFD_SELF_THREAD_GROUP (-10001)

struct frg_os_counters frg_os_counters;

static uint64_t fault_mmap_countdown, fault_madvise_countdown;
static int naming_works = 1; /* cleared the first time the kernel refuses */
static int batch_purge_works = 1; /* cleared the first time the kernel refuses */
static bool under_valgrind;       /* see frg_os_move */

#define COUNT(field, n) __atomic_fetch_add(&frg_os_counters.field, (n), __ATOMIC_RELAXED)

void frg_os_inject_faults(uint64_t nth_mmap, uint64_t nth_madvise) {
    __atomic_store_n(&fault_mmap_countdown, nth_mmap, __ATOMIC_RELAXED);
    __atomic_store_n(&fault_madvise_countdown, nth_madvise, __ATOMIC_RELAXED);
}

/* True when the fault countdown says this call must fail. */
static bool injected_fault(uint64_t *countdown) {
    uint64_t c = __atomic_load_n(countdown, __ATOMIC_RELAXED);
    while (c) {
        if (__atomic_compare_exchange_n(countdown, &c, c - 1, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return c == 1;
    }
    return false;
}

static void name_mapping(void *p, size_t size, enum frg_map_kind kind) {
    static const char *const names[FRG_MAP_KINDS] = {"frgmalloc-heap", "frgmalloc-huge",
                                                     "frgmalloc-meta"};
    if (!__atomic_load_n(&naming_works, __ATOMIC_RELAXED))
        return;
    int saved = errno;
    if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size,
              (unsigned long)names[kind]) != 0)
        __atomic_store_n(&naming_works, 0, __ATOMIC_RELAXED);
    errno = saved;
}

static void *raw_map(void *hint, size_t size) {
    if (injected_fault(&fault_mmap_countdown)) {
        COUNT(map_failures, 1);
        errno = ENOMEM;
        return NULL;
    }
    COUNT(mmap_calls, 1);
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        COUNT(map_failures, 1);
        errno = ENOMEM;
        return NULL;
    }
    COUNT(mapped_bytes, size);
    return p;
}

static void raw_unmap(void *p, size_t size) {
    if (!size)
        return;
    int saved = errno; /* free() must keep errno */
    COUNT(munmap_calls, 1);
    munmap(p, size);
    errno = saved;
    __atomic_fetch_sub(&frg_os_counters.mapped_bytes, size, __ATOMIC_RELAXED);
}

void *frg_os_map(size_t size, enum frg_map_kind kind) {
    void *p = raw_map(NULL, size);
    if (p)
        name_mapping(p, size, kind);
    return p;
}

void *frg_os_map_aligned(size_t size, size_t align, enum frg_map_kind kind) {
    static uintptr_t next_hint; /* keeps our chunks together and aligned */
    if (align <= FRG_PAGE)
        return frg_os_map(size, kind);
    uintptr_t hint = __atomic_load_n(&next_hint, __ATOMIC_RELAXED);
    if (hint) {
        void *p = raw_map((void *)hint, size);
        if (!p)
            return NULL;
        if (((uintptr_t)p & (align - 1)) == 0) {
            __atomic_store_n(&next_hint, (uintptr_t)p + size, __ATOMIC_RELAXED);
            name_mapping(p, size, kind);
            return p;
        }
        raw_unmap(p, size);
    }
    /* Over-map and cut the misaligned head and the excess tail. */
    if (size + align < size) {
        errno = ENOMEM;
        return NULL;
    }
    char *raw = raw_map(NULL, size + align);
    if (!raw)
        return NULL;
    uintptr_t start = frg_align_up((uintptr_t)raw, align);
    size_t head = start - (uintptr_t)raw;
    raw_unmap(raw, head);
    raw_unmap((char *)start + size, align - head);
    __atomic_store_n(&next_hint, start + size, __ATOMIC_RELAXED);
    name_mapping((void *)start, size, kind);
    return (void *)start;
}

/* Reserve `size` bytes with protection `prot`, MAP_NORESERVE; errno kept. */
static void *reserve(size_t size, int prot) {
    int saved = errno;
    void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    errno = saved;
    if (p == MAP_FAILED)
        return NULL;
    name_mapping(p, size, FRG_MAP_META);
    return p;
}

void *frg_os_reserve(size_t size) { return reserve(size, PROT_READ | PROT_WRITE); }

/* A process with a finite address-space limit (`ulimit -v`) would lose
 * 256 GiB of it, and one with a large finite memlock limit could no
 * longer mlockall: the kernel compares the limit with the whole address
 * space, reservation included (root's CAP_IPC_LOCK is not asked after:
 * no reservation then, to be safe).  Below 64 MiB the limit stops
 * mlockall of any sizeable process anyway. */
bool frg_os_address_space_counted(void) {
    struct rlimit as, lock;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
        return true;
    return getrlimit(RLIMIT_MEMLOCK, &lock) == 0 && lock.rlim_cur != RLIM_INFINITY &&
           lock.rlim_cur >= ((rlim_t)64 << 20);
}

void *frg_os_reserve_address_space(size_t size) {
    int saved = errno;
    void *p = frg_os_address_space_counted() ? NULL : reserve(size, PROT_NONE);
    /* No transparent huge pages: with THP "always" one written entry of
     * a sparse table would fault in 2 MiB; and out of core dumps.  System
     * calls, not libc's madvise: this runs during initialisation, before
     * an interposed madvise (a preloaded shim's, a sanitizer's) may be
     * ready to be called.  Failures cost only memory or time. */
    if (p) {
        syscall(SYS_madvise, p, size, MADV_NOHUGEPAGE);
        syscall(SYS_madvise, p, size, MADV_DONTDUMP);
    }
    errno = saved;
    return p;
}

bool frg_os_make_accessible(void *p, size_t size) {
    if (mprotect(p, size, PROT_READ | PROT_WRITE) != 0) {
        errno = ENOMEM;
        return false;
    }
    return true;
}

void frg_os_unmap(void *p, size_t size) { raw_unmap(p, size); }

bool frg_os_purge(void *p, size_t size) {
    if (!size)
        return true;
    if (injected_fault(&fault_madvise_countdown))
        return false;
    COUNT(madvise_calls, 1);
    int advice = frg_opt.purge == FRG_PURGE_FREE ? MADV_FREE : MADV_DONTNEED;
    int saved = errno;
    int rc = madvise(p, size, advice);
    errno = saved;
    if (rc != 0)
        return false;
    COUNT(purged_bytes, size);
    return true;
}

/* One process_madvise over ranges[0..n): the number of leading ranges it
 * purged whole (the kernel stops at the first range it cannot advise), or
 * 0 when it cannot be used at all. */
static size_t purge_vector(const struct frg_os_range *ranges, size_t n, int advice) {
#ifdef SYS_process_madvise
    struct iovec iov[FRG_OS_PURGE_VECTOR];
    for (size_t i = 0; i < n; i++)
        iov[i] = (struct iovec){ranges[i].addr, ranges[i].size};
    COUNT(madvise_calls, 1);
    int saved = errno;
    long rc = syscall(SYS_process_madvise, FRG_PIDFD_SELF_THREAD_GROUP, iov, n, advice, 0);
    int err = errno;
    errno = saved;
    if (rc < 0) {
        /* no such call, no PIDFD_SELF, or this advice only for madvise:
         * an older kernel (or valgrind); the caller falls back for good */
        if (err == ENOSYS || err == EBADF || err == EINVAL || err == EPERM || err == ESRCH)
            __atomic_store_n(&batch_purge_works, 0, __ATOMIC_RELAXED);
        return 0;
    }
    size_t whole = 0, bytes = 0;
    while (whole < n && bytes + ranges[whole].size <= (size_t)rc)
        bytes += ranges[whole++].size;
    return whole;
#else
    (void)ranges, (void)n, (void)advice;
    return 0;
#endif
}

size_t frg_os_purge_ranges(const struct frg_os_range *ranges, size_t n, bool *ok) {
    size_t done = 0, bytes = 0;
    /* With a fault armed every range goes through frg_os_purge, so that
     * "the Nth madvise fails" keeps its meaning. */
    if (n > 1 && n <= FRG_OS_PURGE_VECTOR && frg_opt.purge_vector &&
        __atomic_load_n(&batch_purge_works, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&fault_madvise_countdown, __ATOMIC_RELAXED)) {
        int advice = frg_opt.purge == FRG_PURGE_FREE ? MADV_FREE : MADV_DONTNEED;
        done = purge_vector(ranges, n, advice);
        for (size_t i = 0; i < done; i++) {
            ok[i] = true;
            bytes += ranges[i].size;
        }
        COUNT(purged_bytes, bytes); /* frg_os_purge counts its own below */
    }
    /* the rest one by one: a range the vector stopped at may be partly
     * purged already, and advising it again is harmless */
    for (size_t i = done; i < n; i++) {
        ok[i] = frg_os_purge(ranges[i].addr, ranges[i].size);
        if (ok[i])
            bytes += ranges[i].size;
    }
    return bytes;
}

bool frg_os_grow_in_place(void *p, size_t old_size, size_t new_size) {
    if (injected_fault(&fault_mmap_countdown))
        return false;
    COUNT(mremap_calls, 1);
    if (mremap(p, old_size, new_size, 0) == MAP_FAILED)
        return false;
    COUNT(mapped_bytes, new_size - old_size);
    return true;
}

bool frg_os_move(void *p, size_t old_size, void *target, size_t new_size) {
    if (injected_fault(&fault_mmap_countdown)) {
        raw_unmap(target, new_size);
        errno = ENOMEM;
        return false;
    }
    if (under_valgrind) {
        /* Valgrind (3.19, Debian 12) gives the grown part of an
         * MREMAP_FIXED move the permissions of whichever mapping then sits
         * where the old one was in its table: with free space just below
         * the old range, none, so memcheck reports every access to that
         * part.  Copy instead.  Our read of the old range is not the
         * program's: with FRG_VALGRIND it is a freed block being reused
         * (realloc always moves there), inaccessible to memcheck. */
        FRG_VG_QUIET_BEGIN();
        memcpy(target, p, old_size);
        FRG_VG_QUIET_END();
        raw_unmap(p, old_size);
        return true;
    }
    COUNT(mremap_calls, 1);
    if (mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target) == MAP_FAILED) {
        /* The kernel may have unmapped the target before failing, and
         * another thread may have mapped that range since: release it only
         * if it is vacant (reserving it again proves that); a range still
         * mapped is left alone, at worst an untouched reservation lost. */
        void *r = mmap(target, new_size, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (r != MAP_FAILED)
            munmap(r, new_size); /* `target`, or elsewhere on kernels before 4.17 */
        __atomic_fetch_sub(&frg_os_counters.mapped_bytes, new_size, __ATOMIC_RELAXED);
        errno = ENOMEM;
        return false;
    }
    /* the target's new_size bytes were counted when it was mapped */
    __atomic_fetch_sub(&frg_os_counters.mapped_bytes, old_size, __ATOMIC_RELAXED);
    return true;
}

void frg_os_trim_tail(void *p, size_t old_size, size_t new_size) {
    raw_unmap((char *)p + new_size, old_size - new_size);
}

size_t frg_os_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* Parse "0-3,5,7-8" and return the highest id + 1. */
static unsigned parse_cpu_list(const char *s) {
    unsigned max = 0, cur = 0;
    bool have = false;
    for (;; s++) {
        if (*s >= '0' && *s <= '9') {
            cur = cur * 10 + (unsigned)(*s - '0');
            have = true;
        } else {
            if (have && cur + 1 > max)
                max = cur + 1;
            cur = 0;
            have = false;
            if (!*s || *s == '\n')
                break;
        }
    }
    return max;
}

unsigned frg_os_possible_cpus(void) {
    char buf[256];
    unsigned n = 0;
    int saved = errno;
    int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r > 0) {
            buf[r] = '\0';
            n = parse_cpu_list(buf);
        }
    }
    if (n == 0)
        n = 1024; /* /sys unreadable: assume the kernel's largest common
                     limit; per-CPU regions are reserved, not committed */
    errno = saved;
    return n;
}

uint64_t frg_os_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* a few ms of resolution is plenty */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

extern char **environ;

void frg_os_init(void) {
    /* valgrind preloads its vgpreload_core (and the tool's) into the program */
    const char *preload = frg_os_getenv("LD_PRELOAD");
    under_valgrind = preload && strstr(preload, "/vgpreload_") != NULL;
}

const char *frg_os_getenv(const char *name) {
    size_t n = strlen(name);
    char **env = environ;
    if (!env)
        return NULL;
    for (; *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

#ifdef FRG_OVERRIDE_GLIBC
bool frg_os_pin_module(void) { return true; /* linked -z nodelete (tests/exports.sh checks) */ }
#else
/* In libc from glibc 2.34, in libdl before: weak, so that a program
 * linking libfrgmalloc.a need not link libdl. */
#pragma weak dlopen

struct module_search {
    uintptr_t addr;
    const char *name; /* of the module holding addr; "" for the main program */
};

static int find_module(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    struct module_search *m = arg;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && m->addr - start < ph->p_memsz) {
            m->name = info->dlpi_name ? info->dlpi_name : "";
            return 1;
        }
    }
    return 0;
}

bool frg_os_pin_module(void) {
    struct module_search m = {(uintptr_t)frg_os_pin_module, NULL};
    if (!dl_iterate_phdr(find_module, &m) || !m.name)
        return false;
    if (!m.name[0])
        return true; /* the main program */
    /* glibc's own malloc serves the loader here: this build does not
     * replace malloc, so there is no recursion into our initialisation */
    return dlopen && dlopen(m.name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}
#endif
