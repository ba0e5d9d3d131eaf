#!/bin/sh
# exports.sh - libfrgmalloc.so exports exactly the glibc allocator names and
# frg_* (tests/exports.txt), nothing internal; libfrgmalloc.a defines no
# glibc name (an SDK that links it must not replace the process's malloc).
set -u
top="${top_builddir:-.}"
src="${srcdir:-.}"
fail=0
got=$(nm -D --defined-only "$top/.libs/libfrgmalloc.so" | awk '{print $3}' | sort)
want=$(sort "$src/tests/exports.txt")
if [ "$got" = "$want" ]; then
    echo "ok - libfrgmalloc.so exports $(echo "$got" | wc -l) expected symbols"
else
    echo "not ok - export list differs (< expected, > actual):"
    echo "$want" > "${TMPDIR:-/tmp}/exp_want.$$"
    echo "$got" > "${TMPDIR:-/tmp}/exp_got.$$"
    diff "${TMPDIR:-/tmp}/exp_want.$$" "${TMPDIR:-/tmp}/exp_got.$$"
    rm -f "${TMPDIR:-/tmp}/exp_want.$$" "${TMPDIR:-/tmp}/exp_got.$$"
    fail=1
fi
# The shared library cannot be unloaded (-z nodelete): a malloc must not
# go away, and frgmalloc's own rseq area lives in its static TLS, which
# every thread's kernel registration points at (design.md).
if readelf -d "$top/.libs/libfrgmalloc.so" | grep -q 'FLAGS_1.*NODELETE'; then
    echo "ok - libfrgmalloc.so is marked NODELETE"
else
    echo "not ok - libfrgmalloc.so is not marked NODELETE"; fail=1
fi
# Global symbols defined by the static library: frg_* only.
bad=$(nm --defined-only -g "$top/libfrgmalloc.a" 2>/dev/null | awk 'NF==3 {print $3}' | grep -v '^frg_' | sort -u)
hidden_ok=1
if [ -n "$bad" ]; then
    # internal symbols are global in the archive (they link across objects)
    # but must be hidden so they never leave a shared object that links it
    for s in $bad; do
        case "$s" in malloc|free|calloc|realloc|memalign|posix_memalign|aligned_alloc|valloc|pvalloc|malloc_usable_size|mallinfo|mallinfo2|malloc_trim|malloc_stats|malloc_info|mallopt|cfree|reallocarray|__libc_*)
            echo "not ok - libfrgmalloc.a defines $s"; fail=1; hidden_ok=0;;
        esac
    done
fi
[ $hidden_ok = 1 ] && echo "ok - libfrgmalloc.a defines no glibc allocator name"
# Every non-frg global in the archive is hidden (STV_HIDDEN).
vis=$(readelf -sW "$top/libfrgmalloc.a" 2>/dev/null | awk '$5=="GLOBAL" && $7!="UND" && $8 !~ /^frg_/ && $6!="HIDDEN" {print $8}' | sort -u)
if [ -z "$vis" ]; then echo "ok - internal symbols of libfrgmalloc.a are hidden"
else echo "not ok - visible internal symbols: $vis"; fail=1; fi
exit $fail
