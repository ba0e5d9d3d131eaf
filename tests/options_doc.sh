#!/bin/sh
# options_doc.sh - docs/options.md lists exactly the options in the code,
# with their defaults, ranges and descriptions.
top="${top_builddir:-.}"
src="${srcdir:-.}"
want=$("$top/tests/options_doc")
got=$(sed -n '/<!-- options table/,/<!-- end of options table/p' "$src/docs/options.md" | sed '1d;$d')
if [ "$want" = "$got" ]; then
    echo "ok - docs/options.md matches the option table"
    exit 0
fi
echo "not ok - docs/options.md is out of date; regenerate the table with tests/options_doc"
printf '%s\n' "$want" > "${TMPDIR:-/tmp}/opt_want.$$"
printf '%s\n' "$got" > "${TMPDIR:-/tmp}/opt_got.$$"
diff "${TMPDIR:-/tmp}/opt_got.$$" "${TMPDIR:-/tmp}/opt_want.$$"
rm -f "${TMPDIR:-/tmp}/opt_want.$$" "${TMPDIR:-/tmp}/opt_got.$$"
exit 1
