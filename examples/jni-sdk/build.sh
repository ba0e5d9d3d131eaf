#!/bin/bash
# build.sh - builds the JNI SDK demo into an output directory.
#
#   out/libruleengine.so      SDK + JNI binding calling malloc/free (glibc,
#                             or whatever allocator is LD_PRELOADed)
#   out/libruleengine_frg.so  the same built with -DRE_USE_FRG and linked
#                             with libfrgmalloc.a privately
#                             (-Wl,--exclude-libs,ALL): the SDK has its own
#                             heap, nothing frg_* is exported (checked here)
#   out/re_selftest, out/re_selftest_frg   SDK checks without a JVM
#   out/classes/demo/*.class  the Java driver
#
# Usage: build.sh [OUT_DIR]          (default: examples/jni-sdk/out)
# Environment: FRG_STATIC (libfrgmalloc.a), FRG_INCLUDE (dir of
# frgmalloc.h), JAVA_HOME (default: from javac), CC (default gcc).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
OUT=${1:-$HERE/out}
FRG_STATIC=${FRG_STATIC:-$TOP/libfrgmalloc.a}
FRG_INCLUDE=${FRG_INCLUDE:-$TOP/include}
CC=${CC:-gcc}
if [ -z "${JAVA_HOME:-}" ]; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
fi
CFLAGS="-O2 -g -Wall -Wextra -fPIC -fvisibility=hidden"
JNI_INC="-I$JAVA_HOME/include -I$JAVA_HOME/include/linux"
SDK="$HERE/sdk/ruleengine.c $HERE/sdk/re_shared.c"
SRC="$SDK $HERE/sdk/ruleengine_jni.c"

mkdir -p "$OUT/classes"
# JNI entry points need default visibility; -fvisibility=hidden hides the
# rest, and the version script below keeps exactly the Java_* symbols.
cat > "$OUT/jni.map" <<'EOF'
{ global: Java_*; local: *; };
EOF

echo "build: $OUT/libruleengine.so (libc malloc names)"
$CC $CFLAGS -shared $JNI_INC -I"$HERE/sdk" $SRC -o "$OUT/libruleengine.so" \
    -Wl,--version-script="$OUT/jni.map" -lpthread

if [ -f "$FRG_STATIC" ]; then
    echo "build: $OUT/libruleengine_frg.so (private $FRG_STATIC)"
    cp -L "$FRG_STATIC" "$OUT/libfrgmalloc-snapshot.a" # the lead rebuilds it meanwhile
    # frg_mallctl (stats.resident, ...) is reported when the library has it
    MALLCTL=
    if nm "$OUT/libfrgmalloc-snapshot.a" 2>/dev/null | grep ' T frg_mallctl$' > /dev/null; then
        MALLCTL=-DRE_HAVE_MALLCTL
    fi
    $CC $CFLAGS -DRE_USE_FRG $MALLCTL -shared $JNI_INC -I"$HERE/sdk" -I"$FRG_INCLUDE" $SRC \
        -o "$OUT/libruleengine_frg.so" "$OUT/libfrgmalloc-snapshot.a" \
        -Wl,--exclude-libs,ALL -Wl,--version-script="$OUT/jni.map" -lpthread
    # Nothing of the allocator may leak out of the SDK: no frg_* and no
    # malloc-family definitions in the dynamic symbol table.
    leaked=$(nm -D --defined-only "$OUT/libruleengine_frg.so" |
        awk '{print $NF}' | grep -E '^(frg_|malloc|free|calloc|realloc|mallinfo)' || true)
    if [ -n "$leaked" ]; then
        echo "build: ERROR: libruleengine_frg.so exports allocator symbols:" >&2
        echo "$leaked" >&2
        exit 1
    fi
    echo "build: exported by libruleengine_frg.so:" \
        "$(nm -D --defined-only "$OUT/libruleengine_frg.so" | awk '{print $NF}' | tr '\n' ' ')"
    $CC -O2 -Wall -Wextra -DRE_USE_FRG -I"$HERE/sdk" -I"$FRG_INCLUDE" $SDK \
        "$HERE/sdk/re_selftest.c" -o "$OUT/re_selftest_frg" "$OUT/libfrgmalloc-snapshot.a" -lpthread
else
    echo "build: $FRG_STATIC not found: skipping libruleengine_frg.so" >&2
fi
$CC -O2 -Wall -Wextra -I"$HERE/sdk" $SDK "$HERE/sdk/re_selftest.c" \
    -o "$OUT/re_selftest" -lpthread

echo "build: Java classes"
javac -d "$OUT/classes" "$HERE/demo/RuleEngine.java" "$HERE/demo/Demo.java"
echo "build: done"
