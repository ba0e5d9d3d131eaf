#!/bin/sh
# valgrind_client.sh - with --enable-valgrind (FRG_VALGRIND) a program that
# links libfrgmalloc statically gets memcheck's reports about its objects:
# use after free, overflow and leaks are found; a correct program is clean.
# Builds its own FRG_VALGRIND copy of the library from the sources.
set -u
src="${srcdir:-.}"
top="${top_builddir:-.}"
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed"; exit 77; }
[ -r /usr/include/valgrind/memcheck.h ] || { echo "valgrind headers missing"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
objs=""
for f in "$src"/src/*.c; do
    case "$f" in */frgmalloc-stat.c) continue;; esac
    o="$work/$(basename "$f" .c).o"
    cc -O1 -g -std=gnu11 -pthread -DHAVE_CONFIG_H -DFRG_VALGRIND -fvisibility=hidden \
        -I"$top" -I"$src/src" -I"$src/include" -c "$f" -o "$o" || exit 1
    objs="$objs $o"
done
ar rcs "$work/libfrgvg.a" $objs
cat > "$work/buggy.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "frgmalloc.h"
void *keep;
int main(void) {
    char *a = frg_malloc(64);
    strcpy(a, "hello");
    frg_free(a);
    volatile char c = a[1];          /* use after free */
    char *b = frg_malloc(10);
    b[10] = 'x';                     /* one byte past the end */
    frg_free(b);
    void *leak = frg_malloc(123);    /* lost */
    leak = NULL;
    keep = frg_malloc(77);           /* still reachable: not an error */
    char *r = frg_malloc(20);
    memset(r, 1, 20);
    r = frg_realloc(r, 4000);        /* contents stay defined across realloc */
    printf("%d %d\n", c, r[19]);
    frg_free(r);
    return 0;
}
C
cat > "$work/clean.c" <<'C'
#include <string.h>
#include "frgmalloc.h"
int main(void) {
    void *p[1000];
    for (int i = 0; i < 1000; i++) { p[i] = frg_malloc(1 + i * 37 % 5000); memset(p[i], 1, 1); }
    for (int i = 0; i < 1000; i++) p[i] = frg_realloc(p[i], 1 + i * 91 % 70000);
    for (int i = 0; i < 1000; i++) frg_free(p[i]);
    char *z = frg_calloc(100, 10);
    int sum = 0;
    for (int i = 0; i < 1000; i++) sum += z[i];
    frg_free(z);
    return sum;
}
C
for prog in buggy clean; do
    cc -O0 -g -I"$src/include" "$work/$prog.c" "$work/libfrgvg.a" -pthread -o "$work/$prog" || exit 1
done
valgrind --leak-check=full "$work/buggy" > "$work/buggy.out" 2>&1
grep -q "Invalid read of size 1" "$work/buggy.out" && echo "ok - use after free reported" ||
    { echo "not ok - use after free not reported"; fail=1; }
grep -q "Invalid write of size 1" "$work/buggy.out" && echo "ok - overflow reported" ||
    { echo "not ok - overflow not reported"; fail=1; }
grep -q "definitely lost: 123 bytes in 1 blocks" "$work/buggy.out" && echo "ok - leak reported" ||
    { echo "not ok - leak not reported"; fail=1; }
grep -q "uninitialised" "$work/buggy.out" && { echo "not ok - false uninitialised-value report"; fail=1; } ||
    echo "ok - no false uninitialised-value report"
if valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
        "$work/clean" > "$work/clean.out" 2>&1; then
    echo "ok - a correct program is clean under memcheck"
else
    echo "not ok - errors in a correct program:"; head -30 "$work/clean.out"; fail=1
fi
[ $fail = 0 ] || { echo "# buggy program's report:"; sed 's/^/#   /' "$work/buggy.out" | head -60; }
exit $fail
