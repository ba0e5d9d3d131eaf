#!/bin/sh
# valgrind.sh - the unit tests under valgrind memcheck: zero errors
# allowed.  Under valgrind glibc does not register rseq, so the library
# runs in lease mode (valgrind passes membarrier through; its slow paths
# are lock mode's); the stress and fork tests are shortened.
set -u
top="${top_builddir:-.}"
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind not installed"; exit 77
fi
fail=0
for t in test_api test_sizeclass test_align test_realloc test_internals test_stress test_mallctl \
         test_threads test_fork test_misuse; do
    log="$top/tests/valgrind-$t.out"
    if FRG_STRESS_OPS=4000 FRG_FORK_PURGE_ROUNDS=0 FRG_FORK_ROUNDS=6 valgrind -q --fair-sched=yes --error-exitcode=9 --max-threads=700 \
        --errors-for-leak-kinds=definite "$top/tests/$t" >"$log" 2>&1; then
        echo "ok - $t under memcheck"
        rm -f "$log"
    else
        echo "not ok - $t under memcheck (see $log)"
        grep -E "^==[0-9]+== [A-Z]|Invalid|uninitialised|FAILED" "$log" | head -20
        fail=1
    fi
done
exit $fail
