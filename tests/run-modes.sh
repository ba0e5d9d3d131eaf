#!/bin/sh
# run-modes.sh TEST - run a test program once per per-CPU cache mode, so
# that the whole suite covers every mode.  Used as the automake
# LOG_COMPILER of the unit tests.  FRG_TEST_MODES narrows the list:
#   rseq      percpu:rseq on the default rseq area: glibc's from glibc
#             2.35, frgmalloc's own before (tests/default-rseq-area.sh)
#   rseq-own  percpu:rseq on frgmalloc's own area: glibc is told not to
#             register one (glibc.pthread.rseq=0), as a glibc before 2.35
#             never does, and rseq_own:always registers ours
#   rseq-migrate  percpu:rseq with drains fencing a CPU by moving onto it,
#             as on a kernel before 5.10 (rseq_fence:migrate)
#   lease     percpu:lease with glibc told not to register rseq, as where
#             lease mode is chosen by itself (kernels before 5.10)
#   lock      percpu:lock
#   off       percpu:off, with the page map's tree layout (pagemap:tree;
#             every other mode runs the default flat one)
# Each run tells the test which mode and area to expect (FRG_TEST_EXPECT,
# tests/testutil.h) and which page-map layout (FRG_TEST_PAGEMAP); a mode
# that fell back to another fails, except an rseq or lease mode on a
# build or kernel that cannot have one: skipped (77), and said so (and
# the flat page map where it is not possible: run as is, and said so).
# The unit tests link libfrgmalloc.a, which registers its own rseq area
# only with rseq_own:always (design.md), so on a glibc without rseq
# support the rseq mode asks for it.
set -u
fail=0
default_area=$(sh "$(dirname "$0")/default-rseq-area.sh")
for mode in ${FRG_TEST_MODES:-rseq rseq-own rseq-migrate lease lock off}; do
    tunables=${GLIBC_TUNABLES:-}
    pagemap=flat layout=
    case $mode in
    rseq) conf=percpu:rseq expect=rseq/$default_area
          [ "$default_area" = frgmalloc ] && conf=$conf,rseq_own:always ;;
    rseq-own) conf=percpu:rseq,rseq_own:always expect=rseq/frgmalloc
              tunables=glibc.pthread.rseq=0${tunables:+:$tunables} ;;
    rseq-migrate) conf=percpu:rseq,rseq_fence:migrate expect=rseq/$default_area/migrate
          [ "$default_area" = frgmalloc ] && conf=$conf,rseq_own:always ;;
    lease) conf=percpu:lease expect=lease/none
           tunables=glibc.pthread.rseq=0${tunables:+:$tunables} ;;
    lock) conf=percpu:lock expect=lock/none ;;
    off) conf=percpu:off expect=off/none pagemap=tree layout=pagemap:tree ;;
    *) echo "run-modes.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
    echo "=== percpu:$mode"
    GLIBC_TUNABLES=$tunables FRG_TEST_EXPECT=$expect FRG_TEST_PAGEMAP=$pagemap \
        FRGMALLOC_CONF="$conf${layout:+,$layout}${FRGMALLOC_CONF:+,$FRGMALLOC_CONF}" "$@"
    case $? in
    0) echo "=== percpu:$mode: pass" ;;
    77) echo "=== percpu:$mode: SKIP" ;;
    *) echo "=== percpu:$mode: FAIL"; fail=1 ;;
    esac
done
exit $fail
