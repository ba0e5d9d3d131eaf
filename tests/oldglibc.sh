#!/bin/sh
# oldglibc.sh - the library on a glibc that registers no rseq area.
#
# glibc before 2.35 (Debian 11, Ubuntu 20.04, RHEL 8) has no rseq support;
# there the library registers its own rseq area, and the compilers of those
# systems (gcc 10 and older) lack asm goto with outputs.  This test makes a
# Debian 11 (bullseye) chroot with debootstrap, builds the current source
# tree in it with bullseye's gcc 10 against glibc 2.31, and runs the unit
# tests there in every mode (tests/run-modes.sh: the default "rseq" mode
# must then be on frgmalloc's own area) and tests/preload.sh.
#
# The chroot is kept in tests/bullseye-root (about 500 MB) for the next
# run; FRG_BULLSEYE_ROOT puts it elsewhere.  Skipped, and said so, if not
# root (chroot needs it), if debootstrap is missing or the Debian archive
# cannot be reached.
set -u
top=$(cd "${top_builddir:-.}" && pwd)
src=$(cd "${srcdir:-.}" && pwd)
root=${FRG_BULLSEYE_ROOT:-$top/tests/bullseye-root}
mirror=${FRG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log=$top/tests/oldglibc-chroot.log

skip() { echo "ok - skipped: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "chroot needs root"
command -v debootstrap >/dev/null 2>&1 || skip "debootstrap not installed"
command -v git >/dev/null 2>&1 && [ -e "$src/.git" ] || skip "needs the git tree to copy the sources"

command -v unshare >/dev/null 2>&1 || skip "unshare not installed"

if [ ! -f "$root/.frg-ready" ]; then
    # Only ever delete a directory this script made (marked partial).
    if [ -e "$root" ] && [ ! -f "$root/.frg-partial" ]; then
        echo "not ok - $root exists and was not made by this test; remove it or set FRG_BULLSEYE_ROOT"
        exit 1
    fi
    rm -rf "$root" && mkdir -p "$root" && touch "$root/.frg-partial"
    echo "# debootstrap bullseye into $root"
    if ! timeout 900 debootstrap --variant=minbase \
            --include=gcc,libc6-dev,make,autoconf,automake,libtool,pkg-config,libcunit1-dev \
            bullseye "$root" "$mirror" >"$log" 2>&1; then
        tail -5 "$log"
        rm -rf "$root"
        skip "debootstrap of bullseye from $mirror failed (network?)"
    fi
    rm -f "$root/.frg-partial" && touch "$root/.frg-ready"
fi

# The source files as they are in the working tree (tracked, and new ones
# git does not ignore), so that the test checks the code being tested.
rm -rf "$root/frg-src" && mkdir -p "$root/frg-src"
git -C "$src" ls-files -z -co --exclude-standard |
    (cd "$src" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$root/frg-src"

unit="tests/test_api tests/test_sizeclass tests/test_align tests/test_realloc tests/test_threads"
unit="$unit tests/test_stress tests/test_fork tests/test_misuse tests/test_hardening"
unit="$unit tests/test_internals tests/test_mallctl tests/test_purge tests/preload.sh"
# What runs inside the chroot.
cat >"$root/frg-build.sh" <<'INSIDE'
set -e
cd /frg-src
echo "# $(ldd --version | head -n 1); $(gcc --version | head -n 1)"
libc=$(ldconfig -p | awk '/libc.so.6 .*x86-64/ {print $NF; exit}')
if nm -D "$libc" | grep -q __rseq_offset; then
    echo "not ok - $libc has rseq support: the test would not test what it is for"
    exit 1
fi
autoreconf -fi >/dev/null 2>&1
./configure >/dev/null
make -j2 >/dev/null
make -j2 check TESTS="$FRG_UNIT"
INSIDE
# /proc, /dev and /dev/shm are bound into the chroot inside a private
# mount namespace: the mounts end with it, whatever ends the test.  The
# chroot gets a clean environment (none of make's, the suite's or the
# allocator's variables from outside).
FRG_ROOT=$root FRG_UNIT=$unit unshare --mount --propagation private /bin/sh -c '
    for d in proc dev dev/shm; do mount --bind "/$d" "$FRG_ROOT/$d" || exit 77; done
    exec chroot "$FRG_ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LC_ALL=C FRG_UNIT="$FRG_UNIT" /bin/sh /frg-build.sh' >"$log" 2>&1
rc=$?
[ $rc = 77 ] && skip "cannot bind-mount into the chroot (no CAP_SYS_ADMIN?)"
fail=0
[ $rc = 0 ] || fail=1
grep -E '^# (ldd|gcc)|^(PASS|FAIL|ERROR|SKIP):|^not ok' "$log" | sed 's/^\(PASS\|FAIL\|ERROR\|SKIP\):/# bullseye \1:/'
if [ $fail = 0 ]; then
    echo "ok - built with glibc 2.31 and gcc 10; unit tests and preload.sh pass in every mode"
else
    echo "not ok - see $log"
    tail -40 "$log"
    for t in "$root"/frg-src/tests/*.log; do
        grep -q '^FAIL\|FAILED\|not ok' "$t" 2>/dev/null && { echo "==> $t"; tail -30 "$t"; }
    done
fi
exit $fail
