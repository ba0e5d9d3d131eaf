/*
 * large.h - objects from FRG_SMALL_MAX to FRG_LARGE_MAX: one run of pages
 * from the page heap each, sized to whole pages, resized in place when the
 * neighbouring pages allow.
 */
#ifndef FRG_LARGE_H
#define FRG_LARGE_H

#include "chunk.h"
#include "span.h"

#define FRG_LARGE_MAX ((size_t)1 << 20)
#define FRG_LARGE_ALIGN_MAX ((size_t)1 << 20)

FRG_HIDDEN void *frg_large_alloc(size_t size, size_t align, bool zero);
FRG_HIDDEN void frg_large_free(struct frg_span *span);
/* Resize in place to `size` (<= FRG_LARGE_MAX); false if it must move. */
FRG_HIDDEN bool frg_large_resize(struct frg_span *span, size_t size);

struct frg_large_stats {
    size_t live, live_bytes;
    uint64_t nmalloc, nfree;
};
FRG_HIDDEN void frg_large_stats(struct frg_large_stats *out);

#endif
