/*
 * rseq.h - restartable-sequence primitives on the per-CPU cache headers.
 *
 * Each CPU has a region: FRG_NCACHE_CLASSES 8-byte headers (sizeclass.h)
 * followed by slots of free-object pointers.  A header is {u16 current,
 * u16 end, u16 begin, u16 spare}; the class's cached objects are the slots [begin, current)
 * and its capacity [begin, end), indexes counting 8-byte words from the
 * region's start.
 *
 * The operations below run as restartable sequences registered through
 * glibc's own rseq area (__rseq_offset): the kernel aborts them if the
 * thread is preempted, migrated or signalled before the single committing
 * store, so they need no lock and no atomic read-modify-write.  Fast paths
 * write only `current`.  Code holding the CPU's lock writes `end` (capacity
 * changes) and, to stop a CPU for draining, sets begin = 0xffff and end = 0
 * so that every pop and push misses; it then fences the CPU (cpufence.h:
 * membarrier with the rseq command, or moving onto that CPU).
 *
 * x86-64 only; other targets compile without FRG_HAVE_RSEQ and use the
 * locked fallback.
 */
#ifndef FRG_RSEQ_H
#define FRG_RSEQ_H

#include "fastpath_vars.h"
#include "util.h"

#if defined(__x86_64__) && defined(__linux__) && !defined(FRG_NO_RSEQ)
#define FRG_HAVE_RSEQ 1
#else
#define FRG_HAVE_RSEQ 0
#endif

/* asm goto with output operands: gcc 11 and later, clang 11 and later.
 * With older compilers (gcc 10 on Debian 11, 9 on Ubuntu 20.04, 8 on
 * RHEL 8) the pop returns its object through memory.  -D overrides. */
#ifdef FRG_ASM_GOTO_OUTPUTS
#elif defined(__clang__) ? __clang_major__ >= 11 : __GNUC__ >= 11
#define FRG_ASM_GOTO_OUTPUTS 1
#else
#define FRG_ASM_GOTO_OUTPUTS 0
#endif

#define FRG_REGION_SHIFT 19 /* 512 KiB of address space per CPU */
#define FRG_STOPPED_BEGIN 0xffff

struct frg_cache_hdr {
    uint16_t current, end, begin, spare;
};

/* frg_fastpath.regions: base of CPU 0's region; CPU c's is that plus
 * (c << FRG_REGION_SHIFT).  Set once at initialisation.
 * frg_fastpath.rseq_off: thread pointer to the struct rseq the fast paths
 * use, glibc's (__rseq_offset) or frgmalloc's own (frg_rseq_own_init). */
enum { FRG_RSEQ_AREA_NONE, FRG_RSEQ_AREA_GLIBC, FRG_RSEQ_AREA_OWN };
FRG_HIDDEN extern int frg_rseq_area; /* whose area frg_fastpath.rseq_off points to */
/* Threads that registered frgmalloc's own area, and threads the kernel
 * refused it (they take the central path on every call). */
FRG_HIDDEN extern uint64_t frg_rseq_own_registered, frg_rseq_own_refused;

FRG_INLINE struct frg_cache_hdr *frg_cpu_hdr(unsigned cpu, unsigned cls) {
    return (struct frg_cache_hdr *)(frg_fastpath.regions + ((uintptr_t)cpu << FRG_REGION_SHIFT)) + cls;
}
FRG_INLINE void **frg_cpu_slots(unsigned cpu) {
    return (void **)(frg_fastpath.regions + ((uintptr_t)cpu << FRG_REGION_SHIFT));
}

#if FRG_HAVE_RSEQ

#define FRG_RSEQ_SIG 0x53053053

#define FRG_STR_(x) #x
#define FRG_STR(x) FRG_STR_(x)

/* The critical-section descriptor (struct rseq_cs) for start label 1,
 * post-commit label 2 and abort label 4, stored at local label 3. */
#define FRG_RSEQ_CS                                                           \
    ".pushsection __rseq_cs, \"aw\"\n\t"                                      \
    ".balign 32\n\t"                                                          \
    "3:\n\t"                                                                  \
    ".long 0x0, 0x0\n\t"                                                      \
    ".quad 1f, (2f - 1f), 4f\n\t"                                             \
    ".popsection\n\t"

/* Arm the sequence: rseq->rseq_cs = &descriptor. */
#define FRG_RSEQ_ARM                                                          \
    "leaq 3b(%%rip), %%rax\n\t"                                               \
    "movq %%rax, %%fs:8(%[off])\n\t"

/* The abort handler, preceded by the signature glibc registered. */
#define FRG_RSEQ_ABORT(label)                                                 \
    ".pushsection __rseq_failure, \"ax\"\n\t"                                 \
    ".byte 0x0f, 0xb9, 0x3d\n\t"                                              \
    ".long " FRG_STR(FRG_RSEQ_SIG) "\n\t"                                     \
    "4:\n\t"                                                                  \
    "jmp %l[" #label "]\n\t"                                                  \
    ".popsection\n\t"

/* rax = this CPU's region, or jump to asm label `target` if rseq is not
 * registered. */
#define FRG_RSEQ_REGION_OR(target)                                            \
    "movslq %%fs:4(%[off]), %%rax\n\t"                                        \
    "testq %%rax, %%rax\n\t"                                                  \
    "js " target "\n\t"                                                       \
    "shlq $" FRG_STR(FRG_REGION_SHIFT) ", %%rax\n\t"                          \
    "addq %[base], %%rax\n\t"
/* The same, jumping to C label `miss`. */
#define FRG_RSEQ_REGION(miss) FRG_RSEQ_REGION_OR("%l[" #miss "]")

/* Pop one object of class `cls` from this CPU's cache; NULL if empty.
 * With asm-goto outputs, a miss goes through a stub (in a section of its
 * own, out of the hot path's way) that zeroes the output before it jumps: gcc 12 was seen to
 * read the output's register on the miss path after inlining (calloc of
 * a large class, with more paths merging after the pop: a garbage
 * pointer instead of NULL), and with the register zeroed that reading is
 * right too. */
FRG_INLINE void *frg_rseq_pop(uintptr_t cls) {
    for (;;) {
        void *obj;
        __asm__ goto(FRG_RSEQ_CS FRG_RSEQ_ARM
#if FRG_ASM_GOTO_OUTPUTS
                     "1:\n\t" FRG_RSEQ_REGION_OR("5f")
                     "movzwl (%%rax,%[cls],8), %%ecx\n\t"
                     "cmpw 4(%%rax,%[cls],8), %%cx\n\t"
                     "jbe 5f\n\t"
                     "movq -8(%%rax,%%rcx,8), %[obj]\n\t"
#else
                     "1:\n\t" FRG_RSEQ_REGION(miss)
                     "movzwl (%%rax,%[cls],8), %%ecx\n\t"
                     "cmpw 4(%%rax,%[cls],8), %%cx\n\t"
                     "jbe %l[miss]\n\t"
                     "movq -8(%%rax,%%rcx,8), %%rdx\n\t"
                     "movq %%rdx, (%[obj])\n\t"
#endif
                     "decl %%ecx\n\t"
                     "movw %%cx, (%%rax,%[cls],8)\n\t"
                     "2:\n\t" FRG_RSEQ_ABORT(retry)
#if FRG_ASM_GOTO_OUTPUTS
                     /* a section of its own: were the pop inlined into code gcc
                      * puts in .text.unlikely, a stub pushed there would follow
                      * the commit and a hit would fall into it */
                     ".pushsection .text.frg_rseq_miss, \"ax\"\n\t"
                     "5:\n\t"
                     "xorl %k[obj], %k[obj]\n\t"
                     "jmp %l[miss]\n\t"
                     ".popsection\n\t"
                     : [obj] "=&r"(obj)
                     : [off] "r"(frg_fastpath.rseq_off), [base] "r"(frg_fastpath.regions),
                       /* in rdi, where a miss's call to the slow path wants it */
                       [cls] "D"(cls)
                     : "rax", "rcx", "memory", "cc"
#else
                     :
                     : [off] "r"(frg_fastpath.rseq_off), [base] "r"(frg_fastpath.regions), [cls] "D"(cls),
                       [obj] "r"(&obj)
                     : "rax", "rcx", "rdx", "memory", "cc"
#endif
                     : miss, retry);
        if (!obj) /* slots never hold NULL: lets the caller skip its test */
            __builtin_unreachable();
        return obj;
    retry:
        continue;
    miss:
        return NULL;
    }
}

/* Push one object of class `cls` onto this CPU's cache; false if full. */
FRG_INLINE bool frg_rseq_push(uintptr_t cls, void *obj) {
    for (;;) {
        __asm__ goto(FRG_RSEQ_CS FRG_RSEQ_ARM
                     "1:\n\t" FRG_RSEQ_REGION(miss)
                     "movzwl (%%rax,%[cls],8), %%ecx\n\t"
                     "cmpw 2(%%rax,%[cls],8), %%cx\n\t"
                     "jae %l[miss]\n\t"
                     "movq %[obj], (%%rax,%%rcx,8)\n\t"
                     "incl %%ecx\n\t"
                     "movw %%cx, (%%rax,%[cls],8)\n\t"
                     "2:\n\t" FRG_RSEQ_ABORT(retry)
                     :
                     : [off] "r"(frg_fastpath.rseq_off), [base] "r"(frg_fastpath.regions),
                       [cls] "r"(cls), [obj] "r"(obj)
                     : "rax", "rcx", "memory", "cc"
                     : miss, retry);
        return true;
    retry:
        continue;
    miss:
        return false;
    }
}

/* Slow-path operations (rseq.c). */
/* Move up to n objects from this CPU's cache into out[]; returns count. */
FRG_HIDDEN unsigned frg_rseq_pop_batch(unsigned cls, void **out, unsigned n);
/* Move up to n objects from in[] into this CPU's cache; returns count. */
FRG_HIDDEN unsigned frg_rseq_push_batch(unsigned cls, void *const *in, unsigned n);
/* On CPU `cpu` only: set the class's `end` to new_end if current <= new_end.
 * Returns false if the thread is not on that CPU or the cache holds more
 * than new_end allows. */
FRG_HIDDEN bool frg_rseq_set_end(unsigned cpu, unsigned cls, unsigned new_end);
/* Use frgmalloc's own per-thread rseq area, for a glibc that registers
 * none (before 2.35, or with glibc.pthread.rseq=0 when option rseq_own
 * says so), and register it for the calling thread; false if refused. */
FRG_HIDDEN bool frg_rseq_own_init(void);
/* In a fork child: the registrations are now for this process. */
FRG_HIDDEN void frg_rseq_after_fork_child(void);
/* With frgmalloc's own area in use: make sure the calling thread has
 * registered it (one system call, at its first cache miss); false if the
 * kernel refused it, now or before.  False with glibc's area. */
FRG_HIDDEN bool frg_rseq_own_register(void);
/* Current CPU according to the rseq area, or negative (-1: not
 * registered yet, -2: registration refused). */
FRG_INLINE int frg_rseq_cpu(void) {
    int cpu;
    __asm__ volatile("movl %%fs:4(%1), %0" : "=r"(cpu) : "r"(frg_fastpath.rseq_off));
    return cpu;
}

#endif /* FRG_HAVE_RSEQ */
#endif
