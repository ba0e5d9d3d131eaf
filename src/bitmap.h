/*
 * bitmap.h - word-at-a-time scans over fixed-size bitmaps.
 *
 * Used by the page heap (which pages of a chunk are used / dirty) and by
 * slabs (which objects are free).  Pure functions, no locking.
 */
#ifndef FRG_BITMAP_H
#define FRG_BITMAP_H

#include "util.h"

/* First index >= from whose bit equals `bit` (0 or 1), or nbits. */
FRG_INLINE size_t frg_bm_find(const uint64_t *bm, size_t nbits, size_t from, int bit) {
    if (from >= nbits)
        return nbits;
    size_t w = from / 64;
    uint64_t flip = bit ? 0 : ~0ull;
    uint64_t bits = (bm[w] ^ flip) & (~0ull << (from % 64));
    while (!bits) {
        if (++w >= nbits / 64)
            return nbits;
        bits = bm[w] ^ flip;
    }
    size_t i = w * 64 + frg_ctz64(bits);
    return i < nbits ? i : nbits;
}

/* Set (bit=1) or clear (bit=0) bits [start, start+n). */
FRG_INLINE void frg_bm_fill(uint64_t *bm, size_t start, size_t n, int bit) {
    while (n) {
        size_t w = start / 64, off = start % 64;
        size_t take = 64 - off < n ? 64 - off : n;
        uint64_t mask = (take == 64 ? ~0ull : ((1ull << take) - 1)) << off;
        if (bit)
            bm[w] |= mask;
        else
            bm[w] &= ~mask;
        start += take;
        n -= take;
    }
}

/* Number of set bits in [start, start+n). */
FRG_INLINE size_t frg_bm_count(const uint64_t *bm, size_t start, size_t n) {
    size_t c = 0;
    while (n) {
        size_t w = start / 64, off = start % 64;
        size_t take = 64 - off < n ? 64 - off : n;
        uint64_t mask = (take == 64 ? ~0ull : ((1ull << take) - 1)) << off;
        c += frg_popcount64(bm[w] & mask);
        start += take;
        n -= take;
    }
    return c;
}

FRG_INLINE bool frg_bm_get(const uint64_t *bm, size_t i) {
    return (bm[i / 64] >> (i % 64)) & 1;
}

#endif
