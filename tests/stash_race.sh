#!/bin/sh
# stash_race.sh - a double free while a full purge gives an emptied slab
# back, with madvise slowed by tests/libslowmadvise.so so that the second
# free lands after the kernel zeroed the slab's pages (tests/stash_race.c
# says what goes wrong if the slab's page-map entries still name it then).
# Every double free must be reported, none may be cached.  In every
# per-CPU cache mode.
set -u
top="${top_builddir:-.}"
lib="$top/.libs/libfrgmalloc.so"
shim="$top/tests/libslowmadvise.so"
prog="$top/tests/stash_race"
fail=0
for f in "$lib" "$shim" "$prog"; do
    [ -r "$f" ] || { echo "not ok - $f missing"; exit 1; }
done
for mode in rseq lease lock off; do
    # purge_vector:false: madvise, not process_madvise, so that the shim sees
    # it; dirty_min:16M: room for the emptied slabs in the stash, whose
    # purge is the window tested (a slab sent to the page heap instead is
    # off the page map before its purge, and would pass without the fix)
    c="percpu:$mode,misuse:report,purge_vector:false,dirty_min:16M"
    out=$(FRGMALLOC_CONF="$c" LD_PRELOAD="$shim $lib" "$prog" 2>&1)
    status=$?
    n=$(printf '%s\n' "$out" | sed -n 's/^stash_race: ok (\([0-9]*\) double frees)$/\1/p')
    reports=$(printf '%s\n' "$out" | grep -c '^frgmalloc: double free of 0x')
    others=$(printf '%s\n' "$out" | grep -v -e '^frgmalloc: double free of 0x' -e '^stash_race: ok' | grep -c .)
    if [ "$status" -eq 0 ] && [ -n "$n" ] && [ "$n" -gt 0 ] && [ "$reports" -eq "$n" ] && [ "$others" -eq 0 ]; then
        echo "ok - stash_race [$c]: $n double frees, all reported"
    else
        echo "not ok - stash_race [$c]: status $status, $reports reports: $out"
        fail=1
    fi
done
exit $fail
