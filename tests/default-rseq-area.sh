#!/bin/sh
# default-rseq-area.sh - print whose rseq area libfrgmalloc should use by
# default on this system: "glibc" where glibc registers one (2.35 and
# later), "frgmalloc" before that (the library registers its own).
# Worked out from glibc's version, not by asking the library under test.
v=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
set -- $v
if [ $# -eq 2 ] && { [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 35 ]; }; }; then
    echo glibc
else
    echo frgmalloc
fi
