/*
 * fmt.c - allocation-free printf subset and a buffered text sink.
 *
 * Owns: frg_vsnprintf, frg_snprintf, struct frg_sink.
 * Locking: none; pure functions on caller-provided buffers.
 */
#include "fmt.h"

#include <string.h>

struct out {
    char *buf;
    size_t size;
    size_t len; /* characters that would have been written */
};

static void put(struct out *o, char c) {
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void put_padded(struct out *o, const char *s, size_t n, int width, bool left,
                       char pad) {
    size_t w = width > 0 ? (size_t)width : 0;
    if (!left)
        for (size_t i = n; i < w; i++)
            put(o, pad);
    for (size_t i = 0; i < n; i++)
        put(o, s[i]);
    if (left)
        for (size_t i = n; i < w; i++)
            put(o, ' ');
}

static size_t utoa(char *tmp, unsigned long long v, unsigned base) {
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    for (size_t i = 0; i < n / 2; i++) {
        char c = tmp[i];
        tmp[i] = tmp[n - 1 - i];
        tmp[n - 1 - i] = c;
    }
    return n;
}

size_t frg_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
    struct out o = {buf, size, 0};
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        f++;
        bool left = false;
        char pad = ' ';
        int width = 0;
        for (;; f++) {
            if (*f == '-')
                left = true;
            else if (*f == '0')
                pad = '0';
            else
                break;
        }
        if (*f == '*') {
            width = va_arg(ap, int);
            f++;
        } else {
            while (*f >= '0' && *f <= '9')
                width = width * 10 + (*f++ - '0');
        }
        int precision = -1; /* only meaningful for %s */
        if (*f == '.') {
            f++;
            if (*f == '*') {
                precision = va_arg(ap, int);
                f++;
            } else {
                precision = 0;
                while (*f >= '0' && *f <= '9')
                    precision = precision * 10 + (*f++ - '0');
            }
        }
        int lng = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
        if (*f == 'l') {
            lng = 1;
            if (*++f == 'l') {
                lng = 2;
                f++;
            }
        } else if (*f == 'z') {
            lng = 3;
            f++;
        }
        char tmp[32];
        size_t n;
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            size_t len = precision >= 0 ? strnlen(s, (size_t)precision) : strlen(s);
            put_padded(&o, s, len, width, left, ' ');
            break;
        }
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            put_padded(&o, tmp, 1, width, left, ' ');
            break;
        case 'd': {
            long long v = lng == 0 ? va_arg(ap, int)
                        : lng == 1 ? va_arg(ap, long)
                        : lng == 2 ? va_arg(ap, long long)
                                   : (long long)va_arg(ap, ptrdiff_t);
            unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v
                                           : (unsigned long long)v;
            size_t k = 0;
            if (v < 0)
                tmp[k++] = '-';
            k += utoa(tmp + k, mag, 10);
            put_padded(&o, tmp, k, width, left, pad);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = lng == 0 ? va_arg(ap, unsigned)
                                 : lng == 1 ? va_arg(ap, unsigned long)
                                 : lng == 2 ? va_arg(ap, unsigned long long)
                                            : va_arg(ap, size_t);
            n = utoa(tmp, v, *f == 'x' ? 16 : 10);
            put_padded(&o, tmp, n, width, left, pad);
            break;
        }
        case 'p': {
            tmp[0] = '0';
            tmp[1] = 'x';
            n = 2 + utoa(tmp + 2, (uintptr_t)va_arg(ap, void *), 16);
            put_padded(&o, tmp, n, width, left, ' ');
            break;
        }
        case '%':
            put(&o, '%');
            break;
        case '\0':
            f--;
            break;
        default:
            put(&o, '%');
            put(&o, *f);
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len;
}

size_t frg_snprintf(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = frg_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void frg_sink_init(struct frg_sink *s, void (*write)(void *, const char *), void *opaque) {
    s->write = write;
    s->opaque = opaque;
    s->len = 0;
    s->buf[0] = '\0';
}

void frg_sink_flush(struct frg_sink *s) {
    if (s->len) {
        s->buf[s->len] = '\0';
        s->write(s->opaque, s->buf);
        s->len = 0;
    }
}

void frg_sink_printf(struct frg_sink *s, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    size_t n = frg_vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n >= sizeof line)
        n = sizeof line - 1;
    if (s->len + n >= sizeof s->buf)
        frg_sink_flush(s);
    memcpy(s->buf + s->len, line, n);
    s->len += n;
}
