#!/bin/sh
# sdk.sh - an SDK shared object that links libfrgmalloc.a privately is
# loaded with dlopen and keeps its heap to itself (tests/sdk_host.c); in
# the default cache mode and in lease mode (whose thread-exit hook must
# not outlive the SDK).
# In rseq mode the SDK must pin itself (dlclose leaves it loaded: the
# kernel reads its rseq descriptors); in lease mode dlclose unloads it.
top="${top_builddir:-.}"
fail=0
# The SDK (libfrgmalloc.a) runs rseq by default only on glibc's area
# (glibc 2.35 and later, registration not turned off).
FRG_TEST_EXPECT=rseq/probe FRGMALLOC_CONF=percpu:lock "$top/tests/test_sizeclass" >/dev/null 2>&1
rseq_possible=$?
want=any
if [ $rseq_possible -ne 77 ] && [ "$(sh "${srcdir:-.}/tests/default-rseq-area.sh")" = glibc ]; then
    case "${GLIBC_TUNABLES:-}" in *glibc.pthread.rseq=0*) ;; *) want=pinned ;; esac
fi
"$top/tests/sdk_host" "$top/tests/libsdktest.so" $want || fail=1
echo "# percpu:lease"
GLIBC_TUNABLES=glibc.pthread.rseq=0 FRGMALLOC_CONF=percpu:lease \
    "$top/tests/sdk_host" "$top/tests/libsdktest.so" unloaded || fail=1
exit $fail
