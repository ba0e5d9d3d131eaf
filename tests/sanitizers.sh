#!/bin/sh
# sanitizers.sh - the allocator's internals under ThreadSanitizer,
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Each build compiles src/*.c (not src/frgmalloc-stat.c) without
# FRG_OVERRIDE_GLIBC ("override off": only frg_* is defined, so the
# sanitizer keeps its own malloc for everything else), with FRG_DEBUG
# (assertions and lock-order checks), and links the CUnit unit tests
# against it as the workload:
#
#   tsan        -fsanitize=thread; percpu:lock, lease and off; the tests
#               that do not fork (TSan and fork with threads do not mix),
#               and the stress test once more with decay_ms:1, so the
#               purger thread drains caches and purges pages throughout.
#   tsan-rseq   the same in percpu:rseq.  TSan cannot see inside the rseq
#               inline asm, so an object freed on one thread and taken
#               from the per-CPU cache by another would look like a race.
#               This build models the cache as what it is, a hand-off:
#               each push is a __tsan_release on the object, each pop a
#               __tsan_acquire (a force-included header wraps the inline
#               pop and push), and so are the batch sequences, putting
#               an object back into its slab and a large run back into
#               large.c, which is where objects drained from a cache go
#               (the linker's --wrap).  Everything
#               outside the asm is checked as usual.  Skipped, and said
#               so, if rseq is unavailable.
#   asan        -fsanitize=address with LeakSanitizer on (the library's
#               memory is mmap'd and invisible to it, so a leak reported
#               is the tests' own or libc's); all unit tests; rseq, lease,
#               lock.
#   ubsan       -fsanitize=undefined -fno-sanitize-recover=all; all unit
#               tests; percpu:rseq, lease, lock and off.
#
# Any sanitizer report, failing test, crash or time-out fails the line of
# its build and mode, and the distinct reports and the first one in full
# are printed.  Sanitizers write to per-process files (log_path), so
# reports from forked children are seen too.  One line per build and mode:
# "ok - ..." or "not ok - ...".
#
# Tests that measure RSS (inflated by shadow memory) or count madvise
# calls (timing), and single-threaded byte loops too slow under TSan, are
# left out per build (SKIP_* below; the test programs print what they
# skip).  Op counts are reduced to keep the whole run to a few minutes on
# two cores.  The sources are copied to a scratch directory first, so a
# file someone is editing is at least copied whole.
#
# Environment:
#   srcdir           top of the source tree (default: this script's ../)
#   FRG_SANITIZERS   builds to run (default "tsan tsan-rseq asan ubsan")
#   FRG_SAN_CC       compiler (default: clang, else clang-14, else gcc)
#   FRG_SAN_TESTS    replace every build's test list
#   FRG_SAN_TIMEOUT  seconds per test run (default 180)
#   FRG_SAN_KEEP=1   keep the scratch directory (it is kept on failure)
# Exit status: 0 clean, 1 any failure, 77 no sanitizer could be used.
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "${srcdir:-$here/..}" && pwd) || exit 99
export srcdir # test_mallctl reads $srcdir/docs
builds=${FRG_SANITIZERS:-tsan tsan-rseq asan ubsan}
timeout_s=${FRG_SAN_TIMEOUT:-180}
jobs=$(nproc 2>/dev/null || echo 2)

NOFORK_TESTS="test_api test_sizeclass test_align test_realloc test_stress test_threads test_mallctl"
ALL_TESTS="$NOFORK_TESTS test_fork test_misuse test_internals test_purge test_hardening"
# Tests and scenarios left out: RSS bounds do not hold with shadow memory
# and fake stacks; the ping-pong scenarios count madvise calls, which
# depends on timing (it fails now and then even without a sanitizer);
# random_sequences checks megabytes byte by byte on one thread, a minute
# under TSan for nothing TSan can find; test_lease_fork forks with a
# second thread running, which TSan does not support.
SKIP_RSS="test_512_threads_bounded idle_return idle_return_live"
# (rlimit: the sanitizer runtimes reserve terabytes of address space)
SKIP_TIMING="pingpong_small pingpong_large"
SKIP_TSAN="$SKIP_RSS $SKIP_TIMING test_random_sequences test_lease_fork"
SKIP_ASAN="$SKIP_RSS $SKIP_TIMING rlimit"
SKIP_UBSAN="$SKIP_TIMING"
# TSan runs the stress test once more with a purger thread that wakes
# every millisecond, to race it against the workload.
HOT_PURGER="test_stress@decay_ms:1"

say() { printf '%s\n' "$*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/frg-san.XXXXXX") || exit 99
keep=${FRG_SAN_KEEP:-0}
cleanup() {
    if [ "$keep" = 1 ]; then say "# scratch directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- tools ---------------------------------------------------------------

# A program a sanitizer must accept: a thread, an allocation, CUnit.
cat >"$work/probe.c" <<'EOF'
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdlib.h>
static void *run(void *p) { return p; }
int main(void) {
    pthread_t t;
    void *m = malloc(16);
    if (pthread_create(&t, NULL, run, m) || pthread_join(t, NULL))
        return 1;
    free(m);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_cleanup_registry();
    return 0;
}
EOF

# probe CC FLAGS: can CC build and run a program with FLAGS?  Sets
# `runner` to "setarch ... -R" if TSan needs address randomisation off
# (older runtimes on kernels with more mmap entropy).
probe() {
    "$1" $2 -pthread "$work/probe.c" -lcunit -o "$work/probe" >"$work/probe.log" 2>&1 || return 1
    runner=
    "$work/probe" >>"$work/probe.log" 2>&1 && return 0
    if command -v setarch >/dev/null 2>&1 &&
        setarch "$(uname -m)" -R "$work/probe" >>"$work/probe.log" 2>&1; then
        runner="setarch $(uname -m) -R"
        return 0
    fi
    return 1
}

tried_install=0
install_tools() {
    [ "$tried_install" = 1 ] && return 1
    tried_install=1
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    say "# installing clang, its sanitizer runtimes and CUnit with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev \
        libcunit1-dev >/dev/null 2>&1
}

# find_cc FLAGS: set cc to the first compiler that builds and runs FLAGS.
pick_cc() {
    for c in ${FRG_SAN_CC:-clang clang-14 gcc}; do
        command -v "$c" >/dev/null 2>&1 || continue
        if probe "$c" "$1"; then cc=$c; return 0; fi
    done
    return 1
}
find_cc() {
    pick_cc "$1" && return 0
    install_tools && pick_cc "$1"
}

command -v timeout >/dev/null 2>&1 || { say "timeout(1) not found"; exit 77; }

# ---- sources ---------------------------------------------------------------

snap="$work/snap"
mkdir -p "$snap/src" "$snap/include" "$snap/tests"
if ! { cp "$srcdir"/src/*.c "$srcdir"/src/*.h "$snap/src/" &&
    cp "$srcdir"/include/*.h "$snap/include/" &&
    cp "$srcdir"/tests/*.c "$srcdir"/tests/*.h "$snap/tests/"; }; then
    say "not ok - cannot copy the sources from $srcdir"
    exit 1
fi
rm -f "$snap/src/frgmalloc-stat.c" # a separate program
# A configure-independent config.h: no compiled-in options, debug checks on.
cat >"$snap/config.h" <<'EOF'
/* written by tests/sanitizers.sh */
#define FRG_DEFAULT_OPTIONS ""
#define FRG_DEBUG 1
EOF

# The rseq hand-off model for TSan (see the top of this file): a header
# included before anything else in every library file, for the inline
# sequences (the parenthesised calls reach the real functions past the
# macros), and link-time wrappers (-Wl,--wrap) for the out-of-line ones.
cat >"$work/tsan_rseq_model.h" <<'EOF'
/* written by tests/sanitizers.sh: per-CPU cache hand-offs for TSan */
#define _GNU_SOURCE
#include "rseq.h"
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#if FRG_HAVE_RSEQ
static inline __attribute__((always_inline)) void *frg_san_pop(unsigned cls) {
    void *p = (frg_rseq_pop)(cls);
    if (p)
        __tsan_acquire(p);
    return p;
}
static inline __attribute__((always_inline)) bool frg_san_push(unsigned cls, void *p) {
    __tsan_release(p);
    return (frg_rseq_push)(cls, p);
}
#define frg_rseq_pop(cls) frg_san_pop(cls)
#define frg_rseq_push(cls, p) frg_san_push(cls, p)
#endif
EOF
cat >"$work/tsan_rseq_model.c" <<'EOF'
/* written by tests/sanitizers.sh: per-CPU cache hand-offs for TSan */
#include "large.h"
#include "rseq.h"
#include "slab.h"
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#if FRG_HAVE_RSEQ
unsigned __real_frg_rseq_pop_batch(unsigned cls, void **out, unsigned n);
unsigned __real_frg_rseq_push_batch(unsigned cls, void *const *in, unsigned n);
unsigned __wrap_frg_rseq_pop_batch(unsigned cls, void **out, unsigned n) {
    unsigned got = __real_frg_rseq_pop_batch(cls, out, n);
    for (unsigned i = 0; i < got; i++)
        __tsan_acquire(out[i]);
    return got;
}
unsigned __wrap_frg_rseq_push_batch(unsigned cls, void *const *in, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        __tsan_release(in[i]);
    return __real_frg_rseq_push_batch(cls, in, n);
}
#endif
/* An object going back into its slab may come from a drained cache,
 * pushed there by another thread. */
enum frg_slab_put __real_frg_slab_put(struct frg_span *s, void *p);
enum frg_slab_put __wrap_frg_slab_put(struct frg_span *s, void *p) {
    __tsan_acquire(p);
    return __real_frg_slab_put(s, p);
}
/* So may a large run going back to large.c (a drain, or a full cache). */
bool __real_frg_large_cache_flush(void *const *runs, unsigned n, bool draining);
bool __wrap_frg_large_cache_flush(void *const *runs, unsigned n, bool draining) {
    for (unsigned i = 0; i < n; i++)
        __tsan_acquire(runs[i]);
    return __real_frg_large_cache_flush(runs, n, draining);
}
EOF
MODEL_LDFLAGS="-Wl,--wrap=frg_slab_put,--wrap=frg_large_cache_flush"
case $(uname -m) in
x86_64) MODEL_LDFLAGS="$MODEL_LDFLAGS -Wl,--wrap=frg_rseq_pop_batch,--wrap=frg_rseq_push_batch" ;;
esac

# Each test program is compiled through this driver: testutil.h's
# TU_SKIPPED hook skips the tests and scenarios named in FRG_SAN_SKIP
# (made inactive, listed).
cat >"$work/driver.c" <<'EOF'
/* written by tests/sanitizers.sh: a test file's tests minus FRG_SAN_SKIP */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
static int skipped(const char *name) {
    const char *s = getenv("FRG_SAN_SKIP");
    size_t n = strlen(name);
    while (s && *s) {
        size_t w = strcspn(s, " ");
        if (w == n && !strncmp(s, name, n))
            return 1;
        s += w + (s[w] == ' ');
    }
    return 0;
}
#define TU_SKIPPED(name) skipped(name)
#include "testutil.h"
#include FRG_SAN_TEST
EOF

# ---- building --------------------------------------------------------------

BASE_CFLAGS="-O1 -g -fno-omit-frame-pointer -std=gnu11 -pthread -fvisibility=hidden \
-fno-strict-aliasing -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc \
-fno-builtin-realloc -DHAVE_CONFIG_H -I$snap -I$snap/src -I$snap/include -I$snap/tests -w"

# build NAME FLAGS TESTS MODEL: the library's objects (in parallel), then
# each test program; sets `built` to the tests that exist.
build() {
    name=$1 flags=$2 tests=$3 model=$4
    out="$work/$name"
    mkdir -p "$out"
    : >"$out/build.log"
    inc= ldmodel=
    if [ -n "$model" ]; then
        inc="-include $work/tsan_rseq_model.h"
        ldmodel="$out/model/model.o $MODEL_LDFLAGS"
        mkdir -p "$out/model"
    fi
    for f in "$snap"/src/*.c; do
        printf '%s\n' "$cc $BASE_CFLAGS $flags $inc -c $f -o $out/$(basename "$f" .c).o"
    done >"$out/compile.cmds"
    [ -n "$model" ] && printf '%s\n' \
        "$cc $BASE_CFLAGS $flags -c $work/tsan_rseq_model.c -o $out/model/model.o" \
        >>"$out/compile.cmds"
    # one complete command per line; sh -c '$0' runs it
    tr '\n' '\0' <"$out/compile.cmds" |
        xargs -0 -P "$jobs" -n 1 sh -c '$0' >>"$out/build.log" 2>&1 || return 1
    built=
    for t in $tests; do
        [ -f "$snap/tests/$t.c" ] || continue
        # a test with a main of its own (no TU_MAIN) is linked as it is
        main="$work/driver.c"
        grep -Eq '^TU_(SCENARIO_)?MAIN' "$snap/tests/$t.c" || main="$snap/tests/$t.c"
        $cc $BASE_CFLAGS $flags -DFRG_SAN_TEST="\"$t.c\"" "$main" "$out"/*.o $ldmodel \
            -lcunit -o "$out/$t" >>"$out/build.log" 2>&1 || return 1
        built="$built $t"
    done
    return 0
}

# ---- running ---------------------------------------------------------------

REPORT_RE='WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer|ThreadSanitizer: reported|frgmalloc: (fatal|assertion)'

# run_tests NAME MODE SKIP EXTRA: every built test of build NAME in
# percpu:MODE, then the EXTRA runs ("test@options": the test again with
# more options).  Prints one line (and the reports); returns 1 on failure.
run_tests() {
    name=$1 mode=$2 skip=$3 extra=$4
    out="$work/$name"
    rdir="$out/reports-$mode"
    mkdir -p "$rdir"
    failed= note= shown=0 start=$(date +%s)
    : >"$out/failures.txt"
    runs=$built
    for x in $extra; do
        case " $built " in *" ${x%%@*} "*) runs="$runs $x" ;; esac
    done
    for run in $runs; do
        t=${run%%@*} conf="percpu:$mode"
        [ "$t" != "$run" ] && conf="$conf,${run#*@}"
        tag=$(printf '%s' "$run" | tr -c 'A-Za-z0-9_.\n-' '_')
        log="$out/$tag.$mode.log"
        FRGMALLOC_CONF="$conf" FRG_SAN_SKIP="$skip" \
            TSAN_OPTIONS="log_path=$rdir/$tag halt_on_error=0 exitcode=66 history_size=4 second_deadlock_stack=1 atexit_sleep_ms=50" \
            ASAN_OPTIONS="log_path=$rdir/$tag exitcode=66 detect_leaks=1 detect_stack_use_after_return=1 strict_init_order=1 check_initialization_order=1" \
            LSAN_OPTIONS="log_path=$rdir/$tag exitcode=66" \
            UBSAN_OPTIONS="log_path=$rdir/$tag halt_on_error=1 exitcode=66 print_stacktrace=1" \
            timeout -k 10 "$timeout_s" $runner "$out/$t" >"$log" 2>&1
        rc=$?
        if [ "$mode" = rseq ] && grep -q 'rseq is unavailable' "$log"; then
            note=" # SKIP rseq unavailable, ran in lock mode"
        fi
        reports=$(ls "$rdir/$tag".* 2>/dev/null)
        if [ $rc -ne 0 ] || [ -n "$reports" ] || grep -Eq "$REPORT_RE" "$log"; then
            case $rc in
            0 | 66) why="sanitizer report" ;;
            124 | 137) why="timed out after ${timeout_s}s" ;;
            *) why="exit status $rc" ;;
            esac
            failed="$failed $run"
            {
                say "# --- $name $conf $t: $why"
                if [ -n "$reports" ]; then
                    say "# distinct reports:"
                    cat $reports | grep -E '^SUMMARY:|runtime error:' | sed "s#$snap/##g" |
                        sort | uniq -c | sort -rn | head -25 | sed 's/^/#   /'
                    if [ "$shown" = 0 ]; then # one report in full per line
                        shown=1
                        say "# the first in full:"
                        cat $reports | sed '/^  *Shadow bytes around/,$d' |
                            sed "s#$snap/##g; s# (BuildId: [0-9a-f]*)##; s# ([^ ()]*+0x[0-9a-f]*)##" |
                            sed -n '1,45p' | sed 's/^/#   /'
                    fi
                fi
                grep -E "$REPORT_RE|FAILED|^ +[0-9]+\. " "$log" | head -15 | sed 's/^/#   /'
            } >>"$out/failures.txt"
        fi
    done
    secs=$(($(date +%s) - start))
    if [ -n "$failed" ]; then
        say "not ok - $name percpu:$mode:$failed (${secs}s)"
        cat "$out/failures.txt"
        return 1
    fi
    say "ok - $name percpu:$mode:$runs (${secs}s)$note"
    return 0
}

# ---- the builds -------------------------------------------------------------

status=0 ran=0
for b in $builds; do
    model= extra=
    case $b in
    tsan) flags="-fsanitize=thread" tests=$NOFORK_TESTS modes="lock lease off" skip=$SKIP_TSAN
        extra=$HOT_PURGER ;;
    tsan-rseq) flags="-fsanitize=thread" tests=$NOFORK_TESTS modes="rseq" skip=$SKIP_TSAN
        extra=$HOT_PURGER model=1 ;;
    asan) flags="-fsanitize=address -fsanitize-address-use-after-scope"
        tests=$ALL_TESTS modes="rseq lease lock" skip=$SKIP_ASAN ;;
    ubsan) flags="-fsanitize=undefined -fno-sanitize-recover=all"
        tests=$ALL_TESTS modes="rseq lease lock off" skip=$SKIP_UBSAN ;;
    *) say "not ok - unknown build '$b'"; status=1; continue ;;
    esac
    tests=${FRG_SAN_TESTS:-$tests}
    if ! find_cc "$flags"; then
        say "ok - $b # SKIP no compiler can build and run $flags"
        continue
    fi
    t0=$(date +%s)
    if ! build "$b" "$flags" "$tests" "$model"; then
        say "not ok - $b: build failed ($cc)"
        sed -n '1,30p' "$work/$b/build.log" | sed 's/^/#   /'
        status=1 keep=1
        continue
    fi
    say "# $b: built with $cc in $(($(date +%s) - t0))s${runner:+, run under $runner}"
    ran=1
    case $b in
    tsan*) export FRG_STRESS_OPS=30000 FRG_STRESS_THREADS=16 ;;
    *) export FRG_STRESS_OPS=20000 FRG_STRESS_THREADS=16 ;;
    esac
    for m in $modes; do
        run_tests "$b" "$m" "$skip" "$extra" || { status=1; keep=1; }
    done
done
[ "$ran" = 0 ] && [ "$status" = 0 ] && exit 77
exit $status
