/*
 * os.h - the written contract between the allocator and the kernel.
 *
 * Every operating-system primitive the allocator uses is declared here and
 * implemented in os_linux.c, the only file that includes <sys/mman.h>.
 * All functions are thread-safe and allocate nothing.  Failures return
 * NULL/false and leave errno = ENOMEM for the caller to pass on, except
 * the reservations, which keep errno.
 */
#ifndef FRG_OS_H
#define FRG_OS_H

#include "util.h"

#define FRG_PAGE_SHIFT 12
#define FRG_PAGE ((size_t)1 << FRG_PAGE_SHIFT)

/* What a mapping is for; used to name it in /proc/PID/smaps. */
enum frg_map_kind { FRG_MAP_HEAP, FRG_MAP_HUGE, FRG_MAP_META, FRG_MAP_KINDS };

/* Anonymous read-write memory, page aligned, zero filled. */
FRG_HIDDEN void *frg_os_map(size_t size, enum frg_map_kind kind);
/* Same, aligned to `align` (a power of two >= page). */
FRG_HIDDEN void *frg_os_map_aligned(size_t size, size_t align, enum frg_map_kind kind);
/* A large zero-filled region whose pages are only committed when touched
 * (MAP_NORESERVE); for sparse tables.  errno is kept, also on failure. */
FRG_HIDDEN void *frg_os_reserve(size_t size);
/* Address space only: an inaccessible reservation (PROT_NONE: no memory
 * charged even with overcommit_memory=2, nothing for mlockall to fault
 * in), never transparent huge pages, left out of core dumps; its parts
 * are made readable and writable with frg_os_make_accessible.  NULL
 * (errno kept) also where address space is limited or counted against
 * a memlock limit (`ulimit -v`, a large finite `ulimit -l`). */
FRG_HIDDEN void *frg_os_reserve_address_space(size_t size);
/* Is address space limited, or counted against a memlock limit that
 * would make a large reservation cost the process (then none is made)? */
FRG_HIDDEN bool frg_os_address_space_counted(void);
FRG_HIDDEN bool frg_os_make_accessible(void *p, size_t size);
FRG_HIDDEN void frg_os_unmap(void *p, size_t size);
/* Give the pages back: afterwards they read as zero and are not resident
 * (MADV_DONTNEED; MADV_FREE when the `purge` option says so). */
FRG_HIDDEN bool frg_os_purge(void *p, size_t size);
/* Purge several ranges, with one system call where the kernel allows it
 * (process_madvise on the calling process, Linux 6.14+, which also shares
 * one TLB shootdown between them), else one madvise each.  ok[i] tells
 * whether range i was purged; returns the bytes purged.  At most
 * FRG_OS_PURGE_VECTOR ranges go into one call. */
#define FRG_OS_PURGE_VECTOR 64
struct frg_os_range {
    void *addr;
    size_t size;
};
FRG_HIDDEN size_t frg_os_purge_ranges(const struct frg_os_range *ranges, size_t n, bool *ok);
/* Grow a mapping without moving it (mremap without MAYMOVE); false if
 * the addresses after it are taken. */
FRG_HIDDEN bool frg_os_grow_in_place(void *p, size_t old_size, size_t new_size);
/* Move the mapping [p, p + old_size) onto `target`, a mapping of new_size
 * >= old_size bytes from frg_os_map whose pages it replaces, keeping its
 * contents (mremap MAYMOVE | FIXED).  The old range is unmapped.  On
 * failure the old mapping is unchanged and `target` is no longer the
 * caller's (the kernel may already have unmapped it, and another thread
 * mapped the range again): never unmap it afterwards.  Under valgrind the
 * contents are copied instead (os_linux.c says why). */
FRG_HIDDEN bool frg_os_move(void *p, size_t old_size, void *target, size_t new_size);
/* Shrink a mapping in place: unmap its tail. */
FRG_HIDDEN void frg_os_trim_tail(void *p, size_t old_size, size_t new_size);

FRG_HIDDEN size_t frg_os_page_size(void);
/* Number of CPU ids the kernel may ever report (from .../cpu/possible). */
FRG_HIDDEN unsigned frg_os_possible_cpus(void);
/* Monotonic time with a few milliseconds of resolution (cheap). */
FRG_HIDDEN uint64_t frg_os_now_ns(void);
/* Make sure the module holding this code is never unloaded: true for the
 * main program and for libfrgmalloc.so (linked -z nodelete); a shared
 * object that links libfrgmalloc.a (an SDK) is made undeletable with
 * dlopen(RTLD_NOLOAD | RTLD_NODELETE).  False if that cannot be done (a
 * glibc before 2.34 with no libdl linked in). */
FRG_HIDDEN bool frg_os_pin_module(void);
/* At initialisation: notice whether the program runs under valgrind,
 * whose mremap emulation frg_os_move works around. */
FRG_HIDDEN void frg_os_init(void);
/* Value of an environment variable without calling getenv's callers'
 * machinery; safe before libc finished initialising. */
FRG_HIDDEN const char *frg_os_getenv(const char *name);

/* Counters kept by the OS layer (read by stats). */
struct frg_os_counters {
    uint64_t mmap_calls, munmap_calls, mremap_calls;
    uint64_t madvise_calls; /* purging system calls: madvise or process_madvise */
    uint64_t purged_bytes;  /* bytes passed to madvise */
    uint64_t mapped_bytes;  /* currently mapped by frg_os_map* (not reserve) */
    uint64_t map_failures;
} FRG_ALIGNED(FRG_CACHELINE); /* lines of their own: every purge writes them */
FRG_HIDDEN extern struct frg_os_counters frg_os_counters;

/* Fault injection for tests: fail the Nth future mmap / madvise (1 = next).
 * 0 disables.  Set from the `fault_mmap` / `fault_madvise` options. */
FRG_HIDDEN void frg_os_inject_faults(uint64_t nth_mmap, uint64_t nth_madvise);

#endif
