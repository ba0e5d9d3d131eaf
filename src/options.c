/*
 * options.c - the options table, its parser and its sources.
 *
 * Owns: frg_opt (the values), frg_option_table (built from
 * FRG_OPTION_LIST), parsing of "k:v,k:v" strings.
 * Locking: written only during initialisation (under the init lock, before
 * any other thread can see the allocator as ready); read-only afterwards.
 */
#include "options.h"

#include <string.h>

#include "os.h"
#include "report.h"

#ifndef FRG_DEFAULT_OPTIONS
#define FRG_DEFAULT_OPTIONS ""
#endif

struct frg_options frg_opt = {
#define FRG_OPT_DEFAULT(name, type, field, def, min, max, values, doc) .field = (def),
    FRG_OPTION_LIST(FRG_OPT_DEFAULT)
#undef FRG_OPT_DEFAULT
};

const struct frg_option_desc frg_option_table[] = {
#define FRG_OPT_DESC(name, type, field, def, min, max, values, doc) \
    {#name, type, &frg_opt.field, (def), (min), (max), values, doc},
    FRG_OPTION_LIST(FRG_OPT_DESC)
#undef FRG_OPT_DESC
};
const unsigned frg_option_count = FRG_ARRAY_LEN(frg_option_table);

/* The program may define `const char *frg_malloc_conf = "...";`.  In the
 * static library the reference is hidden: only the code that links the
 * archive (an SDK) can set it, never the process that loads that SDK. */
#ifdef FRG_OVERRIDE_GLIBC
extern const char *frg_malloc_conf __attribute__((weak));
#else
extern const char *frg_malloc_conf __attribute__((weak, visibility("hidden")));
#endif

static bool parse_uint(const char *s, size_t n, bool allow_suffix, uint64_t *out) {
    uint64_t v = 0;
    size_t i = 0;
    if (n == 0)
        return false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0)
        return false;
    if (i < n) {
        unsigned shift;
        if (!allow_suffix || i + 1 != n)
            return false;
        switch (s[i] | 0x20) {
        case 'k': shift = 10; break;
        case 'm': shift = 20; break;
        case 'g': shift = 30; break;
        default: return false;
        }
        if (v > (UINT64_MAX >> shift))
            return false;
        v <<= shift;
    }
    *out = v;
    return true;
}

static bool eq(const char *a, size_t n, const char *b) {
    return strlen(b) == n && strncmp(a, b, n) == 0;
}

static bool parse_value(const struct frg_option_desc *d, const char *v, size_t n,
                        uint64_t *out) {
    switch (d->type) {
    case FRG_OPT_BOOL:
        if (eq(v, n, "true") || eq(v, n, "1") || eq(v, n, "yes") || eq(v, n, "on"))
            return (*out = 1), true;
        if (eq(v, n, "false") || eq(v, n, "0") || eq(v, n, "no") || eq(v, n, "off"))
            return (*out = 0), true;
        return false;
    case FRG_OPT_SIZE:
    case FRG_OPT_UINT:
        if (d->def == FRG_OPT_AUTO && eq(v, n, "auto"))
            return (*out = FRG_OPT_AUTO), true;
        return parse_uint(v, n, d->type == FRG_OPT_SIZE, out) && *out >= d->min &&
               *out <= d->max;
    case FRG_OPT_ENUM: {
        uint64_t idx = 0;
        for (const char *p = d->values; *p; idx++) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && strncmp(p, v, n) == 0)
                return (*out = idx), true;
            p += len + (bar ? 1 : 0);
        }
        return false;
    }
    }
    return false;
}

size_t frg_option_enum_name(const struct frg_option_desc *d, uint64_t v, char *buf,
                            size_t size) {
    const char *p = d->values;
    for (uint64_t i = 0; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (i == v) {
            size_t c = len < size - 1 ? len : size - 1;
            memcpy(buf, p, c);
            buf[c] = '\0';
            return c;
        }
        p += len + (bar ? 1 : 0);
    }
    buf[0] = '\0';
    return 0;
}

void frg_options_parse(const char *conf, const char *origin) {
    const char *p = conf;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (len == 0) {
            /* empty item ("a:1,,b:2"): nothing to do */
        } else if (!colon) {
            frg_warn("option '%.*s' in %s has no ':value', ignored", (int)len, p, origin);
        } else {
            size_t klen = (size_t)(colon - p);
            const char *val = colon + 1;
            size_t vlen = len - klen - 1;
            const struct frg_option_desc *d = NULL;
            for (unsigned i = 0; i < frg_option_count; i++)
                if (eq(p, klen, frg_option_table[i].name))
                    d = &frg_option_table[i];
            uint64_t v;
            if (!d)
                frg_warn("unknown option '%.*s' in %s, ignored", (int)klen, p, origin);
            else if (!parse_value(d, val, vlen, &v))
                frg_warn("bad value '%.*s' for option '%s' in %s, ignored", (int)vlen, val,
                         d->name, origin);
            else
                *d->value = v;
        }
        p = end ? end + 1 : NULL;
    }
}

void frg_options_init(void) {
    frg_options_parse(FRG_DEFAULT_OPTIONS, "the compiled-in defaults");
    if (&frg_malloc_conf && frg_malloc_conf)
        frg_options_parse(frg_malloc_conf, "frg_malloc_conf");
    frg_options_parse(frg_os_getenv("FRGMALLOC_CONF"), "FRGMALLOC_CONF");
}
