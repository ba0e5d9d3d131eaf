/*
 * ruleengine.h - a small "rule engine VM" SDK, the native side of the JNI
 * demo in examples/jni-sdk.
 *
 * It imitates what real native SDKs behind JNI do to a malloc: each VM
 * (about 100 KiB) is a graph of many small mixed-size objects (AST nodes,
 * strings, hash-table entries, arrays grown with realloc) plus a few
 * 8-64 KiB buffers; each event allocates and frees temporaries and mutates
 * the VM's state; and process-wide objects (an intern table of symbols and
 * a registry of metric counters) are created lazily, grow as VMs come and
 * go, and live for the whole process.  Those long-lived objects are
 * allocated in between the VMs' objects, which is what pins memory in
 * allocators that cannot give back partly-used pages.
 *
 * Allocation goes through RE_MALLOC/RE_CALLOC/RE_REALLOC/RE_FREE (see
 * ruleengine.c): libc names by default, frg_* when compiled with
 * -DRE_USE_FRG and linked with libfrgmalloc.a (a private SDK heap).
 *
 * Thread safety: one VM must not be used by two threads at the same time,
 * but any thread may create, use or destroy any VM (the JNI demo destroys
 * VMs from other threads than the ones that created them).  The shared
 * objects are protected by a mutex and atomics.
 */
#ifndef RULEENGINE_H
#define RULEENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct re_vm re_vm;

/* Creates a VM whose rules, variables and buffers are derived from seed
 * (the same seed gives the same VM).  Never returns NULL: the SDK aborts
 * with a message if memory runs out. */
re_vm *re_create(uint32_t seed);

/* Processes one event: evaluates some rules, updates variables, history
 * and buffers.  Returns the number of rules that fired (>= 0). */
int re_event(re_vm *vm, int seed);

/* Frees everything the VM owns.  Shared objects stay. */
void re_destroy(re_vm *vm);

/* Long-lived shared objects (intern table, metrics registry): on by
 * default; off when the environment has RE_SHARED=0 at the first call or
 * after re_set_shared(0).  Changing it while VMs exist only affects VMs
 * created afterwards. */
void re_set_shared(int enabled);
int re_shared_enabled(void);

/* Counters for the demo's output (all since process start). */
typedef struct re_counters {
    uint64_t vms_created, vms_destroyed, events;
    uint64_t allocs_total;     /* RE_MALLOC/CALLOC calls, realloc(NULL) */
    uint64_t allocs_shared;    /* of those, for the long-lived objects */
    uint64_t shared_symbols;   /* symbols in the intern table */
    uint64_t shared_metrics;   /* metric counters in the registry */
} re_counters;
void re_get_counters(re_counters *out);

/* "frg-static" when built with -DRE_USE_FRG, otherwise "libc". */
const char *re_heap_name(void);

#ifdef __cplusplus
}
#endif

#endif
