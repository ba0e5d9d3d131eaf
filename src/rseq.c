/*
 * rseq.c - restartable sequences used by the per-CPU cache slow paths.
 *
 * Owns: frg_regions, frg_rseq_off and the batch / capacity sequences.
 * Locking: none of its own.  The sequences are atomic with respect to
 * other threads on the same CPU; callers changing `end` hold that CPU's
 * lock (see rseq.h).
 */
#include "rseq.h"

uintptr_t frg_regions;
long frg_rseq_off;

#if FRG_HAVE_RSEQ

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
                     "movl %%r8d, %[taken]\n\t"
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
                     : [taken] "=&r"(taken)
                     : [off] "r"(frg_rseq_off), [base] "r"(frg_regions),
                       [cls] "r"((uintptr_t)cls), [n] "r"(n), [out] "r"(out)
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
                     "movl %%r8d, %[taken]\n\t"
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
                     : [taken] "=&r"(taken)
                     : [off] "r"(frg_rseq_off), [base] "r"(frg_regions),
                       [cls] "r"((uintptr_t)cls), [n] "r"(n), [in] "r"(in)
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
                     : [off] "r"(frg_rseq_off), [base] "r"(frg_regions),
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
