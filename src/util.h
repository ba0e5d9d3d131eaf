/*
 * util.h - small compile-time helpers shared by every layer.
 *
 * Owns: branch hints, alignment arithmetic, bit scans and the graded
 * assertion macros.  Includes nothing of the allocator; every other
 * header may include it.
 */
#ifndef FRG_UTIL_H
#define FRG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define FRG_LIKELY(x)   __builtin_expect(!!(x), 1)
#define FRG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FRG_INLINE      static inline __attribute__((always_inline))
#define FRG_NOINLINE    __attribute__((noinline))
#define FRG_COLD        __attribute__((cold, noinline))
#define FRG_HIDDEN      __attribute__((visibility("hidden")))
#define FRG_CACHELINE   64
#define FRG_ALIGNED(n)  __attribute__((aligned(n)))
#define FRG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Debug builds (configure --enable-debug) turn on internal assertions and
 * the structure validators.  The flag is a constant, not an #ifdef, so the
 * checking code always compiles. */
#ifdef FRG_DEBUG
static const bool frg_config_debug = true;
#else
static const bool frg_config_debug = false;
#endif

void frg_assert_fail(const char *expr, const char *file, int line)
    FRG_HIDDEN __attribute__((noreturn, cold));

/* FRG_ASSERT: checked only in debug builds (cheap enough for hot paths).
 * FRG_CHECK:  always checked; for invariants whose violation would
 *             otherwise corrupt memory silently. */
#define FRG_ASSERT(e)                                                       \
    do {                                                                    \
        if (frg_config_debug && FRG_UNLIKELY(!(e)))                         \
            frg_assert_fail(#e, __FILE__, __LINE__);                        \
    } while (0)
#define FRG_CHECK(e)                                                        \
    do {                                                                    \
        if (FRG_UNLIKELY(!(e)))                                             \
            frg_assert_fail(#e, __FILE__, __LINE__);                        \
    } while (0)

/* Addresses stored in span and chunk descriptors (`base`) go through these.
 * With FRG_VALGRIND they are stored inverted, so memcheck's leak scan does
 * not take a descriptor for a pointer that keeps the program's block
 * reachable; otherwise they cost nothing. */
#ifdef FRG_VALGRIND
#define FRG_BASE_MASK (~(uintptr_t)0)
#else
#define FRG_BASE_MASK ((uintptr_t)0)
#endif
#define FRG_ENC_BASE(a) ((uintptr_t)(a) ^ FRG_BASE_MASK)
#define FRG_BASE(d) ((d)->base ^ FRG_BASE_MASK)

FRG_INLINE uintptr_t frg_align_up(uintptr_t x, uintptr_t a) {
    return (x + a - 1) & ~(a - 1);
}
FRG_INLINE uintptr_t frg_align_down(uintptr_t x, uintptr_t a) {
    return x & ~(a - 1);
}
/* Inside a spin-wait loop: let the sibling hyperthread run. */
FRG_INLINE void frg_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
FRG_INLINE bool frg_is_pow2(size_t x) { return x && !(x & (x - 1)); }
FRG_INLINE unsigned frg_ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
FRG_INLINE unsigned frg_clz64(uint64_t x) { return (unsigned)__builtin_clzll(x); }
FRG_INLINE unsigned frg_popcount64(uint64_t x) { return (unsigned)__builtin_popcountll(x); }
/* floor(log2(x)) for x > 0 */
FRG_INLINE unsigned frg_log2(uint64_t x) { return 63u - frg_clz64(x); }

#endif
