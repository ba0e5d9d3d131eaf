/*
 * rseq.c - restartable sequences used by the per-CPU cache slow paths.
 *
 * Owns: the batch / capacity sequences and frgmalloc's own rseq area (for
 * a glibc that registers none; it sets frg_fastpath.rseq_off to it).
 * Locking: none of its own.  The sequences are atomic with respect to
 * other threads on the same CPU; callers changing `end` hold that CPU's
 * lock (see rseq.h).  Each thread registers its own area itself; the
 * counters are atomic.
 */
#define _GNU_SOURCE
#include "rseq.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

int frg_rseq_area;
uint64_t frg_rseq_own_registered, frg_rseq_own_refused;

#if FRG_HAVE_RSEQ

#ifndef __NR_rseq
#define __NR_rseq 334
#endif

/* ---- frgmalloc's own registration ------------------------------------------
 * The kernel's struct rseq as registered with length 32 (the original ABI;
 * kernels from 6.3 also write node_id and mm_cid, inside those 32 bytes).
 * The area is initial-exec TLS, so its offset from the thread pointer is
 * the same in every thread and the fast paths need no per-thread lookup.
 * cpu_id starts at -1 (not tried); a refused registration leaves -2, as
 * glibc does, so that the thread does not ask again. */
struct own_rseq {
    uint32_t cpu_id_start;
    int32_t cpu_id;
    uint64_t rseq_cs;
    uint32_t flags, node_id, mm_cid, unused;
};
_Static_assert(sizeof(struct own_rseq) == 32, "struct rseq's original size");
#define CPU_ID_UNTRIED (-1)
#define CPU_ID_REFUSED (-2)

static __thread struct own_rseq own_area
    __attribute__((tls_model("initial-exec"), aligned(32))) = {.cpu_id = CPU_ID_UNTRIED};

/* The process the registrations are for.  A vfork child shares its
 * parent's memory, TLS included, and its registration would die with it
 * while the parent's cpu_id kept the child's value: it registers nothing. */
static pid_t own_pid;

bool frg_rseq_own_init(void) {
    uintptr_t tp;
    __asm__("movq %%fs:0, %0" : "=r"(tp)); /* the TCB's pointer to itself */
    frg_fastpath.rseq_off = (long)((uintptr_t)&own_area - tp);
    frg_rseq_area = FRG_RSEQ_AREA_OWN;
    own_pid = getpid();
    if (frg_rseq_own_register())
        return true;
    frg_rseq_area = FRG_RSEQ_AREA_NONE;
    return false;
}

void frg_rseq_after_fork_child(void) { own_pid = getpid(); }

bool frg_rseq_own_register(void) {
    if (frg_rseq_area != FRG_RSEQ_AREA_OWN)
        return false;
    volatile int32_t *cpu_id = &own_area.cpu_id; /* the kernel writes it */
    if (*cpu_id != CPU_ID_UNTRIED)
        return *cpu_id >= 0;
    if (getpid() != own_pid)
        return false; /* a vfork child (see own_pid): leave the area alone */
    /* Refused if another area is registered for this thread (a library
     * that registers its own), by seccomp, or by a kernel before 4.18.
     * A signal handler that allocated between the test above and the call
     * may have registered this very area: the call then fails (EBUSY),
     * but the kernel has set cpu_id.  errno is the caller's. */
    int saved_errno = errno;
    bool done_here = syscall(__NR_rseq, &own_area, sizeof own_area, 0, FRG_RSEQ_SIG) == 0;
    errno = saved_errno;
    if (*cpu_id >= 0) {
        if (done_here)
            __atomic_fetch_add(&frg_rseq_own_registered, 1, __ATOMIC_RELAXED);
        return true;
    }
    *cpu_id = CPU_ID_REFUSED;
    __atomic_fetch_add(&frg_rseq_own_refused, 1, __ATOMIC_RELAXED);
    return false;
}

/* The batch sequences return their count through memory: asm goto with
 * outputs needs gcc 11 (see FRG_ASM_GOTO_OUTPUTS), and a store costs
 * nothing next to a batch. */
unsigned frg_rseq_pop_batch(unsigned cls, void **out, unsigned n) {
    if (!n)
        return 0;
    for (;;) {
        unsigned taken;
        __asm__ goto(FRG_RSEQ_CS FRG_RSEQ_ARM
                     "1:\n\t" FRG_RSEQ_REGION(miss)
                     "movzwl (%%rax,%[cls],8), %%ecx\n\t"
                     "movzwl 4(%%rax,%[cls],8), %%edx\n\t"
                     "movl %%ecx, %%r8d\n\t"
                     "subl %%edx, %%r8d\n\t"
                     "jle %l[miss]\n\t"
                     "cmpl %[n], %%r8d\n\t"
                     "cmoval %[n], %%r8d\n\t"
                     "movl %%r8d, (%[taken])\n\t"
                     "xorl %%edx, %%edx\n\t"
                     "5:\n\t"
                     "movq -8(%%rax,%%rcx,8), %%r9\n\t"
                     "movq %%r9, (%[out],%%rdx,8)\n\t"
                     "decl %%ecx\n\t"
                     "incl %%edx\n\t"
                     "cmpl %%edx, %%r8d\n\t"
                     "jne 5b\n\t"
                     "movw %%cx, (%%rax,%[cls],8)\n\t"
                     "2:\n\t" FRG_RSEQ_ABORT(retry)
                     :
                     : [off] "r"(frg_fastpath.rseq_off), [base] "r"(frg_fastpath.regions),
                       [cls] "r"((uintptr_t)cls), [n] "r"(n), [out] "r"(out), [taken] "r"(&taken)
                     : "rax", "rcx", "rdx", "r8", "r9", "memory", "cc"
                     : miss, retry);
        return taken;
    retry:
        continue;
    miss:
        return 0;
    }
}

unsigned frg_rseq_push_batch(unsigned cls, void *const *in, unsigned n) {
    if (!n)
        return 0;
    for (;;) {
        unsigned taken;
        __asm__ goto(FRG_RSEQ_CS FRG_RSEQ_ARM
                     "1:\n\t" FRG_RSEQ_REGION(miss)
                     "movzwl (%%rax,%[cls],8), %%ecx\n\t"
                     "movzwl 2(%%rax,%[cls],8), %%r8d\n\t"
                     "subl %%ecx, %%r8d\n\t"
                     "jle %l[miss]\n\t"
                     "cmpl %[n], %%r8d\n\t"
                     "cmoval %[n], %%r8d\n\t"
                     "movl %%r8d, (%[taken])\n\t"
                     "xorl %%edx, %%edx\n\t"
                     "5:\n\t"
                     "movq (%[in],%%rdx,8), %%r9\n\t"
                     "movq %%r9, (%%rax,%%rcx,8)\n\t"
                     "incl %%ecx\n\t"
                     "incl %%edx\n\t"
                     "cmpl %%edx, %%r8d\n\t"
                     "jne 5b\n\t"
                     "movw %%cx, (%%rax,%[cls],8)\n\t"
                     "2:\n\t" FRG_RSEQ_ABORT(retry)
                     :
                     : [off] "r"(frg_fastpath.rseq_off), [base] "r"(frg_fastpath.regions),
                       [cls] "r"((uintptr_t)cls), [n] "r"(n), [in] "r"(in), [taken] "r"(&taken)
                     : "rax", "rcx", "rdx", "r8", "r9", "memory", "cc"
                     : miss, retry);
        return taken;
    retry:
        continue;
    miss:
        return 0;
    }
}

bool frg_rseq_set_end(unsigned cpu, unsigned cls, unsigned new_end) {
    for (;;) {
        __asm__ goto(FRG_RSEQ_CS FRG_RSEQ_ARM
                     "1:\n\t"
                     "movslq %%fs:4(%[off]), %%rax\n\t"
                     "cmpl %[cpu], %%eax\n\t"
                     "jne %l[fail]\n\t"
                     "shlq $" FRG_STR(FRG_REGION_SHIFT) ", %%rax\n\t"
                     "addq %[base], %%rax\n\t"
                     "movzwl (%%rax,%[cls],8), %%ecx\n\t"
                     "cmpl %[ne], %%ecx\n\t"
                     "ja %l[fail]\n\t"
                     "movw %w[ne], 2(%%rax,%[cls],8)\n\t"
                     "2:\n\t" FRG_RSEQ_ABORT(retry)
                     :
                     : [off] "r"(frg_fastpath.rseq_off), [base] "r"(frg_fastpath.regions),
                       [cls] "r"((uintptr_t)cls), [cpu] "r"(cpu), [ne] "r"(new_end)
                     : "rax", "rcx", "memory", "cc"
                     : fail, retry);
        return true;
    retry:
        continue;
    fail:
        return false;
    }
}

#endif
