#!/bin/sh
# fuzz.sh - build the libFuzzer harness tests/fuzz/fuzz_ops.c against the
# allocator's internals and run it: first every input of the seed corpus
# (tests/fuzz/corpus) once in each per-CPU cache mode, then a bounded
# fresh fuzzing run.  Any crash, failed check or sanitizer report fails.
#
# The library is compiled "override off" (only frg_* defined, so the
# sanitizers and libFuzzer keep their own malloc), with FRG_DEBUG
# (internal assertions), coverage instrumentation, UBSan
# (-fno-sanitize-recover) and ASan; the harness aborts on any
# inconsistency it sees (see fuzz_ops.c).
#
# The fresh run is two fuzzers side by side for FRG_FUZZ_SECONDS each, on
# a scratch copy of the corpus: one with the purger thread off (so the
# harness also checks stats.allocated) in the default per-CPU mode, one in
# percpu:lock with a purger that decays every few milliseconds, running
# concurrently with the harness.
#
# Environment:
#   srcdir             top of the source tree (default: this script's ../)
#   FRG_FUZZ_SECONDS   length of the fresh run (default 60; 0 = corpus only)
#   FRG_FUZZ_SANITIZE  sanitizers besides fuzzer (default address,undefined)
#   FRG_FUZZ_SEED      libFuzzer -seed for the fresh run (default: random)
#   FRG_FUZZ_KEEP=1    keep the scratch directory (it is kept on failure)
# `sh tests/fuzz.sh --regen-corpus [SECONDS]` instead fuzzes from nothing
# for SECONDS (default 150) and replaces tests/fuzz/corpus with the
# minimised (-merge=1) result, packed into 24 files.
#
# Exit status: 0 clean, 1 a finding, 77 clang's libFuzzer not available.
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "${srcdir:-$here/..}" && pwd) || exit 99
seconds=${FRG_FUZZ_SECONDS:-60}
sanitize=${FRG_FUZZ_SANITIZE:-address,undefined}
corpus="$srcdir/tests/fuzz/corpus"
regen=0
if [ "${1:-}" = --regen-corpus ]; then
    regen=1
    seconds=${2:-150}
fi

say() { printf '%s\n' "$*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/frg-fuzz.XXXXXX") || exit 99
keep=${FRG_FUZZ_KEEP:-0}
pids= # fuzzers running in the background
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null; done
    if [ "$keep" = 1 ]; then say "# scratch directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- clang with libFuzzer ----------------------------------------------------

command -v timeout >/dev/null 2>&1 || { say "timeout(1) not found"; exit 77; }

cat >"$work/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return (int)(n && d[0] == 0) * 0; }
EOF
probe() {
    "$1" -fsanitize=fuzzer,$sanitize "$work/probe.c" -o "$work/probe" >"$work/probe.log" 2>&1 &&
        "$work/probe" -runs=10 >>"$work/probe.log" 2>&1
}
cc=
for c in ${FRG_FUZZ_CC:-clang clang-14}; do
    command -v "$c" >/dev/null 2>&1 && probe "$c" && { cc=$c; break; }
done
if [ -z "$cc" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "# installing clang and its runtimes with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev \
        >/dev/null 2>&1
    for c in clang clang-14; do
        command -v "$c" >/dev/null 2>&1 && probe "$c" && { cc=$c; break; }
    done
fi
if [ -z "$cc" ]; then
    say "clang with -fsanitize=fuzzer,$sanitize not available"
    sed -n '1,5p' "$work/probe.log"
    exit 77
fi

# ---- build from a copy of the sources ------------------------------------------

snap="$work/snap"
mkdir -p "$snap/src" "$snap/include"
if ! { cp "$srcdir"/src/*.c "$srcdir"/src/*.h "$snap/src/" &&
    cp "$srcdir"/include/*.h "$snap/include/" &&
    cp "$srcdir/tests/fuzz/fuzz_ops.c" "$snap/"; }; then
    say "not ok - cannot copy the sources from $srcdir"
    exit 1
fi
rm -f "$snap/src/frgmalloc-stat.c"
# A configure-independent config.h: no compiled-in options, debug checks
# (assertions, lock order) on.
cat >"$snap/config.h" <<'EOF'
/* written by tests/fuzz.sh */
#define FRG_DEFAULT_OPTIONS ""
#define FRG_DEBUG 1
EOF

CFLAGS="-O1 -g -fno-omit-frame-pointer -std=gnu11 -pthread -fvisibility=hidden \
-fno-strict-aliasing -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc \
-fno-builtin-realloc -DHAVE_CONFIG_H -I$snap -I$snap/src -I$snap/include \
-fno-sanitize-recover=undefined"
t0=$(date +%s)
for f in "$snap"/src/*.c; do
    printf '%s\n' "$cc $CFLAGS -w -fsanitize=fuzzer-no-link,$sanitize -c $f -o $f.o"
done | tr '\n' '\0' | xargs -0 -P "$(nproc 2>/dev/null || echo 2)" -n 1 sh -c '$0' \
    >"$work/build.log" 2>&1 &&
    $cc $CFLAGS -Wall -Wextra -fsanitize=fuzzer,$sanitize "$snap/fuzz_ops.c" "$snap"/src/*.o \
        -o "$work/fuzz_ops" >>"$work/build.log" 2>&1
if [ ! -x "$work/fuzz_ops" ]; then
    say "not ok - fuzz_ops build failed"
    sed -n '1,30p' "$work/build.log" | sed 's/^/#   /'
    keep=1
    exit 1
fi
say "# fuzz_ops built with $cc (-fsanitize=fuzzer,$sanitize) in $(($(date +%s) - t0))s"

export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
FUZZ_OPTS="-max_len=4096 -timeout=30 -rss_limit_mb=3072 -print_final_stats=1 -error_exitcode=1"

# show_finding LOG: the harness's or sanitizer's report, and the stack
# frames in the library or the harness.
show_finding() {
    grep -E 'fuzz_ops:|ERROR:|runtime error|SUMMARY|deadly signal|Test unit written|Seed:' "$1" |
        grep -v 'Running [0-9]* inputs' | head -12 | sed "s#$work/##g; s/^/#   /"
    grep -E '^ +#[0-9]+ .*/snap/' "$1" | head -12 |
        sed "s#$snap/##g; s# (BuildId: [0-9a-f]*)##; s/^/#   /"
}

status=0

# ---- regenerate the seed corpus --------------------------------------------------

if [ "$regen" = 1 ]; then
    mkdir -p "$work/raw" "$work/min"
    say "# fuzzing for ${seconds}s from nothing"
    FRGMALLOC_CONF="background:false" "$work/fuzz_ops" $FUZZ_OPTS -max_len=1024 \
        -max_total_time="$seconds" -artifact_prefix="$work/" "$work/raw" >"$work/regen.log" 2>&1 || {
        say "not ok - a finding while generating the corpus"
        show_finding "$work/regen.log"
        keep=1
        exit 1
    }
    "$work/fuzz_ops" -merge=1 $FUZZ_OPTS "$work/min" "$work/raw" >"$work/merge.log" 2>&1 || {
        say "not ok - merge failed"; tail -5 "$work/merge.log"; keep=1; exit 1; }
    # Hundreds of tiny inputs: concatenated round-robin into 24 seeds
    # (an input is a sequence of operations, so a concatenation runs them
    # all), to keep the corpus small; their edge coverage is compared.
    mkdir -p "$work/pack"
    i=0
    for f in "$work"/min/*; do
        cat "$f" >>"$work/pack/seed-$(printf %02d $((i % 24)))"
        i=$((i + 1))
    done
    cov() { "$work/fuzz_ops" -runs=0 $FUZZ_OPTS "$1" 2>&1 | sed -n 's/.*INITED \(cov: [0-9]*\).*/\1/p'; }
    say "# $i merged inputs ($(cov "$work/min")) packed into 24 seeds ($(cov "$work/pack"))"
    mkdir -p "$corpus"
    rm -f "$corpus"/*
    cp "$work"/pack/* "$corpus/"
    say "ok - corpus: $(ls "$corpus" | wc -l) inputs, $(cat "$corpus"/* | wc -c) bytes in $corpus"
    exit 0
fi

# ---- the seed corpus, once per mode ------------------------------------------------

if [ -d "$corpus" ] && [ -n "$(ls "$corpus")" ]; then
    n=$(ls "$corpus" | wc -l)
    for conf in "percpu:rseq" "percpu:lock,decay_ms:5" "percpu:off,background:false"; do
        log="$work/replay-$(echo "$conf" | tr ':,' '__').log"
        t0=$(date +%s)
        if FRGMALLOC_CONF="$conf" timeout -k 10 300 "$work/fuzz_ops" $FUZZ_OPTS \
            -artifact_prefix="$work/" "$corpus"/* >"$log" 2>&1 &&
            ! grep -q 'runtime error' "$log"; then
            say "ok - corpus replay, $n inputs, FRGMALLOC_CONF=$conf ($(($(date +%s) - t0))s)"
        else
            say "not ok - corpus replay, FRGMALLOC_CONF=$conf"
            show_finding "$log"
            status=1 keep=1
        fi
    done
else
    say "not ok - no seed corpus in $corpus"
    status=1
fi

# ---- a fresh run ----------------------------------------------------------------------

FRESH_CONFS="background:false percpu:lock,decay_ms:5"
if [ "$seconds" -gt 0 ]; then
    seed=${FRG_FUZZ_SEED:-}
    for conf in $FRESH_CONFS; do
        tag=$(echo "$conf" | tr ':,' '__')
        mkdir -p "$work/corpus-$tag"
        cp "$corpus"/* "$work/corpus-$tag/" 2>/dev/null
        FRGMALLOC_CONF="$conf" timeout -k 10 $((seconds + 120)) "$work/fuzz_ops" $FUZZ_OPTS \
            ${seed:+-seed=$seed} -max_total_time="$seconds" -artifact_prefix="$work/$tag-" \
            "$work/corpus-$tag" >"$work/fresh-$tag.log" 2>&1 &
        pids="$pids $!"
    done
    i=0
    for pid in $pids; do
        wait "$pid"
        rc=$?
        i=$((i + 1))
        conf=$(echo "$FRESH_CONFS" | cut -d' ' -f$i)
        tag=$(echo "$conf" | tr ':,' '__')
        log="$work/fresh-$tag.log"
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        if [ "$rc" -eq 0 ] && ! grep -q 'runtime error' "$log"; then
            say "ok - fresh fuzzing ${seconds}s, FRGMALLOC_CONF=$conf: ${runs:-?} inputs," \
                "$(grep -o 'Seed: [0-9]*' "$log" | head -1)"
        else
            say "not ok - fresh fuzzing, FRGMALLOC_CONF=$conf (exit $rc)"
            show_finding "$log"
            for a in "$work/$tag-"*; do
                [ -f "$a" ] && say "#   input: $a (replay: FRGMALLOC_CONF=$conf $work/fuzz_ops $a)"
            done
            status=1 keep=1
        fi
    done
    pids=
fi
exit $status
