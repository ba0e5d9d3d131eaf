#!/bin/sh
# stat_tool.sh - live inspection from outside: frgmalloc-stat reads a
# running process (text and JSON), --purge makes it purge, the statistics
# page is private to its owner and disappears when the process exits;
# malloc_stats_print's and the exit report's JSON parse.
set -u
top="${top_builddir:-.}"
lib="$top/.libs/libfrgmalloc.so"
tool="$top/frgmalloc-stat"
work=$(mktemp -d)
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/holder.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* Holds 40 MiB of small objects, frees every other one (fragmentation),
 * frees 64 MiB of large ones (dirty pages), then sleeps until killed. */
int main(void) {
    static void *p[400000];
    for (int i = 0; i < 400000; i++) { p[i] = malloc(100); memset(p[i], 1, 100); }
    for (int i = 0; i < 400000; i += 2) free(p[i]);
    void *big[256];
    for (int i = 0; i < 256; i++) { big[i] = malloc(256 << 10); memset(big[i], 2, 256 << 10); }
    for (int i = 0; i < 256; i++) free(big[i]);
    printf("ready\n");
    fflush(stdout);
    char c;
    while (fread(&c, 1, 1, stdin) == 1) {} /* until stdin closes, then exit normally */
    return 0;
}
C
cat > "$work/printer.c" <<'C'
#include <stdlib.h>
void malloc_stats_print(void (*)(void *, const char *), void *, const char *);
int main(void) { void *p = malloc(1000); malloc_stats_print(NULL, NULL, "J"); free(p); return 0; }
C
cc -O1 -o "$work/holder" "$work/holder.c" || { echo "not ok - cc"; exit 1; }
cc -O1 -o "$work/printer" "$work/printer.c" -L"$top/.libs" -lfrgmalloc || { echo "not ok - cc"; exit 1; }

# keep the purger from decaying before we look: a long decay period
mkfifo "$work/in"
FRGMALLOC_CONF=decay_ms:60000 LD_PRELOAD="$lib" "$work/holder" < "$work/in" > "$work/out" &
pid=$!
exec 3> "$work/in" # holder runs until this closes
for i in $(seq 1 100); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.1; done
page=/dev/shm/frgmalloc.$pid
[ -f "$page" ] && ok "statistics page $page exists" || bad "no $page"
mode=$(stat -c %a "$page" 2>/dev/null)
[ "$mode" = 600 ] && ok "page mode 0600" || bad "page mode $mode"

text=$("$tool" "$pid")
echo "$text" | sed 's/^/#   /'
echo "$text" | grep -q "live " && echo "$text" | grep -q "fragmented" && ok "text report" || bad "text report"
echo "$text" | grep -q "did not answer" && bad "the process did not answer" || ok "the process answered"

json=$("$tool" "$pid" --json)
if printf '%s' "$json" | python3 -m json.tool > /dev/null; then ok "--json parses"; else bad "--json does not parse"; fi
dirty=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dirty"])')
frag=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fragmented"])')
live=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["allocated"])')
[ "$live" -ge 20000000 ] && ok "live bytes seen ($live)" || bad "live bytes $live"
[ "$frag" -ge 10000000 ] && ok "fragmentation seen ($frag)" || bad "fragmentation $frag"
[ "$dirty" -gt 0 ] && ok "dirty pages seen before the purge ($dirty)" || bad "no dirty pages ($dirty)"

"$tool" "$pid" --purge > "$work/purge.txt"
grep -q "purge requested" "$work/purge.txt" && ok "--purge answered" || bad "--purge: $(cat "$work/purge.txt")"
after=$("$tool" "$pid" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["dirty"])')
[ "$after" -eq 0 ] && ok "--purge purged the dirty pages" || bad "dirty after --purge: $after"

watch=$(timeout 5 "$tool" "$pid" --watch 0.5 | grep -c "^frgmalloc-stat: pid")
[ "$watch" -ge 3 ] && ok "--watch repeats ($watch reports)" || bad "--watch gave $watch reports"

exec 3>&-; wait "$pid" 2>/dev/null; pid=
[ ! -e "$page" ] && ok "page removed at exit" || bad "page left behind at exit"
# A process killed by SIGKILL cannot remove its page: the next process
# that starts the library removes pages of processes that no longer exist.
LD_PRELOAD="$lib" sleep 30 &
victim=$!
sleep 0.3
kill -9 "$victim"; wait "$victim" 2>/dev/null
[ -e "/dev/shm/frgmalloc.$victim" ] || bad "SIGKILLed process had no page"
LD_PRELOAD="$lib" /bin/true
[ ! -e "/dev/shm/frgmalloc.$victim" ] && ok "stale page of a killed process removed" || bad "stale page kept"
"$tool" 999999 > /dev/null 2>&1; [ $? -eq 1 ] && ok "unknown pid: exit 1" || bad "unknown pid"

if LD_LIBRARY_PATH="$top/.libs" "$work/printer" 2>&1 | python3 -m json.tool > /dev/null; then
    ok "malloc_stats_print JSON parses"; else bad "malloc_stats_print JSON"; fi
if FRGMALLOC_CONF=stats_print:true,stats_json:true LD_PRELOAD="$lib" /bin/true 2>&1 | python3 -m json.tool > /dev/null; then
    ok "exit report JSON parses"; else bad "exit report JSON"; fi
FRGMALLOC_CONF=stats_print:true LD_PRELOAD="$lib" /bin/true 2>&1 | grep -q "End frgmalloc statistics" &&
    ok "exit report text" || bad "exit report text"
exit $fail
