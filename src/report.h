/*
 * report.h - the library's only way to talk to the user at run time.
 *
 * Misuse reports ("frgmalloc: double free of 0x..."), option warnings and
 * fatal errors are written straight to file descriptor 2 with write(2);
 * nothing here allocates, takes a lock or touches stdio, so it is safe from
 * any allocator path.
 */
#ifndef FRG_REPORT_H
#define FRG_REPORT_H

#include "util.h"

/* Report misuse of the API: prints "frgmalloc: <what> of <ptr>".  Aborts
 * unless the `misuse` option says "report"; when it returns, the caller
 * must leave the bad pointer alone. */
FRG_HIDDEN FRG_COLD void frg_report_misuse(const char *what, const void *ptr);

/* "frgmalloc: warning: ..." and carry on. */
FRG_HIDDEN FRG_COLD void frg_warn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* "frgmalloc: fatal: ..." then abort(). For states the allocator cannot
 * survive (unsupported page size, corrupted metadata). */
FRG_HIDDEN void frg_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn, cold));

FRG_HIDDEN void frg_write_stderr(const char *s);

#endif
