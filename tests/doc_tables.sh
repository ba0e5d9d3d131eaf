#!/bin/sh
# doc_tables.sh - the generated tables in docs/ match the code: options
# (docs/options.md, from src/options.h) and mallctl names
# (docs/mallctl.md, from src/mallctl.c).  To regenerate a table, replace
# the lines between its markers with the program's output.
top="${top_builddir:-.}"
src="${srcdir:-.}"
fail=0
check() { # doc-file program marker
    want=$("$top/tests/$2")
    got=$(sed -n "/<!-- $3 table/,/<!-- end of $3 table/p" "$src/docs/$1" | sed '1d;$d')
    if [ "$want" = "$got" ]; then
        echo "ok - docs/$1 matches the code"
    else
        echo "not ok - docs/$1 is out of date (regenerate with tests/$2):"
        printf '%s\n' "$want" > "${TMPDIR:-/tmp}/doc_want.$$"
        printf '%s\n' "$got" > "${TMPDIR:-/tmp}/doc_got.$$"
        diff "${TMPDIR:-/tmp}/doc_got.$$" "${TMPDIR:-/tmp}/doc_want.$$"
        rm -f "${TMPDIR:-/tmp}/doc_want.$$" "${TMPDIR:-/tmp}/doc_got.$$"
        fail=1
    fi
}
check options.md options_doc options
check mallctl.md mallctl_doc mallctl
exit $fail
