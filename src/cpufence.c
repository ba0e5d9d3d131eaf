/*
 * cpufence.c - waiting out another CPU's restartable sequences.
 *
 * Owns: the choice of fence and the fence itself.  Before a drain moves
 * the objects of CPU c's cache, it stops c's headers (percpu.c) and must
 * be sure that no restartable sequence on c still runs with the headers
 * as they were: every such sequence has either committed or will be
 * aborted by the kernel when its thread next runs.
 *  - membarrier: MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ (Linux 5.10)
 *    interrupts what runs on c, which aborts its sequence.
 *  - migrate (only with rseq_fence:migrate; older kernels lack the
 *    membarrier command): the draining thread moves itself onto c
 *    (sched_setaffinity) and comes back.  For it to run on c, c switched
 *    away from whatever ran there, and a thread switched away inside a
 *    sequence is aborted when it runs again.  Unlike membarrier it waits
 *    for the scheduler: a real-time thread on c delays it.  A CPU the
 *    kernel will not put this thread on is not fenced (the drain skips
 *    it): other threads may have other cpusets, or be leaving c.
 * Locking: none of its own; callers hold the CPU's lock.  The draining
 * thread's affinity is changed only for the fence and restored after.
 */
#define _GNU_SOURCE
#include "cpufence.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "options.h"

#ifndef MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ (1 << 7)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ (1 << 8)
#endif
#ifndef MEMBARRIER_CMD_FLAG_CPU
#define MEMBARRIER_CMD_FLAG_CPU (1 << 0)
#endif

int frg_cpu_fence_kind = FRG_FENCE_NONE;

static bool membarrier_register(void) {
    return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) == 0;
}

/* Moving onto a CPU needs its number to fit a cpu_set_t, and
 * sched_setaffinity allowed (seccomp or an LSM may refuse it). */
static bool migration_possible(unsigned ncpus) {
    cpu_set_t mask;
    return ncpus <= CPU_SETSIZE && sched_getaffinity(0, sizeof mask, &mask) == 0 &&
           sched_setaffinity(0, sizeof mask, &mask) == 0;
}

/* The migration fence is used only when asked for (rseq_fence:migrate):
 * unlike membarrier it needs the scheduler to run the drainer on the CPU,
 * which a real-time thread there can delay for as long as it runs, with
 * the CPU's lock held, and it moves the calling thread.  Without
 * membarrier's command (Linux before 5.10) the default is lock mode. */
bool frg_cpu_fence_init(unsigned ncpus) {
    if (frg_opt.rseq_fence != FRG_FENCE_OPT_MIGRATE && membarrier_register())
        frg_cpu_fence_kind = FRG_FENCE_MEMBARRIER;
    else if (frg_opt.rseq_fence == FRG_FENCE_OPT_MIGRATE && migration_possible(ncpus))
        frg_cpu_fence_kind = FRG_FENCE_MIGRATE;
    else
        frg_cpu_fence_kind = FRG_FENCE_NONE;
    return frg_cpu_fence_kind != FRG_FENCE_NONE;
}

bool frg_cpu_fence_after_fork_child(void) {
    /* membarrier registration belongs to the address space: renew it. */
    if (frg_cpu_fence_kind == FRG_FENCE_MEMBARRIER && !membarrier_register())
        frg_cpu_fence_kind = FRG_FENCE_NONE;
    return frg_cpu_fence_kind != FRG_FENCE_NONE;
}

static bool fence_by_membarrier(unsigned cpu) {
    /* MEMBARRIER_CMD_FLAG_CPU, else every CPU; drains of different CPUs
     * may read and clear it at once */
    static bool per_cpu = true;
    if (__atomic_load_n(&per_cpu, __ATOMIC_RELAXED) &&
        syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU,
                (int)cpu) == 0)
        return true;
    __atomic_store_n(&per_cpu, false, __ATOMIC_RELAXED);
    return syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0) == 0;
}

static bool fence_by_migration(unsigned cpu) {
    cpu_set_t saved, only;
    if (sched_getaffinity(0, sizeof saved, &saved) != 0)
        return false;
    CPU_ZERO(&only);
    CPU_SET(cpu, &only);
    if (sched_setaffinity(0, sizeof only, &only) != 0)
        return false; /* offline, outside this thread's cpuset, or refused */
    /* The kernel moves a running thread before the call returns; make
     * sure anyway, and give up rather than spin for ever. */
    bool there = false;
    for (int i = 0; i < 10000 && !(there = sched_getcpu() == (int)cpu); i++)
        sched_yield();
    if (sched_setaffinity(0, sizeof saved, &saved) != 0) {
        /* the cpuset changed meanwhile: let the kernel intersect all CPUs
         * with it rather than leave the thread pinned */
        cpu_set_t all;
        memset(&all, 0xff, sizeof all);
        sched_setaffinity(0, sizeof all, &all);
    }
    return there;
}

bool frg_cpu_fence(unsigned cpu) {
    int saved_errno = errno; /* free() may get here, and must keep errno */
    bool done = frg_cpu_fence_kind == FRG_FENCE_MEMBARRIER ? fence_by_membarrier(cpu)
                : frg_cpu_fence_kind == FRG_FENCE_MIGRATE  ? fence_by_migration(cpu)
                                                            : false;
    errno = saved_errno;
    return done;
}
