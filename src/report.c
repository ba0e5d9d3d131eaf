/*
 * report.c - misuse reports, warnings and fatal errors.
 *
 * Owns: the text of every message the library prints on its own and the
 * misuse counter.  Locking: none; messages are formatted on the stack and
 * written with one write(2) call so lines from several threads do not mix.
 */
#include "report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <errno.h>

#include "fmt.h"
#include "options.h"
#include "stats.h"

void frg_write_stderr(const char *s) {
    int saved = errno;
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            break;
        }
        s += w;
        n -= (size_t)w;
    }
    errno = saved;
}

void frg_report_misuse(const char *what, const void *ptr) {
    char line[160];
    frg_snprintf(line, sizeof line, "frgmalloc: %s of %p\n", what, ptr);
    frg_write_stderr(line);
    __atomic_fetch_add(&frg_stats_misuse_reports, 1, __ATOMIC_RELAXED);
    if (frg_opt.misuse == FRG_MISUSE_ABORT)
        abort();
}

/* "frgmalloc: <prefix><formatted>\n" in one write. */
static void vline(const char *prefix, const char *fmt, va_list ap) {
    char line[512];
    size_t n = frg_snprintf(line, sizeof line, "frgmalloc: %s", prefix);
    frg_vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    n = strlen(line);
    line[n] = '\n';
    line[n + 1] = '\0';
    frg_write_stderr(line);
}

void frg_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("warning: ", fmt, ap);
    va_end(ap);
}

void frg_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("fatal: ", fmt, ap);
    va_end(ap);
    abort();
}

void frg_assert_fail(const char *expr, const char *file, int line) {
    frg_fatal("assertion '%s' failed at %s:%d", expr, file, line);
}
