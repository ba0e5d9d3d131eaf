#!/bin/sh
# preload.sh - whole-process use: preload_prog and ordinary system programs
# run with libfrgmalloc.so in LD_PRELOAD (directly and through the
# frgmalloc-run launcher), in every per-CPU cache mode.
set -u
top="${top_builddir:-.}"
lib="$top/.libs/libfrgmalloc.so"
prog="$top/tests/preload_prog"
fail=0
[ -r "$lib" ] || { echo "not ok - $lib missing"; exit 1; }
# rseq-own: frgmalloc's own rseq area, as with a glibc before 2.35 (see
# run-modes.sh); the exit statistics say whose area was used.  The rseq
# modes are skipped where the build or the kernel cannot have rseq: asked
# of the unit tests' probe (tu_rseq_possible: 77 means it cannot).
# Lease mode likewise (tu_lease_possible).  "no-rseq" is the default
# configuration with glibc told not to register rseq: lease mode where
# glibc has rseq support, frgmalloc's own rseq area where it has none.
FRG_TEST_EXPECT=rseq/probe FRGMALLOC_CONF=percpu:lock "$top/tests/test_sizeclass" >/dev/null 2>&1
[ $? -eq 77 ] && rseq_possible=no || rseq_possible=yes
FRG_TEST_EXPECT=lease/probe FRGMALLOC_CONF=percpu:lock "$top/tests/test_sizeclass" >/dev/null 2>&1
[ $? -eq 77 ] && lease_possible=no || lease_possible=yes
default_area=$(sh "${srcdir:-.}/tests/default-rseq-area.sh")
for mode in rseq rseq-own lease no-rseq lock off; do
    case $mode in rseq*) if [ $rseq_possible = no ]; then
        echo "ok - preload_prog [$mode] # SKIP this build or kernel cannot run rseq"; continue
    fi ;; lease|no-rseq) if [ $lease_possible = no ]; then
        echo "ok - preload_prog [$mode] # SKIP this kernel cannot run lease mode"; continue
    fi ;; esac
    conf="percpu:$mode" tunables= want="rseq area: none"
    case $mode in
    rseq) want="rseq area: $default_area" ;;
    rseq-own) conf="percpu:rseq,rseq_own:always" tunables=glibc.pthread.rseq=0
              want="rseq area: frgmalloc" ;;
    lease) tunables=glibc.pthread.rseq=0 want="Per-CPU caches: lease" ;;
    no-rseq) conf="percpu:auto" tunables=glibc.pthread.rseq=0 want="Per-CPU caches: lease"
             [ "$default_area" = frgmalloc ] && want="rseq area: frgmalloc" ;;
    esac
    out=$(GLIBC_TUNABLES=$tunables FRGMALLOC_CONF="$conf,stats_print:true" LD_PRELOAD="$lib" \
          "$prog" 2>&1)
    if echo "$out" | grep -qx "preload_prog: ok" && echo "$out" | grep -q "$want"; then
        echo "ok - preload_prog [$mode]"
    else echo "not ok - preload_prog [$mode] (want '$want'): $out"; fail=1; fi
done
# The launcher.
out=$(FRGMALLOC_LIB="$lib" "$top/frgmalloc-run" "$prog" 2>&1)
if [ "$out" = "preload_prog: ok" ]; then echo "ok - frgmalloc-run"
else echo "not ok - frgmalloc-run: $out"; fail=1; fi
# Ordinary programs: same output with and without the library.
for cmd in "ls -la /usr/lib" "sort /etc/services" "sh -c 'for i in 1 2 3; do echo \$i; done | tac'"; do
    want=$(sh -c "$cmd" 2>&1)
    got=$(LD_PRELOAD="$lib" sh -c "$cmd" 2>&1)
    if [ "$want" = "$got" ]; then echo "ok - $cmd"
    else echo "not ok - $cmd differs"; fail=1; fi
done
# Misuse through the preloaded names.
cat > "${TMPDIR:-/tmp}/frg_df_$$.c" <<'C'
#include <stdlib.h>
#include <stdio.h>
int main(void) { char *p = malloc(24); printf("%p\n", (void *)p); fflush(stdout); free(p); free(p); return 0; }
C
if cc -O0 -o "${TMPDIR:-/tmp}/frg_df_$$" "${TMPDIR:-/tmp}/frg_df_$$.c" 2>/dev/null; then
    ptr=$(LD_PRELOAD="$lib" "${TMPDIR:-/tmp}/frg_df_$$" 2>"${TMPDIR:-/tmp}/frg_df_$$.err")
    status=$?
    msg=$(cat "${TMPDIR:-/tmp}/frg_df_$$.err")
    if [ "$status" -eq 134 ] && [ "$msg" = "frgmalloc: double free of $ptr" ]; then
        echo "ok - double free through free() aborts with the message"
    else
        echo "not ok - double free: status $status, stderr '$msg', pointer $ptr"; fail=1
    fi
fi
rm -f "${TMPDIR:-/tmp}/frg_df_$$" "${TMPDIR:-/tmp}/frg_df_$$.c" "${TMPDIR:-/tmp}/frg_df_$$.err"
exit $fail
