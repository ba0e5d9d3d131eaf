#!/bin/sh
# fork_start.sh - fork while the purger thread is still starting.  A shim
# (tests/libslowthread.so) delays every new thread before its start
# routine; tests/fork_start forks at once in main.
#   delay 300 ms: the first fork waits for the purger (150-1000 ms), and
#                 the child starts its own purger (2 threads), and so does
#                 a child it forks at once;
#   delay 3 s:    the wait gives up after about 1 s (700-2000 ms), and the
#                 child, whose purger might never get through its start-up
#                 (the deadlock this guards against), starts none (1
#                 thread), nor does its own child.
# Without the wait the fork takes a few ms and the test fails.
set -u
top="${top_builddir:-.}"
lib="$top/.libs/libfrgmalloc.so"
shim="$top/tests/libslowthread.so"
prog="$top/tests/fork_start"
for f in "$lib" "$shim" "$prog"; do
    [ -r "$f" ] || { echo "not ok - $f missing"; exit 1; }
done
fail=0
check() { # delay min_ms max_ms threads
    out=$(FRGMALLOC_CONF=background:true FRG_TEST_START_DELAY_MS=$1 LD_PRELOAD="$shim $lib" "$prog" 2>&1)
    status=$?
    ms=$(printf '%s' "$out" | sed -n 's/.*fork_ms=\([0-9]*\).*/\1/p')
    th=$(printf '%s' "$out" | sed -n 's/.* child_threads=\([0-9]*\).*/\1/p')
    gth=$(printf '%s' "$out" | sed -n 's/.*grandchild_threads=\([0-9]*\).*/\1/p')
    okc=$(printf '%s' "$out" | sed -n 's/.*child_ok=\([0-9]*\).*/\1/p')
    if [ "$status" -eq 0 ] && [ -n "$ms" ] && [ "$ms" -ge "$2" ] && [ "$ms" -le "$3" ] &&
        [ "$th" = "$4" ] && [ "$gth" = "$4" ] && [ "$okc" = 1 ]; then
        echo "ok - purger start delayed ${1} ms: $out"
    else
        echo "not ok - purger start delayed ${1} ms (want fork ${2}-${3} ms, $4 threads in child and grandchild): status $status: $out"
        fail=1
    fi
}
check 300 150 1000 2
check 3000 700 2000 1
exit $fail
