/*
 * fmt.h - allocation-free string formatting.
 *
 * The allocator must be able to print (misuse reports, option warnings,
 * stats) from inside malloc, before libc is initialised and while its own
 * locks are held, so it never calls stdio.  frg_snprintf implements the
 * small printf subset the library needs: %s %c %d %u %x %p %%, the length
 * modifiers l, ll, z, the flags '-' and '0', a field width (also '*') and a
 * precision for %s (".N" or ".*").
 */
#ifndef FRG_FMT_H
#define FRG_FMT_H

#include <stdarg.h>
#include <stddef.h>
#include "util.h"

FRG_HIDDEN size_t frg_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
FRG_HIDDEN size_t frg_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A growing-by-flush text sink: text is formatted into a fixed buffer and
 * handed to `write` whenever it fills up, so output of any length needs no
 * allocation. */
struct frg_sink {
    void (*write)(void *opaque, const char *text);
    void *opaque;
    size_t len;
    char buf[1024];
};
FRG_HIDDEN void frg_sink_init(struct frg_sink *s, void (*write)(void *, const char *),
                              void *opaque);
FRG_HIDDEN void frg_sink_printf(struct frg_sink *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
FRG_HIDDEN void frg_sink_flush(struct frg_sink *s);

#endif
