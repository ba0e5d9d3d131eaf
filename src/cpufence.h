/*
 * cpufence.h - waiting out another CPU's restartable sequences (cpufence.c):
 * membarrier where the kernel has the rseq command (Linux 5.10), else
 * moving the calling thread onto that CPU and back.
 */
#ifndef FRG_CPUFENCE_H
#define FRG_CPUFENCE_H

#include "util.h"

enum { FRG_FENCE_NONE, FRG_FENCE_MEMBARRIER, FRG_FENCE_MIGRATE };
FRG_HIDDEN extern int frg_cpu_fence_kind;

/* Choose the fence for a process with CPU ids below ncpus (option
 * rseq_fence); false if none can be had: rseq mode is then unsafe. */
FRG_HIDDEN bool frg_cpu_fence_init(unsigned ncpus);
/* In a fork child; false if the fence was lost. */
FRG_HIDDEN bool frg_cpu_fence_after_fork_child(void);
/* After the caller's stores to CPU cpu's headers: true once every
 * restartable sequence on cpu has committed or will abort; false if that
 * cannot be had now (the caller must not rely on its stores). */
FRG_HIDDEN bool frg_cpu_fence(unsigned cpu);

#endif
