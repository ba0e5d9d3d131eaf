#!/bin/sh
# doc_tables.sh - the generated tables in docs/ match the code: options
# (docs/options.md, from src/options.h) and mallctl names
# (docs/mallctl.md, from src/mallctl.c).  `doc_tables.sh --update`
# rewrites the tables from the code.
top="${top_builddir:-.}"
src="${srcdir:-.}"
fail=0
update=0
[ "${1:-}" = "--update" ] && update=1
check() { # doc-file program marker
    want=$("$top/tests/$2")
    if [ $update = 1 ]; then
        printf '%s\n' "$want" > "${TMPDIR:-/tmp}/doc_table.$$"
        awk -v table="${TMPDIR:-/tmp}/doc_table.$$" -v start="<!-- $3 table" -v stop="<!-- end of $3 table" '
            index($0, start) == 1 { print; while ((getline line < table) > 0) print line; skip = 1; next }
            index($0, stop) == 1 { skip = 0 }
            !skip { print }' "$src/docs/$1" > "${TMPDIR:-/tmp}/doc_new.$$" &&
            mv "${TMPDIR:-/tmp}/doc_new.$$" "$src/docs/$1"
        rm -f "${TMPDIR:-/tmp}/doc_table.$$"
    fi
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
