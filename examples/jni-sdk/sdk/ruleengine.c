/*
 * ruleengine.c - the rule engine VM SDK (see ruleengine.h).
 *
 * What a VM holds (sizes measured with re_selftest, see README.md):
 *   - 24 rules, each a condition and an action AST (32 B nodes, 8-40 B kid
 *     arrays, 8-120 B literals), a quarter with a 256 B-2 KiB doc string;
 *   - a variables hash map (48 B entries, 16-200 B values, buckets grown
 *     with realloc and split in place);
 *   - a history array and a rules array grown with realloc;
 *   - a bytecode buffer grown with realloc to 8-32 KiB, an event ring of
 *     8-64 KiB and an 8 KiB scratch buffer.
 * Shared, process-lifetime objects (re_shared.c; unless RE_SHARED=0 or
 * re_set_shared(0)):
 *   - the intern table: every identifier is interned; names specific to a
 *     VM ("t<id>.<word>", "vm<id>.evt<n>") add new symbols, so long-lived
 *     allocations land between the VMs' allocations;
 *   - the metrics registry: two counters per VM, kept after the VM dies.
 * With shared objects off, the same names and counters are VM-private
 * copies, freed with the VM.
 *
 * Every allocation goes through RE_MALLOC/RE_CALLOC/RE_REALLOC/RE_FREE
 * (re_internal.h).  Out of memory aborts with a message (a demo SDK).
 */
#include "ruleengine.h"

#include <stdio.h>
#include <string.h>

#include "re_internal.h"

/* ---- random numbers ----------------------------------------------------- */

static uint64_t rnd(uint64_t *st) { /* xorshift64* */
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t rndn(uint64_t *st, uint32_t n) { /* uniform in [0, n) */
    return (uint32_t)(((rnd(st) >> 32) * n) >> 32);
}

/* ---- VM data structures ------------------------------------------------- */

enum { N_NUM, N_STR, N_VAR, N_OP, N_CALL };

typedef struct re_node {
    uint8_t kind, nkids, owns_text, op;
    int32_t ival;
    const char *text;      /* literal, variable or function name */
    struct re_node **kids; /* nkids pointers, RE_MALLOC'ed */
    double val;
} re_node;

typedef struct re_rule {
    const char *name;
    re_node *cond, *action;
    char *doc; /* NULL or 256 B - 2 KiB */
    re_metric *metric;
    uint8_t owns_name;
    uint64_t hits;
} re_rule;

typedef struct re_var {
    struct re_var *next;
    const char *key;
    char *val;
    uint32_t hash, vlen;
    int64_t num;
    uint8_t owns_key;
} re_var;

struct re_vm {
    uint64_t rng;
    uint32_t id, shared;
    uint64_t allocs, nevents; /* allocs: not yet added to re_g_allocs */
    re_rule **rules;
    size_t nrules, caprules;
    re_var **vars; /* buckets, RE_REALLOC'ed and split in place */
    size_t nvbuckets, nvars, maxvars;
    int64_t *hist;
    size_t nhist, caphist;
    unsigned char *code;
    size_t codelen, codecap;
    char *ring, *scratch;
    size_t ringsz, ringpos;
    re_metric *m_fired, *m_latency;
    uint8_t owns_metrics;
};

static const char *const WORDS[] = {
    "price", "qty", "customer", "region", "score", "limit", "rate", "total", "age",
    "country", "segment", "discount", "tax", "balance", "risk", "tier", "channel",
    "product", "category", "weight", "status", "flag", "count", "window", "delta",
    "threshold", "budget", "margin", "owner", "device", "session", "latency"};
#define NWORDS (sizeof WORDS / sizeof WORDS[0])

static void *vm_alloc(re_vm *vm, size_t n) {
    vm->allocs++;
    return re_chk(RE_MALLOC(n), n);
}

static char *vm_strdup(re_vm *vm, const char *s, size_t len) {
    char *p = vm_alloc(vm, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* A name: interned (shared) or a private copy; *owned tells which. */
static const char *vm_name(re_vm *vm, const char *s, uint8_t *owned) {
    size_t len = strlen(s);
    if (vm->shared) {
        *owned = 0;
        return re_intern(s, len);
    }
    *owned = 1;
    return vm_strdup(vm, s, len);
}

/* A vocabulary name such as "price_17": a bounded set, interned once. */
static const char *vocab_name(re_vm *vm, uint8_t *owned) {
    char buf[48];
    snprintf(buf, sizeof buf, "%s_%u", WORDS[rndn(&vm->rng, NWORDS)], rndn(&vm->rng, 40));
    return vm_name(vm, buf, owned);
}

static char *random_text(re_vm *vm, size_t len) {
    char *p = vm_alloc(vm, len + 1);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)('a' + (rnd(&vm->rng) >> 59));
    p[len] = '\0';
    return p;
}

static void code_emit(re_vm *vm, const void *bytes, size_t n) {
    if (vm->codelen + n > 32768)
        vm->codelen = 0; /* "code cache flush": keep the buffer, start over */
    if (vm->codelen + n > vm->codecap) {
        size_t cap = vm->codecap ? vm->codecap * 2 : 256;
        vm->code = re_chk(RE_REALLOC(vm->code, cap), cap);
        vm->codecap = cap;
        vm->allocs += vm->codecap == 256;
    }
    memcpy(vm->code + vm->codelen, bytes, n);
    vm->codelen += n;
}

static re_node *gen_expr(re_vm *vm, int depth) {
    re_node *n = vm_alloc(vm, sizeof *n);
    memset(n, 0, sizeof *n);
    uint32_t r = rndn(&vm->rng, 100);
    if (depth <= 0 || r < 25) { /* leaf */
        uint32_t k = rndn(&vm->rng, 10);
        if (k < 4) {
            n->kind = N_NUM;
            n->val = (double)rndn(&vm->rng, 1000) / 10.0;
        } else if (k < 6) {
            n->kind = N_STR;
            n->text = random_text(vm, 8 + rndn(&vm->rng, 112));
            n->owns_text = 1;
        } else {
            n->kind = N_VAR;
            n->text = vocab_name(vm, &n->owns_text);
        }
    } else {
        n->kind = r < 75 ? N_OP : N_CALL;
        n->op = (uint8_t)rndn(&vm->rng, 6);
        n->nkids = (uint8_t)(n->kind == N_OP ? 2 : 1 + rndn(&vm->rng, 5));
        n->kids = vm_alloc(vm, n->nkids * sizeof *n->kids);
        if (n->kind == N_CALL)
            n->text = vocab_name(vm, &n->owns_text);
        for (int i = 0; i < n->nkids; i++)
            n->kids[i] = gen_expr(vm, depth - 1);
    }
    unsigned char insn[12] = {n->kind, n->op, n->nkids};
    memcpy(insn + 4, &n->val, sizeof n->val);
    code_emit(vm, insn, 4 + (n->kind == N_NUM ? 8 : 0));
    return n;
}

static void free_expr(re_node *n) {
    for (int i = 0; i < n->nkids; i++)
        free_expr(n->kids[i]);
    RE_FREE(n->kids);
    if (n->owns_text)
        RE_FREE((void *)n->text);
    RE_FREE(n);
}

static double eval(re_vm *vm, const re_node *n) {
    switch (n->kind) {
    case N_NUM: return n->val;
    case N_STR: return (double)strlen(n->text);
    case N_VAR: return (double)(n->text[0] + vm->nevents % 7);
    case N_OP: {
        double a = eval(vm, n->kids[0]), b = eval(vm, n->kids[1]);
        switch (n->op) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return a * 0.5 + b;
        case 3: return a > b;
        case 4: return a < b ? a : b;
        default: return a == b;
        }
    }
    default: { /* N_CALL: builds a temporary argument list */
        double *args = vm_alloc(vm, n->nkids * sizeof *args);
        double s = 0;
        for (int i = 0; i < n->nkids; i++)
            s += args[i] = eval(vm, n->kids[i]);
        RE_FREE(args);
        return s / n->nkids;
    }
    }
}

static void rule_compile(re_vm *vm, re_rule *r) {
    r->cond = gen_expr(vm, 2 + (int)rndn(&vm->rng, 2));
    r->action = gen_expr(vm, 1 + (int)rndn(&vm->rng, 2));
}

/* Sets variable key (borrowed) to a fresh value of vlen bytes. */
static void var_set(re_vm *vm, const char *key, uint8_t key_owned, size_t vlen, int64_t num) {
    uint32_t h = re_hash(key, strlen(key));
    re_var *v;
    for (v = vm->vars[h & (vm->nvbuckets - 1)]; v != NULL; v = v->next)
        if (v->hash == h && strcmp(v->key, key) == 0)
            break;
    if (v != NULL) { /* replace the value: free, then allocate another size */
        if (key_owned)
            RE_FREE((void *)key);
        RE_FREE(v->val);
    } else {
        if (vm->nvars >= vm->nvbuckets) { /* double with realloc, split chains */
            size_t old = vm->nvbuckets;
            vm->vars = re_chk(RE_REALLOC(vm->vars, 2 * old * sizeof *vm->vars), 2 * old * sizeof *vm->vars);
            memset(vm->vars + old, 0, old * sizeof *vm->vars);
            vm->nvbuckets = 2 * old;
            for (size_t i = 0; i < old; i++) {
                re_var **pp = &vm->vars[i];
                while (*pp != NULL) {
                    if ((*pp)->hash & old) {
                        re_var *m = *pp;
                        *pp = m->next;
                        m->next = vm->vars[i + old];
                        vm->vars[i + old] = m;
                    } else {
                        pp = &(*pp)->next;
                    }
                }
            }
        }
        v = vm_alloc(vm, sizeof *v);
        v->key = key;
        v->owns_key = key_owned;
        v->hash = h;
        v->next = vm->vars[h & (vm->nvbuckets - 1)];
        vm->vars[h & (vm->nvbuckets - 1)] = v;
        vm->nvars++;
    }
    v->val = random_text(vm, vlen);
    v->vlen = (uint32_t)vlen;
    v->num = num;
}

static void var_free(re_var *v) {
    if (v->owns_key)
        RE_FREE((void *)v->key);
    RE_FREE(v->val);
    RE_FREE(v);
}

/* Removes one variable from a random non-empty bucket. */
static void var_evict(re_vm *vm) {
    size_t i = rndn(&vm->rng, (uint32_t)vm->nvbuckets);
    for (size_t k = 0; k < vm->nvbuckets; k++, i = (i + 1) & (vm->nvbuckets - 1)) {
        re_var *v = vm->vars[i];
        if (v != NULL) {
            vm->vars[i] = v->next;
            var_free(v);
            vm->nvars--;
            return;
        }
    }
}

static void hist_push(re_vm *vm, int64_t x) {
    if (vm->nhist == vm->caphist && vm->caphist < 1024) {
        size_t cap = vm->caphist ? vm->caphist * 2 : 8;
        vm->allocs += vm->hist == NULL;
        vm->hist = re_chk(RE_REALLOC(vm->hist, cap * sizeof *vm->hist), cap * sizeof *vm->hist);
        vm->caphist = cap;
    }
    vm->hist[vm->nhist < vm->caphist ? vm->nhist++ : (size_t)(x & 1023)] = x;
}

static size_t pick_ring_size(re_vm *vm) { /* 8-64 KiB, mostly small */
    uint32_t r = rndn(&vm->rng, 100);
    return (size_t)(r < 40 ? 8 : r < 75 ? 16 : r < 95 ? 32 : 64) << 10;
}

/* ---- public API --------------------------------------------------------- */

re_vm *re_create(uint32_t seed) {
    re_vm *vm = re_chk(RE_CALLOC(1, sizeof *vm), sizeof *vm);
    vm->allocs = 1;
    vm->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)seed * 0xBF58476D1CE4E5B9ULL);
    if (vm->rng == 0)
        vm->rng = 1;
    vm->id = seed;
    vm->shared = (uint32_t)re_shared_enabled();
    char buf[64];

    /* metrics: two per VM, registered for the process lifetime if shared */
    re_metric *ms[2];
    for (int i = 0; i < 2; i++) {
        snprintf(buf, sizeof buf, "t%u.%s", seed, i ? "latency" : "fired");
        uint8_t owned;
        const char *name = vm_name(vm, buf, &owned);
        if (vm->shared) {
            ms[i] = re_metric_register(name);
        } else {
            ms[i] = vm_alloc(vm, sizeof *ms[i]);
            memset(ms[i], 0, sizeof *ms[i]);
            ms[i]->name = name;
        }
    }
    vm->m_fired = ms[0];
    vm->m_latency = ms[1];
    vm->owns_metrics = !vm->shared;

    vm->nvbuckets = 16;
    vm->vars = re_chk(RE_CALLOC(vm->nvbuckets, sizeof *vm->vars), vm->nvbuckets * sizeof *vm->vars);
    vm->allocs++;
    vm->maxvars = 192 + rndn(&vm->rng, 96);

    for (int i = 0; i < 24; i++) {
        if (vm->nrules == vm->caprules) {
            size_t cap = vm->caprules ? vm->caprules * 2 : 4;
            vm->allocs += vm->rules == NULL;
            vm->rules = re_chk(RE_REALLOC(vm->rules, cap * sizeof *vm->rules), cap * sizeof *vm->rules);
            vm->caprules = cap;
        }
        re_rule *r = vm_alloc(vm, sizeof *r);
        memset(r, 0, sizeof *r);
        if (i < 8) { /* tenant-specific names: new symbols every VM */
            snprintf(buf, sizeof buf, "t%u.%s", seed, WORDS[rndn(&vm->rng, NWORDS)]);
            r->name = vm_name(vm, buf, &r->owns_name);
        } else {
            r->name = vocab_name(vm, &r->owns_name);
        }
        r->metric = i & 1 ? vm->m_latency : vm->m_fired;
        rule_compile(vm, r);
        if (rndn(&vm->rng, 4) == 0) {
            size_t dl = 256 + rndn(&vm->rng, 1792);
            r->doc = random_text(vm, dl - 1);
        }
        vm->rules[vm->nrules++] = r;
    }
    /* initial variables and history */
    for (size_t i = 0; i < vm->maxvars * 3 / 4; i++) {
        uint8_t owned;
        const char *k = vocab_name(vm, &owned);
        var_set(vm, k, owned, 16 + rndn(&vm->rng, 48) + (rndn(&vm->rng, 8) == 0) * 140, (int64_t)i);
    }
    for (int i = 0; i < 64; i++)
        hist_push(vm, (int64_t)rnd(&vm->rng));

    vm->ringsz = pick_ring_size(vm);
    /* Filled with non-zero bytes on purpose: GCC turns malloc + memset(0)
     * into calloc, which leaves fresh pages untouched, and the VM's RSS
     * would then depend on the compiler (measured: 6% of the peak). */
    vm->ring = vm_alloc(vm, vm->ringsz);
    memset(vm->ring, ' ', vm->ringsz);
    vm->scratch = vm_alloc(vm, 8192);
    memset(vm->scratch, 0xA5, 8192);

    RE_ADD(re_g_created, 1);
    RE_ADD(re_g_allocs, vm->allocs);
    vm->allocs = 0;
    return vm;
}

int re_event(re_vm *vm, int seed) {
    vm->rng ^= (uint64_t)(uint32_t)seed * 0x9E3779B97F4A7C15ULL;
    if (vm->rng == 0)
        vm->rng = 1;
    vm->nevents++;

    /* 1. "parse" the event into temporary fields, in an array grown by realloc */
    size_t nf = 3 + rndn(&vm->rng, 6), capf = 2, lenf = 0;
    char **fields = vm_alloc(vm, capf * sizeof *fields);
    for (size_t i = 0; i < nf; i++) {
        if (lenf == capf) {
            capf *= 2;
            fields = re_chk(RE_REALLOC(fields, capf * sizeof *fields), capf * sizeof *fields);
        }
        fields[lenf++] = random_text(vm, 15 + rndn(&vm->rng, 185));
    }
    /* 2. sometimes serialise it into a large temporary buffer */
    if (rndn(&vm->rng, 4) == 0) {
        size_t bl = (size_t)(4 + rndn(&vm->rng, 13)) << 10;
        char *buf = vm_alloc(vm, bl);
        size_t pos = 0;
        for (size_t i = 0; i < lenf && pos + 256 < bl; i++) {
            size_t l = strlen(fields[i]);
            memcpy(buf + pos, fields[i], l);
            pos += l;
        }
        memcpy(vm->scratch, buf, pos < 8192 ? pos : 8192);
        RE_FREE(buf);
    }
    /* 3. evaluate some rules; fired ones update variables and metrics */
    int fired = 0;
    for (int k = 0; k < 4; k++) {
        re_rule *r = vm->rules[rndn(&vm->rng, (uint32_t)vm->nrules)];
        double c = eval(vm, r->cond);
        if (((int64_t)c ^ (int64_t)rndn(&vm->rng, 4)) & 1) {
            double a = eval(vm, r->action);
            r->hits++;
            fired++;
            __atomic_fetch_add(&r->metric->count, 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&r->metric->hist[(uint64_t)a & 7], 1, __ATOMIC_RELAXED);
            uint8_t owned;
            const char *key = vocab_name(vm, &owned);
            var_set(vm, key, owned, 16 + strlen(fields[k % lenf]) / 2, (int64_t)a);
        }
    }
    /* 4. state churn: variables, history, ring, occasional recompilation */
    for (int k = 0; k < 2; k++) {
        uint8_t owned;
        const char *key = vocab_name(vm, &owned);
        var_set(vm, key, owned, 16 + rndn(&vm->rng, 64) + (rndn(&vm->rng, 16) == 0) * 180, k);
    }
    while (vm->nvars > vm->maxvars)
        var_evict(vm);
    hist_push(vm, (int64_t)vm->nevents * 31 + fired);
    for (size_t i = 0; i < lenf; i++) {
        size_t l = strlen(fields[i]);
        if (vm->ringpos + l > vm->ringsz)
            vm->ringpos = 0;
        memcpy(vm->ring + vm->ringpos, fields[i], l);
        vm->ringpos += l;
    }
    if (rndn(&vm->rng, 16) == 0) {
        re_rule *r = vm->rules[rndn(&vm->rng, (uint32_t)vm->nrules)];
        free_expr(r->cond);
        free_expr(r->action);
        rule_compile(vm, r);
    }
    if (vm->shared && rndn(&vm->rng, 3) == 0) { /* a new event type: shared symbol */
        char buf[48];
        snprintf(buf, sizeof buf, "vm%u.evt%llu", vm->id, (unsigned long long)vm->nevents);
        re_intern(buf, strlen(buf));
    }
    __atomic_fetch_add(&vm->m_latency->sum, (uint64_t)fired + 1, __ATOMIC_RELAXED);

    for (size_t i = 0; i < lenf; i++)
        RE_FREE(fields[i]);
    RE_FREE(fields);
    RE_ADD(re_g_events, 1);
    RE_ADD(re_g_allocs, vm->allocs);
    vm->allocs = 0;
    return fired;
}

void re_destroy(re_vm *vm) {
    if (vm == NULL)
        return;
    for (size_t i = 0; i < vm->nrules; i++) {
        re_rule *r = vm->rules[i];
        free_expr(r->cond);
        free_expr(r->action);
        if (r->owns_name)
            RE_FREE((void *)r->name);
        RE_FREE(r->doc);
        RE_FREE(r);
    }
    RE_FREE(vm->rules);
    for (size_t i = 0; i < vm->nvbuckets; i++) {
        while (vm->vars[i] != NULL) {
            re_var *v = vm->vars[i];
            vm->vars[i] = v->next;
            var_free(v);
        }
    }
    RE_FREE(vm->vars);
    RE_FREE(vm->hist);
    RE_FREE(vm->code);
    RE_FREE(vm->ring);
    RE_FREE(vm->scratch);
    if (vm->owns_metrics) {
        RE_FREE((void *)vm->m_fired->name);
        RE_FREE((void *)vm->m_latency->name);
        RE_FREE(vm->m_fired);
        RE_FREE(vm->m_latency);
    }
    RE_ADD(re_g_allocs, vm->allocs);
    RE_FREE(vm);
    RE_ADD(re_g_destroyed, 1);
}
