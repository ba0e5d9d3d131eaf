#!/bin/sh
# sdk.sh - an SDK shared object that links libfrgmalloc.a privately is
# loaded with dlopen and keeps its heap to itself (tests/sdk_host.c).
top="${top_builddir:-.}"
exec "$top/tests/sdk_host" "$top/tests/libsdktest.so"
