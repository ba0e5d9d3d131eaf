#!/bin/sh
# madvise_strace.sh - the kernel's own count: a program that allocates and
# frees the same 24 MiB working set 300 times (small and large objects)
# under LD_PRELOAD makes a bounded number of purging calls (madvise, or
# process_madvise where the kernel batches ranges), counted by strace -c,
# not one per round.  The purger thread is off here: its decay
# passes purge what stayed unused for decay_ms, a few times a second at
# most (bounded by time, not by rounds), and on a loaded machine the rounds
# take longer; this test is about the eager purging in free().
set -u
top="${top_builddir:-.}"
lib="$top/.libs/libfrgmalloc.so"
command -v strace >/dev/null 2>&1 || { echo "strace not installed"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/pingpong.c" <<'C'
#include <stdlib.h>
#include <string.h>
int main(void) {
    static void *small[60000], *large[48];
    for (int round = 0; round < 300; round++) {
        for (int i = 0; i < 60000; i++) { small[i] = malloc(200); memset(small[i], round, 200); }
        for (int i = 0; i < 48; i++) { large[i] = malloc(256 << 10); memset(large[i], round, 4096); }
        for (int i = 0; i < 60000; i++) free(small[i]);
        for (int i = 0; i < 48; i++) free(large[i]);
    }
    return 0;
}
C
cc -O1 -o "$work/pingpong" "$work/pingpong.c" || exit 1
FRGMALLOC_CONF="background:false${FRGMALLOC_CONF:+,$FRGMALLOC_CONF}" LD_PRELOAD="$lib" \
    strace -f -c -e trace=madvise,process_madvise -o "$work/strace.out" "$work/pingpong"
calls=$(awk '$NF == "madvise" || $NF == "process_madvise" {n += $4} END {print n + 0}' "$work/strace.out")
if [ "$calls" -le 40 ]; then
    echo "ok - 300 rounds of a 24 MiB working set: $calls madvise/process_madvise calls (strace -c)"
    exit 0
fi
echo "not ok - $calls madvise/process_madvise calls for 300 rounds"
cat "$work/strace.out"
exit 1
