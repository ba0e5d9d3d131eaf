#!/bin/sh
# mlock.sh - mlockall in a process running libfrgmalloc.so: the flat page
# map's 256 GiB reservation of address space must cost no locked memory
# (tests/mlock_prog.c).  With the default layout (flat where the kernel
# gives the reservation) and with pagemap:tree; and with the library
# loaded after mlockall(MCL_FUTURE).
set -u
top="${top_builddir:-.}"
lib="$top/.libs/libfrgmalloc.so"
prog="$top/tests/mlock_prog"
fail=0
for f in "$lib" "$prog"; do
    [ -r "$f" ] || { echo "not ok - $f missing"; exit 1; }
done
# Would the default layout be flat here?  Asked of the unit tests' probe
# (tu_flat_pagemap_possible) through a test that checks the layout.
FRG_TEST_PAGEMAP=flat FRGMALLOC_CONF=percpu:lock "$top/tests/test_sizeclass" 2>/dev/null |
    grep -q "refused or limited here" && flat=tree || flat=flat
for conf in "" pagemap:tree; do
    expect=$flat
    [ -n "$conf" ] && expect=tree
    out=$(MLOCK_EXPECT_LAYOUT=$expect FRGMALLOC_CONF="misuse:report${conf:+,$conf}" \
          LD_PRELOAD="$lib" "$prog" 2>&1)
    status=$?
    reports=$(printf '%s\n' "$out" | grep -c '^frgmalloc: invalid free of 0x')
    if [ "$status" -eq 77 ]; then
        echo "ok - mlock [${conf:-default}] # SKIP $(printf '%s\n' "$out" | tail -1)"
    elif [ "$status" -eq 0 ] && printf '%s\n' "$out" | grep -qx "mlock_prog: ok" && [ "$reports" -eq 1 ]; then
        echo "ok - mlock [${conf:-default}]: $(printf '%s\n' "$out" | grep 'layout')"
    else
        echo "not ok - mlock [${conf:-default}]: status $status, $reports reports: $out"
        fail=1
    fi
done
out=$(MLOCK_EXPECT_LAYOUT=$flat "$prog" future "$lib" 2>&1)
status=$?
if [ "$status" -eq 77 ]; then
    echo "ok - mlock [MCL_FUTURE, then dlopen] # SKIP $out"
elif [ "$status" -eq 0 ] && printf '%s\n' "$out" | grep -q "^mlock_prog: ok"; then
    echo "ok - mlock [MCL_FUTURE, then dlopen]: $(printf '%s\n' "$out" | head -1)"
else
    echo "not ok - mlock [MCL_FUTURE, then dlopen]: status $status: $out"
    fail=1
fi
exit $fail
