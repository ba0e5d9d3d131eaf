#!/bin/sh
# run-modes.sh TEST - run a test program once per per-CPU cache mode
# (percpu:rseq, percpu:lock, percpu:off).  Used as the automake
# LOG_COMPILER of the unit tests so the whole suite covers every mode.
# FRG_TEST_MODES narrows the list.
set -u
fail=0
for mode in ${FRG_TEST_MODES:-rseq lock off}; do
    echo "=== percpu:$mode"
    if FRGMALLOC_CONF="percpu:$mode${FRGMALLOC_CONF:+,$FRGMALLOC_CONF}" "$@"; then
        echo "=== percpu:$mode: pass"
    else
        echo "=== percpu:$mode: FAIL"
        fail=1
    fi
done
exit $fail
