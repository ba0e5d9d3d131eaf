#!/bin/bash
# realprogs.sh - real programs give the same results with libfrgmalloc
# preloaded as without it.
#
# Each check runs a workload once without the library (the reference) and
# then once per per-CPU cache mode with LD_PRELOAD=$FRG_LIB and
# FRGMALLOC_CONF=percpu:<mode>.  A check passes when the preloaded run's
# stdout is byte-for-byte the reference's, its exit status is the same, and
# its stderr holds no "frgmalloc:" line (our misuse reports and warnings).
#
#   python3  big dicts, string churn, 8 threads passing lists/bytes around
#   java     javac on ~300 generated classes (class file checksums), then a
#            16-thread HashMap/String/ArrayList program
#   gcc      gcc -O2 -g -c of src/pageheap.c and of a generated C file
#            (object file checksums)
#   sqlite3  300,000-row table from a recursive CTE, indexes, aggregates,
#            GROUP BY/ORDER BY/join/window, update/delete, VACUUM
#   git      init, few hundred files, two commits with fixed dates, log
#            --stat, grep, fsck, gc, rev-parse HEAD
#
# Environment:
#   FRG_LIB    the library to preload (required)
#   FRG_MODES  per-CPU modes to test (default "rseq lock")
#   TMPDIR     where the work directory goes (default /tmp)
#   FRG_REALPROGS_KEEP=1  keep the work directory (for debugging)
#   FRG_REALPROGS_TIMEOUT seconds allowed per run (default 300)
#
# Missing tools are installed with apt-get when running as root.  Exit
# status: 0 all checks passed, 1 a check failed, 77 nothing failed but a
# check had to be skipped because its tool could not be installed.

set -u
export LC_ALL=C

me=realprogs.sh
modes=${FRG_MODES:-rseq lock}
timeout_s=${FRG_REALPROGS_TIMEOUT:-300}

# ---------------------------------------------------------------- the library
if [ -z "${FRG_LIB:-}" ]; then
    echo "$me: FRG_LIB is not set; set it to the libfrgmalloc.so to test" >&2
    echo "not ok - setup: FRG_LIB not set"
    exit 1
fi
if [ ! -f "$FRG_LIB" ] || [ ! -r "$FRG_LIB" ]; then
    echo "$me: FRG_LIB=$FRG_LIB is not a readable file" >&2
    echo "not ok - setup: FRG_LIB unreadable"
    exit 1
fi
lib=$(readlink -f -- "$FRG_LIB")
case $lib in
*[[:space:]:]*)
    echo "$me: FRG_LIB=$lib contains a space or ':' and cannot go in LD_PRELOAD" >&2
    echo "not ok - setup: FRG_LIB path unusable"
    exit 1 ;;
esac

# Where the sources are (for the gcc check): $srcdir under automake, else
# the directory above this script.
top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" 2>/dev/null && pwd) || top_srcdir=

# ------------------------------------------------------------------ work dir
base=${TMPDIR:-/tmp}
W=$(mktemp -d "$base/realprogs.XXXXXX") || { echo "$me: cannot create a work directory in $base" >&2; exit 1; }
cleanup() {
    if [ -n "${FRG_REALPROGS_KEEP:-}" ]; then
        echo "# work directory kept: $W"
    else
        rm -rf -- "$W"
    fi
}
trap cleanup EXIT
# A run goes in its own process group (timeout puts it there), so pass a
# signal on before leaving.
run_pid=
on_signal() {
    local i
    if [ -n "$run_pid" ] && kill -TERM -- "-$run_pid" 2>/dev/null; then
        for ((i = 0; i < 50; i++)); do
            kill -0 -- "-$run_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$run_pid" 2>/dev/null
        wait "$run_pid"
    fi
    exit 1
}
trap on_signal INT TERM HUP
mkdir -p "$W/home" "$W/tmp"

failed=0
skipped=0

# ------------------------------------------------------------------- tools
is_root() { [ "$(id -u)" = 0 ]; }
apt_updated=0
# install PACKAGE: quietly, refreshing the package lists only if it fails.
install_pkg() {
    is_root && command -v apt-get >/dev/null 2>&1 || return 1
    echo "# installing $1"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 -y -qq)
    if "${apt[@]}" install --no-install-recommends "$1" >"$W/apt.log" 2>&1; then
        return 0
    fi
    if [ $apt_updated = 0 ]; then
        apt_updated=1
        "${apt[@]}" update >"$W/apt.log" 2>&1
        "${apt[@]}" install --no-install-recommends "$1" >"$W/apt.log" 2>&1 && return 0
    fi
    sed 's/^/#   apt: /' "$W/apt.log" | tail -n 5
    return 1
}
# need PACKAGE COMMAND...: every command is on PATH, installing PACKAGE if not.
need() {
    local pkg=$1 c missing=0
    shift
    for c; do command -v "$c" >/dev/null 2>&1 || missing=1; done
    [ $missing = 0 ] && return 0
    install_pkg "$pkg" || true
    hash -r
    for c; do command -v "$c" >/dev/null 2>&1 || return 1; done
    return 0
}
# The programs' absolute paths, taken before HOME and PATH change (a pyenv
# shim, for one, needs the caller's HOME).
have_python=0 have_java=0 have_gcc=0 have_sqlite=0 have_git=0
PYTHON='' JAVA='' JAVAC='' GCC='' SQLITE='' GIT=''
if need python3 python3; then
    PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -x "$PYTHON" ] && have_python=1
fi
if need openjdk-17-jdk-headless java javac; then
    JAVA=$(readlink -f "$(command -v java)") JAVAC=$(readlink -f "$(command -v javac)") && have_java=1
fi
need gcc gcc && GCC=$(command -v gcc) && have_gcc=1
need sqlite3 sqlite3 && SQLITE=$(command -v sqlite3) && have_sqlite=1
need git git && GIT=$(command -v git) && have_git=1

# ------------------------------------------------------------------ running
# Every run gets the same clean environment; only LD_PRELOAD and
# FRGMALLOC_CONF differ between the reference and the preloaded runs.
run_env=(env -i "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
         "HOME=$W/home" "TMPDIR=$W/tmp" "LC_ALL=C" "TZ=UTC" "PYTHONHASHSEED=0"
         "PYTHONDONTWRITEBYTECODE=1" "GIT_CONFIG_NOSYSTEM=1")

# run DIR MODE COMMAND...: run COMMAND with cwd DIR, stdout/stderr/rc in
# DIR.  MODE "ref" runs without the library.
run() {
    local dir=$1 mode=$2
    shift 2
    mkdir -p "$dir"
    local pre=()
    [ "$mode" = ref ] || pre=("LD_PRELOAD=$lib" "FRGMALLOC_CONF=percpu:$mode")
    (cd "$dir" && exec timeout -k 10 "$timeout_s" "${run_env[@]}" "${pre[@]}" "$@" \
        >"$dir/stdout" 2>"$dir/stderr") &
    run_pid=$!
    wait "$run_pid"
    echo $? >"$dir/rc"
    run_pid=
}

excerpt() { sed -e 's/^/#   /' | cut -c1-200; }

# verdict NAME MODE REFDIR DIR: print ok / not ok for one preloaded run.
verdict() {
    local name=$1 mode=$2 ref=$3 dir=$4 why=()
    local rrc drc
    rrc=$(cat "$ref/rc") drc=$(cat "$dir/rc")
    [ "$rrc" = "$drc" ] || why+=("exit status $drc, reference $rrc")
    [ "$drc" = 124 ] && why+=("timed out after ${timeout_s}s")
    cmp -s "$ref/stdout" "$dir/stdout" || why+=("output differs")
    grep -q 'frgmalloc:' "$dir/stderr" && why+=("frgmalloc: messages on stderr")
    # (some steps send their stderr to stdout)
    grep -q 'frgmalloc:' "$dir/stdout" && ! grep -q 'frgmalloc:' "$ref/stdout" &&
        why+=("frgmalloc: messages in the output")
    grep -q 'cannot be preloaded' "$dir/stderr" && why+=("library not preloaded")
    if [ ${#why[@]} = 0 ]; then
        echo "ok - $name [$mode]"
        return 0
    fi
    local msg=${why[0]} i
    for ((i = 1; i < ${#why[@]}; i++)); do msg="$msg; ${why[i]}"; done
    echo "not ok - $name [$mode]: $msg"
    failed=1
    if ! cmp -s "$ref/stdout" "$dir/stdout"; then
        echo "#   diff reference preloaded:"
        # the first few lines only in the reference and only in this run
        diff -u "$ref/stdout" "$dir/stdout" | sed 1,2d \
            | awk '/^-/ && m++ < 8 { print } /^\+/ && p++ < 8 { print }' | excerpt
    fi
    if [ -s "$dir/stderr" ]; then
        echo "#   stderr (preloaded):"
        grep -v '^\s*$' "$dir/stderr" | head -n 12 | excerpt
    fi
    local f
    for f in "$dir"/hs_err_*.log; do
        [ -f "$f" ] && { echo "#   $(basename "$f"):"; grep -m 8 -E 'SIG|Problematic|^# C|^C  \[' "$f" | excerpt; }
    done
    return 1
}

# check NAME KEY COMMAND...: reference run, then one run per mode.  The
# command gets its output directory as its last argument.
check() {
    local name=$1 key=$2
    shift 2
    local ref="$W/$key/ref" mode
    run "$ref" ref "$@" "$ref"
    if [ "$(cat "$ref/rc")" != 0 ]; then
        echo "not ok - $name [reference]: fails without the library (exit $(cat "$ref/rc"))"
        failed=1
        tail -n 8 "$ref/stdout" | excerpt
        grep -v '^\s*$' "$ref/stderr" | head -n 8 | excerpt
        return
    fi
    for mode in $modes; do
        run "$W/$key/$mode" "$mode" "$@" "$W/$key/$mode"
        verdict "$name" "$mode" "$ref" "$W/$key/$mode"
    done
}

skip() {
    echo "skip - $1: $2"
    skipped=1
}

# ------------------------------------------------- is the library loaded?
# ld.so only warns when a preload fails, so make sure ours is really mapped
# (and initialises quietly) before trusting the other checks.
for mode in $modes; do
    d="$W/preload/$mode"
    mkdir -p "$d"
    run "$d" "$mode" /bin/sh -c 'cat /proc/$$/maps; :'
    if ! grep -qF " $lib" "$d/stdout"; then
        echo "not ok - library preloaded [$mode]: $lib is not mapped into a preloaded process"
        head -n 8 "$d/stderr" | excerpt
        echo "# nothing else can be checked"
        exit 1
    elif [ "$(cat "$d/rc")" = 0 ] && ! grep -q 'frgmalloc:' "$d/stderr"; then
        echo "ok - library preloaded [$mode]"
    else
        echo "not ok - library preloaded [$mode]: sh -c 'cat /proc/\$\$/maps' exit $(cat "$d/rc"), or frgmalloc: messages"
        head -n 8 "$d/stderr" | excerpt
        failed=1
    fi
done

# ------------------------------------------------------------------ python3
mkdir -p "$W/py"
cat >"$W/py/work.py" <<'EOF'
import hashlib, queue, sys, threading, zlib

def crc(b):
    return zlib.crc32(b) & 0xffffffff

# Big dicts: insert, invert, delete half, grow again.
d = {}
for i in range(300000):
    d["k%07d" % i] = (i * 2654435761) % 1000003
inv = {v: k for k, v in d.items()}
h = hashlib.sha256()
for k in sorted(inv)[::97]:
    h.update(("%d=%s;" % (k, inv[k])).encode())
print("dict", len(d), len(inv), h.hexdigest())
for i in range(0, 300000, 2):
    del d["k%07d" % i]
for i in range(300000, 400000):
    d["n%d" % i] = str(i) * (i % 7 + 1)
tot = 0
for k, v in d.items():
    tot = (tot * 31 + (v if isinstance(v, int) else len(v)) + len(k)) % (1 << 61)
print("dict2", len(d), tot)
tk = {(i % 1000, str(i)): [i] * (i % 5) for i in range(200000)}
print("tuplekeys", len(tk), sum(len(v) for v in tk.values()))
del d, inv, tk

# String churn: in-place growth (realloc), slicing, split/join, replace.
s = ""
chunks = []
for i in range(150000):
    s += "%x," % (i * i)
    if len(s) > 6000:
        chunks.append(s)
        s = s[len(s) // 3:]
joined = "".join(chunks)
words = joined.split(",")
up = joined.upper().replace("A", "aa").replace("F0", "")
uniq = sorted(set(words))
print("str", len(joined), len(words), len(up), crc(up.encode()), len(uniq),
      crc(" ".join(uniq[:5000]).encode()))
ba = bytearray()
for i in range(100000):
    ba += (b"%d;" % i) * (i % 4 + 1)
    if i % 997 == 0:
        del ba[: len(ba) // 2]
print("bytearray", len(ba), crc(bytes(ba)))
del s, chunks, joined, words, up, uniq, ba

# Threads: each builds and churns lists of bytes; some objects are handed to
# other threads through a queue and freed there.
NT = 8
q = queue.Queue()
local = [0] * NT
got = [0] * NT
ngot = [0] * NT

def worker(t):
    keep = []
    acc = 0
    for i in range(5000):
        n = (i * 7919 + t * 104729) % 3000 + 1
        if i % 701 == 0:
            n = 300000 + t
        b = (b"%d:%d;" % (t, i)) * (n // 6 + 1)
        b = b[:n]
        lst = [b[j:j + 64] for j in range(0, min(len(b), 4096), 64)]
        acc = (acc + crc(b) + len(lst)) % (1 << 61)
        if i % 3 == 0:
            q.put(b)
        else:
            keep.append(lst)
        if len(keep) > 200:
            keep = keep[100:]
        try:
            while True:
                x = q.get_nowait()
                got[t] = (got[t] + crc(x)) % (1 << 61)
                ngot[t] += 1
        except queue.Empty:
            pass
    local[t] = acc

ths = [threading.Thread(target=worker, args=(t,)) for t in range(NT)]
for th in ths:
    th.start()
for th in ths:
    th.join()
rest = 0
nrest = 0
while not q.empty():
    rest = (rest + crc(q.get())) % (1 << 61)
    nrest += 1
print("threads", local)
print("handed", (sum(got) + rest) % (1 << 61), sum(ngot) + nrest)
EOF
cat >"$W/py/run.sh" <<EOF
#!/bin/bash
"\$1" -s "$W/py/work.py"
EOF
if [ $have_python = 1 ]; then
    check "python3 dict+threads" py bash "$W/py/run.sh" "$PYTHON"
else
    skip "python3 dict+threads" "python3 not available"
fi

# --------------------------------------------------------------------- java
# 300 generated classes calling one another (static calls, lambdas,
# collections), a registry referencing them all, and a 16-thread main.
gen_java() {
    local dir=$1 n=300 i
    mkdir -p "$dir/gen"
    for ((i = 0; i < n; i++)); do
        cat >"$dir/gen/C$i.java" <<EOF
package gen;

import java.util.*;
import java.util.function.*;

public final class C$i {
    static final String NAME = "C$i";
    private final int seed;

    public C$i(int seed) { this.seed = seed; }

    public static int k() { return $((i % 13 + 1)); }

    public static long f(int depth, long acc) {
        if (depth <= 0) return acc ^ NAME.hashCode();
        return C$(((i * 7 + 3) % n)).f(depth - 1, acc * 31 + $i);
    }

    public List<String> words(int count) {
        List<String> out = new ArrayList<>();
        for (int j = 0; j < count; j++) out.add(NAME + ":" + (seed * $((i + 1)) + j) + ":" + C$(((i * 11 + 5) % n)).NAME);
        return out;
    }

    public Map<String, Integer> counts(List<String> ws) {
        Map<String, Integer> m = new HashMap<>();
        for (String w : ws) m.merge(w.substring(0, Math.min(w.length(), 5 + seed % 4)), 1, Integer::sum);
        return m;
    }

    public long g(int count) {
        Function<Integer, Long> fn = x -> (long) x * C$(((i * 13 + 7) % n)).k() + seed;
        long s = 0;
        for (int j = 0; j < count; j++) s += fn.apply(j);
        return s;
    }

    public static long run(int count) {
        C$i c = new C$i(count);
        List<String> ws = c.words(count);
        Collections.sort(ws, Comparator.reverseOrder());
        StringBuilder sb = new StringBuilder();
        for (String w : ws) sb.append(w, 0, Math.min(3, w.length()));
        return f(6, count) + c.g(count) * 3 + c.counts(ws).size() + sb.toString().hashCode();
    }
}
EOF
    done
    {
        echo "package gen;"
        echo "final class Registry {"
        echo "    static final int N = $n;"
        echo "    static long run(int which, int count) {"
        echo "        switch (which) {"
        for ((i = 0; i < n; i++)); do echo "        case $i: return C$i.run(count);"; done
        echo "        default: throw new IllegalArgumentException();"
        echo "        }"
        echo "    }"
        echo "}"
    } >"$dir/gen/Registry.java"
    cat >"$dir/gen/Main.java" <<'EOF'
package gen;

import java.util.*;
import java.util.concurrent.*;

public final class Main {
    static final int THREADS = 16;

    static long work(int t, ConcurrentHashMap<String, Integer> shared) {
        long acc = 0;
        for (int round = 0; round < 12; round++) {
            for (int i = t; i < Registry.N; i += THREADS) acc = acc * 131 + Registry.run(i, 20 + round * 7);
            HashMap<String, ArrayList<Integer>> m = new HashMap<>();
            for (int j = 0; j < 20000; j++) {
                String key = "t" + t + "-" + (j * 7919 % 1543);
                m.computeIfAbsent(key, x -> new ArrayList<>()).add(j);
            }
            ArrayList<String> keys = new ArrayList<>(m.keySet());
            Collections.sort(keys);
            StringBuilder sb = new StringBuilder();
            for (String k : keys) {
                ArrayList<Integer> v = m.get(k);
                acc += v.size() * (long) k.hashCode();
                if (sb.length() < 100000) sb.append(k).append('=').append(v.get(v.size() - 1)).append(';');
            }
            acc ^= sb.toString().hashCode();
            for (int j = 0; j < 2000; j++) shared.merge("w" + (j % 777), 1, Integer::sum);
            byte[][] junk = new byte[64][];
            for (int j = 0; j < junk.length; j++) junk[j] = new byte[1 << (j % 16)];
            acc += junk[63].length;
        }
        return acc;
    }

    public static void main(String[] args) throws Exception {
        ConcurrentHashMap<String, Integer> shared = new ConcurrentHashMap<>();
        long[] res = new long[THREADS];
        Thread[] ts = new Thread[THREADS];
        for (int t = 0; t < THREADS; t++) {
            final int tt = t;
            ts[t] = new Thread(() -> res[tt] = work(tt, shared), "worker-" + t);
            ts[t].start();
        }
        for (Thread th : ts) th.join();
        long sum = 0;
        for (int t = 0; t < THREADS; t++) {
            System.out.println("thread " + t + " " + res[t]);
            sum += res[t];
        }
        TreeMap<String, Integer> sorted = new TreeMap<>(shared);
        long h = 0;
        for (Map.Entry<String, Integer> e : sorted.entrySet()) h = h * 31 + e.getKey().hashCode() * (long) e.getValue();
        System.out.println("sum " + sum + " shared " + sorted.size() + " " + h);
    }
}
EOF
}
cat >"$W/java.sh" <<EOF
#!/bin/bash
# java.sh OUT: compile the generated sources into OUT/classes, list the
# class files' checksums, run the program.
out=\$1
cd "$W/java-src" || exit 1
mkdir -p "\$out/classes"
"$JAVAC" -J-Xmx512m -J-XX:-UsePerfData -J-XX:ErrorFile="\$out/hs_err_javac_%p.log" \\
    -encoding UTF-8 -d "\$out/classes" gen/*.java 2>&1
rc=\$?
echo "== javac rc=\$rc"
(cd "\$out/classes" && find . -type f | sort | xargs sha256sum)
echo "== classes \$(find "\$out/classes" -type f | wc -l)"
"$JAVA" -Xmx256m -XX:-UsePerfData -XX:ErrorFile="\$out/hs_err_java_%p.log" -cp "\$out/classes" gen.Main
rc2=\$?
echo "== java rc=\$rc2"
[ \$rc = 0 ] && [ \$rc2 = 0 ]
EOF
if [ $have_java = 1 ]; then
    gen_java "$W/java-src"
    check "java javac+threads" java bash "$W/java.sh"
else
    skip "java javac+threads" "java/javac not available"
fi

# ---------------------------------------------------------------------- gcc
# Compile from a snapshot (others may be editing src/) in one fixed
# directory so the debug info's paths are the same in every run.
gen_c() {
    local i
    echo '#include <stddef.h>'
    echo '#include <string.h>'
    echo 'struct node { struct node *next; long key; double w; char tag[16]; };'
    for ((i = 0; i < 200; i++)); do echo "static long f$i(const struct node *n, long x);"; done
    for ((i = 0; i < 200; i++)); do echo "long g$i(struct node *n, long x);"; done
    for ((i = 0; i < 200; i++)); do
        cat <<EOF
static long f$i(const struct node *n, long x) {
    long acc = $i;
    for (; n; n = n->next) {
        switch ((n->key + x) & 7) {
        case 0: acc += n->key * $((i + 3)); break;
        case 1: acc ^= (long)(n->w * $((i % 17 + 1)).5); break;
        case 2: acc -= (long)strlen(n->tag); break;
        case 3: acc = acc * 31 + $((i * 7)); break;
        default: acc += x >> ($i % 5);
        }
    }
    return acc;
}
long g$i(struct node *n, long x) {
    long s = 0;
    for (int j = 0; j < $((i % 9 + 2)); j++) s += f$i(n, x + j) + f$(((i + 1) % 200))(n, j);
    return s;
}
EOF
    done
}
gcc_files=
if [ $have_gcc = 1 ]; then
    gsrc="$W/gcc-src"
    mkdir -p "$gsrc"
    gen_c >"$gsrc/gen.c"
    gcc_files=gen.c
    incs=
    if [ -n "$top_srcdir" ] && [ -f "$top_srcdir/src/pageheap.c" ]; then
        mkdir -p "$gsrc/src" "$gsrc/include"
        cp "$top_srcdir"/src/*.[ch] "$gsrc/src/" 2>/dev/null
        cp "$top_srcdir"/include/*.h "$gsrc/include/" 2>/dev/null
        incs="-Isrc -Iinclude"
        for c in "$PWD/config.h" "$top_srcdir/config.h"; do
            if [ -f "$c" ]; then
                cp "$c" "$gsrc/config.h"
                incs="$incs -I. -DHAVE_CONFIG_H"
                break
            fi
        done
        # Someone may be half-way through an edit: use pageheap.c only if
        # the snapshot compiles.
        if (cd "$gsrc" && "$GCC" -O2 $incs -fsyntax-only src/pageheap.c) >/dev/null 2>&1; then
            gcc_files="src/pageheap.c gen.c"
        else
            echo "# gcc: src/pageheap.c does not compile now; compiling only the generated file"
        fi
    else
        echo "# gcc: no src/pageheap.c under '$top_srcdir' (set srcdir); compiling only the generated file"
    fi
    cat >"$W/gcc.sh" <<EOF
#!/bin/bash
out=\$1 st=0
cd "$gsrc" || exit 1
for f in $gcc_files; do
    o=\$(basename "\$f" .c).o
    "$GCC" -O2 -g -std=gnu11 -Wall -Wextra $incs -c "\$f" -o "\$out/\$o" 2>&1
    rc=\$?
    echo "== \$f rc=\$rc"
    [ \$rc = 0 ] || st=1
    (cd "\$out" && sha256sum "\$o")
done
exit \$st
EOF
    check "gcc -O2 $gcc_files" gcc bash "$W/gcc.sh"
else
    skip "gcc -O2" "gcc not available"
fi

# ------------------------------------------------------------------ sqlite3
cat >"$W/queries.sql" <<'EOF'
.bail on
.headers on
PRAGMA page_size = 4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);
WITH RECURSIVE r(i, x) AS (
  SELECT 1, 12345
  UNION ALL
  SELECT i + 1, (x * 1103515245 + 12345) % 2147483648 FROM r WHERE i < 300000)
INSERT INTO t SELECT i, x % 1000, printf('s%08x-%d', x, i % 97), (x % 100000) / 7.0 FROM r;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_b ON t(b);
CREATE TABLE u(a INTEGER PRIMARY KEY, name TEXT);
WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < 999)
INSERT INTO u SELECT i, 'name' || (i * 7 % 100) FROM r;
SELECT count(*), sum(a), min(b), max(b), printf('%.3f', sum(c)) FROM t;
SELECT a, count(*) AS n, printf('%.3f', avg(c)) FROM t GROUP BY a ORDER BY n DESC, a LIMIT 15;
SELECT u.name, count(*) AS n, sum(t.a) FROM t JOIN u ON t.a = u.a
  WHERE t.b LIKE 's1%' GROUP BY u.name ORDER BY n DESC, u.name LIMIT 15;
SELECT b FROM t ORDER BY b DESC LIMIT 8 OFFSET 1000;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE a = 42 ORDER BY c, id LIMIT 40);
SELECT a, id, rk FROM (SELECT a, id, rank() OVER (PARTITION BY a ORDER BY c DESC, id) AS rk FROM t)
  WHERE rk <= 2 AND a < 5 ORDER BY a, rk;
SELECT substr(b, 2, 2) AS p, count(DISTINCT a), length(group_concat(id, ',')) FROM t GROUP BY p ORDER BY p LIMIT 20;
UPDATE t SET b = b || '-updated-' || a WHERE id % 3 = 0;
DELETE FROM t WHERE a < 100;
SELECT count(*), sum(length(b)), max(length(b)) FROM t;
VACUUM;
PRAGMA integrity_check;
SELECT count(*) FROM t INDEXED BY t_b WHERE b > 's4';
EOF
cat >"$W/sqlite.sh" <<EOF
#!/bin/bash
out=\$1
"$SQLITE" -batch "\$out/t.db" <"$W/queries.sql" 2>&1
rc=\$?
echo "== sqlite3 rc=\$rc"
echo "== db \$(wc -c <"\$out/t.db") bytes"
(cd "\$out" && sha256sum t.db)
exit \$rc
EOF
if [ $have_sqlite = 1 ]; then
    check "sqlite3 300k rows" sqlite bash "$W/sqlite.sh"
else
    skip "sqlite3 300k rows" "sqlite3 not available"
fi

# ---------------------------------------------------------------------- git
cat >"$W/git.sh" <<EOF
#!/bin/bash
# git.sh OUT: build a repository in OUT/repo with fixed identities and dates.
out=\$1 st=0
git() { "$GIT" "\$@"; }
step() { local n=\$1; shift; "\$@"; local rc=\$?; echo "== \$n rc=\$rc"; [ \$rc = 0 ] || st=1; }
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com
export GIT_AUTHOR_DATE="2020-01-02 03:04:05 +0000" GIT_COMMITTER_DATE="2020-01-02 03:04:05 +0000"
step init git -c init.defaultBranch=main init -q "\$out/repo"
cd "\$out/repo" || exit 1
git config gc.auto 0
git config core.autocrlf false
for ((d = 0; d < 10; d++)); do
    mkdir -p "dir\$d"
    for ((f = 0; f < 30; f++)); do
        for ((l = 0; l < 40; l++)); do
            echo "file \$d/\$f line \$l value \$(( (d * 7919 + f * 104729 + l * 1299709) % 1000003 ))"
        done >"dir\$d/file\$f.txt"
    done
done
step add git add -A
step commit1 git commit -q -m "initial: 300 files"
for ((d = 0; d < 10; d++)); do
    for ((f = 0; f < 30; f += 3)); do
        sed -i "s/line 1\$(( f % 10 )) /LINE 1\$(( f % 10 )) changed /" "dir\$d/file\$f.txt"
        echo "appended \$d \$f" >>"dir\$d/file\$f.txt"
    done
    git rm -q "dir\$d/file29.txt"
    git mv "dir\$d/file28.txt" "dir\$d/moved28.txt"
    seq 1 \$(( d * 50 + 1 )) >"dir\$d/new.txt"
done
export GIT_AUTHOR_DATE="2020-02-03 04:05:06 +0000" GIT_COMMITTER_DATE="2020-02-03 04:05:07 +0000"
step add2 git add -A
step commit2 git commit -q -m "second: edit, move, delete, add"
step log git log --stat --format=fuller
step log-p bash -c '"$GIT" log -p -M | sha256sum'
step grep git grep -n -e "changed" -e "value 4242" -- dir3 dir7
step fsck git fsck --full --strict --no-progress 2>&1
step gc git gc -q --prune=now
step objects bash -c '"$GIT" cat-file --batch-all-objects --batch-check | sort'
step count bash -c '"$GIT" count-objects -v | grep -E "^(count|in-pack|packs):"'
step fsck2 git fsck --full --strict --no-progress 2>&1
step archive bash -c '"$GIT" archive --format=tar HEAD | sha256sum'
step rev-parse git rev-parse HEAD HEAD^{tree} HEAD~1
exit \$st
EOF
if [ $have_git = 1 ]; then
    check "git commit+gc" git bash "$W/git.sh"
else
    skip "git commit+gc" "git not available"
fi

echo "# realprogs: ${SECONDS}s, modes: $modes"
if [ $failed != 0 ]; then
    exit 1
elif [ $skipped != 0 ]; then
    exit 77
fi
exit 0
