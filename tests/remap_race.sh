#!/bin/sh
# remap_race.sh - huge objects grown by mremap on 8 threads, with every
# mremap slowed by tests/libslowmremap.so so that other threads map and
# register addresses while the mover is still inside (tests/remap_race.c
# says what goes wrong if the mover clears its old page-map entry too
# late).  With the huge cache off every grow goes through the kernel; with
# it on, cached mappings are grown too.  In every per-CPU cache mode.
set -u
top="${top_builddir:-.}"
lib="$top/.libs/libfrgmalloc.so"
shim="$top/tests/libslowmremap.so"
prog="$top/tests/remap_race"
fail=0
for f in "$lib" "$shim" "$prog"; do
    [ -r "$f" ] || { echo "not ok - $f missing"; exit 1; }
done
for conf in huge_cache_max:0 ""; do
    for mode in rseq lock off; do
        c="percpu:$mode${conf:+,$conf}"
        out=$(FRGMALLOC_CONF="$c" LD_PRELOAD="$shim $lib" "$prog" 2>&1)
        status=$?
        if [ "$status" -eq 0 ] && [ "$out" = "remap_race: ok" ]; then
            echo "ok - remap_race [$c]"
        else
            echo "not ok - remap_race [$c]: status $status: $out"
            fail=1
        fi
    done
done
exit $fail
