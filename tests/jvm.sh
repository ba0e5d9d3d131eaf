#!/bin/bash
# tests/jvm.sh - the JVM case end to end: a real JVM (OpenJDK 17) with a
# JNI SDK (examples/jni-sdk) on libfrgmalloc, preloaded for the whole
# process and linked privately into the SDK.
#
#  1. Churn (demo/Demo.java: N native VMs created, used, destroyed, then
#     idle) in three modes: glibc (reference), preload (LD_PRELOAD, the
#     whole JVM on frgmalloc), static (libruleengine_frg.so with a private
#     libfrgmalloc.a heap, the JVM on glibc); 1 and 16 threads; the SDK's
#     long-lived shared objects off and on.  retained = (RSS 1 s after the
#     last destroy - baseline) / (peak - baseline).  Asserted:
#       shared off: frg modes retained <= 3 %, glibc >= 80 % (proves the
#                   measurement sees the difference);
#       shared on:  frg modes retained <= half of glibc's;
#       preload:    libfrgmalloc.so is mapped and is the SDK's malloc;
#       static:     the JVM stays on glibc (malloc and mallinfo2 resolve to
#                   libc.so.6, glibc's heap holds the JVM's bytes, no
#                   libfrgmalloc.so mapped), no frg_* exported, and the
#                   SDK's private heap is back to ~0 live bytes;
#       every run:  exit 0 and no "frgmalloc:" line on stderr (an invalid
#                   free or a pointer crossing allocators aborts or reports).
#  2. javac on 300 generated classes: same .class checksums preloaded as on
#     glibc; a 200-thread JNI stress (every VM created, half-run and handed
#     to another thread, which finishes and destroys it): the same
#     deterministic totals (fired rules, per-VM checksum, SDK counters) in
#     glibc, preload and static mode.
#  3. -XX:NativeMemoryTracking=summary + jcmd VM.native_memory summary on a
#     preloaded JVM: the expected sections, and everything NMT says HotSpot
#     malloc'ed is within frgmalloc's live bytes.
#  4. jcmd PID System.trim_native_heap after the VMs were destroyed: the
#     "Trim native heap: RSS+Swap: A->B" line shows a release and RSS drops;
#     -XX:TrimNativeHeapInterval=1000 -Xlog:trimnative: periodic trims run
#     and release.  These JVMs use FRGMALLOC_CONF=...,dirty_min:2G,
#     dirty_ratio:100,decay_ms:600000 so that freed pages stay resident
#     until malloc_trim is called: with the defaults frgmalloc returns them
#     by itself within half a second and a trim would find nothing (part 1
#     tests that).
#  5. frgmalloc-stat PID, --json (parses; allocated > 0, allocated <=
#     resident <= rss) and --purge (releases the held pages, RSS drops).
#
# An automake test: exit 0 pass, 1 fail, 77 skip (no JDK and none can be
# installed); one "ok - ..." / "not ok - ..." line per check.
# Paths (automake sets top_builddir and srcdir):
#   FRG_LIB      libfrgmalloc.so   (default $top_builddir/.libs/libfrgmalloc.so)
#   FRG_STATIC   libfrgmalloc.a    (default $top_builddir/libfrgmalloc.a)
#   FRG_STAT     frgmalloc-stat    (default $top_builddir/frgmalloc-stat)
#   FRG_INCLUDE  header directory  (default $srcdir/include)
# Each is copied into a temporary directory first (others may rebuild).
# FRGMALLOC_CONF from the environment is passed to every JVM on frgmalloc
# (parts 4-5 append their own settings).  JVM_TEST_VMS (default 10000:
# a preloaded JVM keeps about 10 MiB of its own after the destroy -
# HotSpot's live objects and their slabs - which is 1.1 % of the growth
# at 10,000 VMs and twice that at 5,000),
# JVM_TEST_THREADS (default "1 16"), JVM_TEST_KEEP=1 keeps the work
# directory and prints its path.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

top=${top_builddir:-.}
src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
FRG_LIB=${FRG_LIB:-$top/.libs/libfrgmalloc.so}
FRG_STATIC=${FRG_STATIC:-$top/libfrgmalloc.a}
FRG_STAT=${FRG_STAT:-$top/frgmalloc-stat}
FRG_INCLUDE=${FRG_INCLUDE:-$src/include}
# 10,000 VMs, the demo's default.  Shared objects off, the limit at +1 s
# is 3 % of the growth: the demo measures 1.0-1.3 % (bench/RESULTS.md
# section 7).  Before the purger saw the end of a burst of frees, 25-55
# MiB that the CPU caches pinned left between +1 s and +2 s in most runs
# at 16 threads (4-7 % here; 9.5-10.5 % with 5,000 VMs).
VMS=${JVM_TEST_VMS:-10000}
THREADS=${JVM_TEST_THREADS:-1 16}
USER_CONF=${FRGMALLOC_CONF:-}
HOLD_CONF="${USER_CONF:+$USER_CONF,}dirty_min:2G,dirty_ratio:100,decay_ms:600000"
MIB=1048576

fail=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fail=1; }
check() { # check EXIT-STATUS MESSAGE...: ok or not ok
    if [ "$1" -eq 0 ]; then ok "${*:2}"; else bad "${*:2}"; fi
}
note() { echo "# $*"; }
t_start=$(date +%s)

# ---- a JDK ------------------------------------------------------------------
have_jdk() { command -v java && command -v javac && command -v jcmd; } > /dev/null 2>&1
if ! have_jdk; then
    SUDO=""
    [ "$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && SUDO="sudo -n"; }
    if { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; } && command -v apt-get > /dev/null; then
        note "installing openjdk-17-jdk-headless"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jdk-headless \
            > /dev/null 2>&1 ||
            { $SUDO apt-get update -qq > /dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
                  openjdk-17-jdk-headless > /dev/null 2>&1; }
    fi
    if ! have_jdk; then
        echo "SKIP: java, javac or jcmd missing and openjdk-17-jdk-headless cannot be installed"
        exit 77
    fi
fi
note "$(java -version 2>&1 | sed -n 2p)"
for tool in python3 cc; do
    command -v "$tool" > /dev/null || { echo "not ok - $tool is needed"; exit 1; }
done

# ---- work directory, copies of the build outputs, cleanup --------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/frg-jvm.XXXXXX")
pids=""
cleanup() {
    exec 3>&- 4>&- 2> /dev/null
    for p in $pids; do kill "$p" 2> /dev/null; done # only the JVMs started here
    for p in $pids; do wait "$p" 2> /dev/null; done
    if [ "${JVM_TEST_KEEP:-0}" = 1 ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$work/lib"
for f in "$FRG_LIB" "$FRG_STATIC" "$FRG_STAT"; do
    [ -r "$f" ] || { echo "not ok - $f not found (set FRG_LIB, FRG_STATIC, FRG_STAT)"; exit 1; }
done
cp -L "$FRG_LIB" "$work/lib/libfrgmalloc.so"
cp -L "$FRG_STAT" "$work/lib/frgmalloc-stat"
LIB=$work/lib/libfrgmalloc.so
STAT=$work/lib/frgmalloc-stat
note "library: $FRG_LIB (sha256 $(sha256sum "$LIB" | cut -c1-16)), FRGMALLOC_CONF='$USER_CONF'"

out=$work/out
if FRG_STATIC="$FRG_STATIC" FRG_INCLUDE="$FRG_INCLUDE" \
    "$src/examples/jni-sdk/build.sh" "$out" > "$work/build.log" 2>&1 &&
    [ -f "$out/libruleengine_frg.so" ]; then
    ok "examples/jni-sdk/build.sh: libruleengine.so, libruleengine_frg.so (nothing frg_* exported)"
else
    sed 's/^/#   /' "$work/build.log"
    bad "examples/jni-sdk/build.sh"
    exit 1
fi

# ---- helpers ------------------------------------------------------------------
# val FILE PREFIX KEY: the value of " KEY=value" on the last line of FILE
# that starts with PREFIX.
val() { grep "^$2" "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$3=//p" | head -1; }
# pct A B: 100*A/B with one decimal.
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 999) }'; }
# le A B / ge A B: numeric comparisons of decimals (exit status).
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
# kib SIZE: HotSpot's sizes ("53248B", "70708K", "203M", "1G") in KiB.
kib() {
    awk -v s="$1" 'BEGIN { n = s + 0; u = substr(s, length(s));
        f = u == "B" ? 1 / 1024 : u == "K" ? 1 : u == "M" ? 1024 : u == "G" ? 1048576 : 1;
        printf "%d", n * f }'
}
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2> /dev/null; }
# clean_stderr FILE LABEL: fails if the allocator said anything on stderr.
clean_stderr() {
    if grep -q '^frgmalloc:' "$1"; then
        bad "$2: frgmalloc messages on stderr: $(grep '^frgmalloc:' "$1" | head -3 | tr '\n' '|')"
        return 1
    fi
    return 0
}
# wait_for FILE REGEX SECONDS: until a line of FILE matches.
wait_for() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q "$2" "$1" 2> /dev/null && return 0
        sleep 0.1
    done
    return 1
}
# run_java MODE ARGS...: java with the environment of MODE (glibc, static:
# nothing preloaded; preload: LD_PRELOAD=the copy).
run_java() {
    local mode=$1
    shift
    if [ "$mode" = preload ]; then
        env LD_PRELOAD="$LIB" FRGMALLOC_CONF="$USER_CONF" java "$@"
    else
        env -u LD_PRELOAD FRGMALLOC_CONF="$USER_CONF" java "$@"
    fi
}
sdk_of() { if [ "$1" = static ]; then echo "$out/libruleengine_frg.so"; else echo "$out/libruleengine.so"; fi; }

# ---- 1. churn: RSS after destroy ---------------------------------------------
note "part 1: Demo, $VMS VMs x 20 events, threads: $THREADS; RSS 1 s after the last destroy"
declare -A RET
for t in $THREADS; do
    for shared in off on; do
        for mode in glibc preload static; do
            tag="$mode t=$t shared=$shared"
            f=$work/demo-$mode-$t-$shared
            run_java "$mode" -Xms768m -Xmx768m -cp "$out/classes" -Druleengine.lib="$(sdk_of $mode)" \
                -Dvms="$VMS" -Devents=20 -Dthreads="$t" -Didle=1 -Dwarmup=200 \
                -Dshared=$([ $shared = on ] && echo true || echo false) -Dmode="$mode" \
                demo.Demo > "$f.out" 2> "$f.err"
            rc=$?
            base=$(val "$f.out" RESULT baseline_kib)
            peak=$(val "$f.out" RESULT peak_kib)
            t1=$(val "$f.out" RESULT t1_kib)
            if [ $rc -ne 0 ] || [ -z "$t1" ]; then
                bad "demo $tag: exit $rc, no RESULT: $(tail -3 "$f.err" | tr '\n' '|')"
                continue
            fi
            clean_stderr "$f.err" "demo $tag" || continue
            [ -s "$f.err" ] && note "demo $tag: stderr: $(head -c 300 "$f.err" | tr '\n' '|')"
            grow=$((peak - base))
            r=$(pct $((t1 - base)) $grow)
            RET["$mode-$t-$shared"]=$r
            note "demo $tag: baseline $((base / 1024)) MiB, peak $((peak / 1024)) MiB," \
                "+1 s $((t1 / 1024)) MiB: retained $r% of the growth"
            # VMs are ~95 KiB each: the growth must show they were made
            [ $grow -ge $((VMS * 48)) ]
            check $? "demo $tag: ran, RSS grew $((grow / 1024)) MiB for $VMS VMs (>= 48 KiB each)"
            maps=$(grep '^MAPS ' "$f.out")
            end=$(grep '^INFO end ' "$f.out")
            case $mode in
            glibc)
                echo "$end" | grep -q ' malloc_lib=libc\.so\.6 ' && ! echo "$maps" | grep -q 'libfrgmalloc\.so'
                check $? "demo $tag: the reference runs on glibc (malloc_lib=libc.so.6, no libfrgmalloc.so mapped)"
                ;;
            preload)
                echo "$maps" | grep -q 'libfrgmalloc\.so' &&
                    echo "$end" | grep -q ' malloc_lib=libfrgmalloc\.so ' &&
                    echo "$end" | grep -q ' proc\.lib=libfrgmalloc\.so '
                check $? "demo $tag: libfrgmalloc.so mapped, the SDK's malloc and the JVM's mallinfo2"
                ;;
            static)
                # The JVM on glibc: malloc and mallinfo2 resolve to libc, glibc's
                # heap holds the JVM's allocations, no libfrgmalloc.so mapped.
                puord=$(val "$f.out" "INFO end" proc.uordblks)
                echo "$end" | grep -q '^INFO end sdk_heap=frg-static malloc_lib=libc\.so\.6 frg_exported=0 ' &&
                    echo "$end" | grep -q ' proc\.lib=libc\.so\.6 ' &&
                    ! echo "$maps" | grep -q 'libfrgmalloc\.so' &&
                    echo "$maps" | grep -q 'libruleengine_frg\.so' && [ "${puord:-0}" -gt $MIB ]
                check $? "demo $tag: JVM on glibc (malloc_lib=libc.so.6, glibc heap in use" \
                    "$((${puord:-0} / 1024)) KiB, no libfrgmalloc.so mapped), SDK on its private heap"
                # The SDK heap's live bytes: ~0 (shared off) or the shared
                # objects only (~2 % of the peak): <= 1 % / 5 % of the loaded heap.
                live_l=$(val "$f.out" "INFO loaded" frg.uordblks)
                live_e=$(val "$f.out" "INFO end" frg.uordblks)
                lim=$([ $shared = off ] && echo 1 || echo 5)
                le "$(pct "${live_e:-1}" "${live_l:-0}")" $lim
                check $? "demo $tag: SDK heap live bytes $((${live_l:-0} / 1024)) KiB -> $((${live_e:-0} / 1024))" \
                    "KiB after destroy ($(pct "${live_e:-1}" "${live_l:-0}")%, limit $lim%)"
                ;;
            esac
            if [ $shared = off ]; then
                if [ $mode = glibc ]; then
                    ge "$r" 80
                    check $? "demo $tag: glibc keeps >= 80% of the growth ($r%): the test sees retention"
                else
                    le "$r" 3
                    check $? "demo $tag: retained $r% of the growth at +1 s (limit 3%)"
                fi
            elif [ $mode != glibc ] && [ -n "${RET[glibc-$t-on]:-}" ]; then
                g=${RET[glibc-$t-on]}
                le "$r" "$(awk -v g="$g" 'BEGIN { print g / 2 }')"
                check $? "demo $tag: retained $r% at +1 s, at most half of glibc's $g% (shared objects pin pages)"
            fi
        done
    done
done

# ---- Java helpers: a 200-thread stress and a long-running holder --------------
mkdir -p "$work/src" "$work/cls"
cat > "$work/src/JniStress.java" <<'JAVA'
/*
 * JniStress THREADS ROUNDS PER EVENTS - every thread, each round: creates
 * PER VMs, sends each the first EVENTS/2 events, hands them to the next
 * thread (all threads meet at a barrier), sends the VMs it received the
 * other events and destroys them; a barrier ends the round.  Every VM gets
 * the same event seeds and VM seeds are 0..N-1 (a fresh process), so the
 * totals are deterministic whatever the scheduling.
 */
import demo.RuleEngine;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.TreeSet;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

public final class JniStress {
    static final class Vm {
        final long handle;
        long hash = 17, fired;
        Vm(long h) { handle = h; }
    }

    static void run(Vm v, int from, int to) {
        for (int e = from; e < to; e++) {
            int f = RuleEngine.event(v.handle, e * 7919 + 1);
            v.fired += f;
            v.hash = v.hash * 1000003L + f + 1;
        }
    }

    public static void main(String[] a) throws Exception {
        final int threads = Integer.parseInt(a[0]), rounds = Integer.parseInt(a[1]);
        final int per = Integer.parseInt(a[2]), events = Integer.parseInt(a[3]);
        final CyclicBarrier barrier = new CyclicBarrier(threads);
        final Vm[][] slot = new Vm[threads][];
        final AtomicLong fired = new AtomicLong(), sum = new AtomicLong(), done = new AtomicLong();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            final int me = i;
            ts[i] = new Thread(() -> {
                try {
                    for (int r = 0; r < rounds; r++) {
                        Vm[] mine = new Vm[per];
                        for (int k = 0; k < per; k++) {
                            mine[k] = new Vm(RuleEngine.create());
                            run(mine[k], 0, events / 2);
                        }
                        slot[me] = mine;
                        barrier.await();
                        for (Vm v : slot[(me + 1) % threads]) {
                            run(v, events / 2, events);
                            RuleEngine.destroy(v.handle);
                            fired.addAndGet(v.fired);
                            sum.addAndGet(v.hash);
                            done.incrementAndGet();
                        }
                        barrier.await();
                    }
                } catch (Throwable t) {
                    error.compareAndSet(null, t);
                    barrier.reset();
                }
            }, "jni-stress-" + i);
        }
        for (Thread t : ts) t.start();
        for (Thread t : ts) t.join();
        if (error.get() != null) {
            error.get().printStackTrace();
            System.exit(1);
        }
        TreeSet<String> libs = new TreeSet<>();
        for (String line : Files.readAllLines(Paths.get("/proc/self/maps"))) {
            String name = line.substring(line.lastIndexOf(' ') + 1);
            if (name.matches(".*/lib(frgmalloc|ruleengine)[^/]*")) libs.add(name.substring(name.lastIndexOf('/') + 1));
        }
        System.out.println("INFO end " + RuleEngine.allocatorInfo());
        System.out.println("MAPS " + String.join(",", libs));
        System.out.printf("STRESS threads=%d vms=%d events=%d fired=%d checksum=%d%n", threads, done.get(),
                done.get() * events, fired.get(), sum.get());
    }
}
JAVA
cat > "$work/src/JniHolder.java" <<'JAVA'
/*
 * JniHolder - a JVM the test script drives through stdin, one command a
 * line:  churn N E  (create N VMs, E events each, destroy them all; prints
 * "churned n=N peak_kib=.. after_kib=..")   info   quit.
 * Prints "ready pid=PID" first.
 */
import demo.RuleEngine;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Paths;

public final class JniHolder {
    static long rssKib() throws Exception {
        for (String l : Files.readAllLines(Paths.get("/proc/self/status")))
            if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("[^0-9]", ""));
        return -1;
    }

    public static void main(String[] a) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        System.out.println("ready pid=" + ProcessHandle.current().pid());
        System.out.flush();
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split("\\s+");
            if (w[0].equals("churn")) {
                int n = Integer.parseInt(w[1]), ev = Integer.parseInt(w[2]);
                long[] h = new long[n];
                for (int i = 0; i < n; i++) h[i] = RuleEngine.create();
                for (int e = 0; e < ev; e++)
                    for (int i = 0; i < n; i++) RuleEngine.event(h[i], e * 31 + i);
                long peak = rssKib();
                for (int i = 0; i < n; i++) RuleEngine.destroy(h[i]);
                System.out.println("churned n=" + n + " peak_kib=" + peak + " after_kib=" + rssKib());
            } else if (w[0].equals("info")) {
                System.out.println("INFO " + RuleEngine.allocatorInfo());
            } else if (w[0].equals("quit")) {
                break;
            }
            System.out.flush();
        }
    }
}
JAVA
if javac -d "$work/cls" -cp "$out/classes" "$work/src/JniStress.java" "$work/src/JniHolder.java" \
    > "$work/javac-helpers.log" 2>&1; then
    ok "javac: test helpers"
else
    sed 's/^/#   /' "$work/javac-helpers.log"
    bad "javac: test helpers"
    exit 1
fi
CP="$out/classes:$work/cls"

# ---- 2a. javac on generated classes, glibc vs preload -------------------------
gen=$work/gen
mkdir -p "$gen/src/gen"
awk -v n=300 -v dir="$gen/src/gen" 'BEGIN {
    for (i = 0; i < n; i++) {
        f = sprintf("%s/C%d.java", dir, i); j = (i + 1) % n
        printf "package gen;\nimport java.util.*;\nimport java.util.function.*;\n" > f
        printf "public class C%d<T extends Comparable<T>> implements Comparable<C%d<T>> {\n", i, i > f
        printf "    static final String NAME = \"class-%d-\" + %d;\n    private final List<T> items = new ArrayList<>();\n", i, i * 7 > f
        printf "    private final Map<String, Integer> counts = new TreeMap<>();\n" > f
        for (m = 0; m < 6; m++) {
            printf "    public int m%d(int x) { int s = x; for (int k = 0; k < %d; k++) s = s * 31 + k ^ (s >>> 3); counts.merge(\"m%d\", s, Integer::sum); return s + NAME.length(); }\n", m, m + 3, m > f
        }
        printf "    public Optional<T> max() { return items.stream().max(Comparator.naturalOrder()); }\n" > f
        printf "    public void add(T t) { items.add(t); }\n" > f
        printf "    public int compareTo(C%d<T> o) { return Integer.compare(items.size(), o.items.size()); }\n", i > f
        printf "    public static int chain(int d) { return d <= 0 ? %d : new C%d<String>().m%d(d) + C%d.chain(d - 1); }\n", i, j, i % 6, j > f
        printf "    public Supplier<String> describe() { return () -> String.format(\"%%s:%%d:%%s\", NAME, items.size(), counts); }\n" > f
        printf "    enum Kind { A%d, B%d, C%d }\n", i, i, i > f
        printf "    record Pair%d(String a, long b) { }\n", i > f
        printf "    class Inner { int v = %d; String s() { return NAME + v + counts.size(); } }\n", i > f
        printf "    public String sw(Object o) { return switch (o.hashCode() %% 3) { case 0 -> \"zero\"; case 1 -> \"one\" + o; default -> String.valueOf(new Pair%d(\"x\", %dL)); }; }\n", i, i > f
        printf "}\n" > f
        close(f)
    }
}'
ls "$gen/src/gen"/*.java > "$gen/files"
declare -A JSUM
for mode in glibc preload; do
    mkdir -p "$gen/$mode"
    conf=$USER_CONF
    # the exit report shows that the allocator was in the javac process
    [ $mode = preload ] && conf="${USER_CONF:+$USER_CONF,}stats_print:true"
    s=$(date +%s.%N)
    if [ $mode = preload ]; then
        env LD_PRELOAD="$LIB" FRGMALLOC_CONF="$conf" javac -J-Xmx512m -d "$gen/$mode" @"$gen/files" \
            > "$gen/$mode.log" 2>&1
    else
        env -u LD_PRELOAD javac -J-Xmx512m -d "$gen/$mode" @"$gen/files" > "$gen/$mode.log" 2>&1
    fi
    rc=$?
    e=$(date +%s.%N)
    n=$(find "$gen/$mode" -name '*.class' | wc -l)
    JSUM[$mode]=$(cd "$gen/$mode" && find . -name '*.class' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
    note "javac $mode: exit $rc, $n classes, $(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.1f", b - a }') s, checksum ${JSUM[$mode]}"
    # each source: the class, an enum, a record and an inner class
    [ $rc -eq 0 ] && [ "$n" -eq 1200 ]
    check $? "javac [$mode]: 300 sources compiled ($n class files of 1200)"
done
grep -q 'Begin frgmalloc statistics' "$gen/preload.log" && clean_stderr "$gen/preload.log" "javac [preload]"
check $? "javac [preload] ran on libfrgmalloc (its exit report is on stderr) and printed no frgmalloc: message"
[ -n "${JSUM[glibc]}" ] && [ "${JSUM[glibc]}" = "${JSUM[preload]}" ]
check $? "javac [preload]: the same class files as on glibc (${JSUM[glibc]} vs ${JSUM[preload]})"

# ---- 2b. 200 Java threads through the SDK ------------------------------------
declare -A STRESS
for mode in glibc preload static; do
    f=$work/stress-$mode
    s=$(date +%s.%N)
    run_java "$mode" -Xmx256m -cp "$CP" -Druleengine.lib="$(sdk_of $mode)" JniStress 200 3 4 6 \
        > "$f.out" 2> "$f.err"
    rc=$?
    e=$(date +%s.%N)
    line=$(grep '^STRESS ' "$f.out")
    info=$(grep '^INFO end ' "$f.out" | tr ' ' '\n' |
        grep -E '^(sdk\.(live_vms|events|allocs|shared_allocs|symbols|metrics))=' | tr '\n' ' ')
    STRESS[$mode]="${line#STRESS } $info"
    note "stress $mode: exit $rc, $(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.1f", b - a }') s: ${STRESS[$mode]}"
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        bad "stress [$mode]: exit $rc: $(tail -3 "$f.err" | tr '\n' '|')"
        continue
    fi
    clean_stderr "$f.err" "stress [$mode]" || continue
    [ -s "$f.err" ] && note "stress [$mode]: stderr: $(head -c 300 "$f.err" | tr '\n' '|')"
    # 200 threads x 3 rounds x 4 VMs, 6 events each; all destroyed
    echo "$line" | grep -q ' vms=2400 events=14400 ' &&
        [ "$(val "$f.out" "INFO end" sdk.live_vms)" = 0 ] &&
        [ "$(val "$f.out" "INFO end" sdk.events)" = 14400 ]
    check $? "stress [$mode]: 200 threads, 2400 VMs each used by two threads, 14400 events, none left"
    case $mode in
    preload) grep -q ' malloc_lib=libfrgmalloc\.so ' "$f.out" && grep -q '^MAPS .*libfrgmalloc\.so' "$f.out" ;;
    static) grep -q 'sdk_heap=frg-static malloc_lib=libc\.so\.6 ' "$f.out" ;;
    *) true ;;
    esac
    check $? "stress [$mode]: allocator as intended ($(grep -o 'sdk_heap=[^ ]* malloc_lib=[^ ]*' "$f.out"))"
done
for mode in preload static; do
    [ -n "${STRESS[glibc]:-}" ] && [ "${STRESS[$mode]:-x}" = "${STRESS[glibc]}" ]
    check $? "stress [$mode]: the same totals as glibc (fired rules, per-VM checksums, SDK counters)"
done

# ---- 3-5. a long-running preloaded JVM: NMT, frgmalloc-stat, trim --------------
# start_holder NAME FD EXTRA_JVM_FLAGS...: JniHolder preloaded with HOLD_CONF,
# stdin from a fifo kept open on FD; sets HPID (the JVM's pid).
start_holder() {
    local name=$1 fd=$2
    shift 2
    mkfifo "$work/$name.in"
    env LD_PRELOAD="$LIB" FRGMALLOC_CONF="$HOLD_CONF" java -Xms256m -Xmx256m "$@" -cp "$CP" \
        -Druleengine.lib="$out/libruleengine.so" JniHolder < "$work/$name.in" > "$work/$name.out" \
        2> "$work/$name.err" &
    pids="$pids $!"
    eval "exec $fd>\"\$work/\$name.in\""
    HPID=
    if wait_for "$work/$name.out" '^ready pid=' 30; then
        HPID=$(sed -n 's/^ready pid=//p' "$work/$name.out")
    fi
}
# churn NAME FD N: one churn command; waits for its answer (sets CH_PEAK, CH_AFTER).
churn() {
    local before
    before=$(grep -c '^churned' "$work/$1.out")
    echo "churn $3 10" >&"$2"
    for ((i = 0; i < 600; i++)); do
        [ "$(grep -c '^churned' "$work/$1.out")" -gt "$before" ] && break
        sleep 0.1
    done
    CH_PEAK=$(val "$work/$1.out" churned peak_kib)
    CH_AFTER=$(val "$work/$1.out" churned after_kib)
}
# js FILE KEY: a number from frgmalloc-stat's JSON.
js() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2" 2> /dev/null; }

HN=2000
start_holder holder 3 -XX:NativeMemoryTracking=summary
hp=$HPID
if [ -z "$hp" ]; then
    bad "preloaded JVM with NMT did not start: $(tail -3 "$work/holder.err" | tr '\n' '|')"
else
    grep -q 'libfrgmalloc\.so' "/proc/$hp/maps"
    check $? "grep frgmalloc /proc/$hp/maps: libfrgmalloc.so is mapped in the JVM"
    r_base=$(rss_kib "$hp")
    churn holder 3 $HN
    grow=$((CH_PEAK - r_base))
    note "holder: churn of $HN VMs: RSS peak $((CH_PEAK / 1024)) MiB, after destroy $((CH_AFTER / 1024)) MiB (pages held by dirty_min:2G)"

    # 3. NMT
    jcmd "$hp" VM.native_memory summary > "$work/nmt.txt" 2>&1
    missing=""
    for sec in 'Native Memory Tracking:' 'Total: reserved=' '- *Java Heap (reserved=' '- *Class (reserved=' \
        '- *Thread (reserved=' '- *Code (reserved=' '- *GC (reserved=' '- *Internal (reserved=' \
        '- *Symbol (reserved=' '- *Arena Chunk (reserved='; do
        grep -q -- "$sec" "$work/nmt.txt" || missing="$missing [$sec]"
    done
    [ -z "$missing" ]
    check $? "jcmd VM.native_memory summary on the preloaded JVM: Total, Java Heap, Class, Thread, Code, GC, Internal, Symbol, Arena Chunk${missing:+; missing:$missing}"
    nmt_malloc=$(sed -n 's/^ *malloc: \([0-9]*\)KB.*/\1/p' "$work/nmt.txt" | head -1)

    # 5. frgmalloc-stat
    "$STAT" "$hp" > "$work/stat.txt" 2>&1
    rc=$?
    sed -n '1,10p' "$work/stat.txt" | sed 's/^/#   /'
    [ $rc -eq 0 ] && grep -q "^frgmalloc-stat: pid $hp (java)" "$work/stat.txt" &&
        grep -q '^ *live ' "$work/stat.txt" && grep -q 'purger thread running' "$work/stat.txt" &&
        ! grep -q 'did not answer' "$work/stat.txt"
    check $? "frgmalloc-stat $hp: the JVM answered (text report with live, purger running)"
    "$STAT" "$hp" --json > "$work/stat.json" 2>&1
    python3 -m json.tool "$work/stat.json" > /dev/null 2>&1
    check $? "frgmalloc-stat $hp --json: parses (python3 -m json.tool)"
    alloc=$(js "$work/stat.json" allocated)
    resid=$(js "$work/stat.json" resident)
    rss=$(js "$work/stat.json" rss)
    dirty=$(js "$work/stat.json" dirty)
    note "json: allocated $alloc, resident $resid, rss $rss, dirty $dirty, cached $(js "$work/stat.json" cached)," \
        "fragmented $(js "$work/stat.json" fragmented), metadata $(js "$work/stat.json" metadata); NMT malloc ${nmt_malloc:-?} KiB"
    [ "${alloc:-0}" -gt $MIB ] && [ "${alloc:-0}" -le "${resid:-0}" ] && [ "${resid:-0}" -le "${rss:-0}" ]
    check $? "frgmalloc-stat --json: 1 MiB < allocated ($((${alloc:-0} / MIB)) MiB) <= resident ($((${resid:-0} / MIB)) MiB) <= rss ($((${rss:-0} / MIB)) MiB)"
    # every byte HotSpot malloc'ed (NMT's malloc total) went through frgmalloc
    [ -n "$nmt_malloc" ] && [ "${alloc:-0}" -ge $((nmt_malloc * 1024 * 9 / 10)) ]
    check $? "NMT's malloc total (${nmt_malloc:-?} KiB) is within frgmalloc's live bytes ($((${alloc:-0} / 1024)) KiB)"
    # The churn freed ~$HN x 95 KiB; dirty_min:2G keeps it resident as dirty.
    [ "${dirty:-0}" -ge $((grow * 1024 / 2)) ]
    check $? "frgmalloc-stat: the destroyed VMs' pages are held as dirty ($((${dirty:-0} / MIB)) MiB," \
        ">= half the churn's growth of $((grow / 1024)) MiB)"
    r0=$(rss_kib "$hp")
    "$STAT" "$hp" --purge > "$work/purge.txt" 2>&1
    released=$(sed -n 's/^ *purge requested: \([0-9.]*\) MiB released.*/\1/p' "$work/purge.txt" | head -1)
    sleep 0.2
    r1=$(rss_kib "$hp")
    "$STAT" "$hp" --json > "$work/stat2.json" 2>&1
    dirty2=$(js "$work/stat2.json" dirty)
    # dirty2: the JVM keeps running (and freeing, with dirty_min:2G kept
    # dirty) between the purge and this look, so it is only "mostly gone".
    note "--purge: released ${released:-?} MiB; RSS $((r0 / 1024)) -> $((r1 / 1024)) MiB; dirty $((${dirty:-0} / MIB)) -> $((${dirty2:-0} / MIB)) MiB"
    [ -n "$released" ] && ge "$released" "$(awk -v d="${dirty:-0}" 'BEGIN { print d / 1048576 / 2 }')" &&
        [ "${dirty2:-$dirty}" -le $((${dirty:-0} / 8)) ] && [ $((r0 - r1)) -ge $((${dirty:-0} / 1024 / 2)) ]
    check $? "frgmalloc-stat --purge: released ${released:-?} MiB, dirty -> $((${dirty2:-0} / 1024)) KiB (<= 1/8)," \
        "RSS dropped $(((r0 - r1) / 1024)) MiB (>= half of the dirty pages)"

    # 4a. jcmd System.trim_native_heap
    r_base=$(rss_kib "$hp")
    churn holder 3 $HN
    grow=$((CH_PEAK - r_base))
    r0=$(rss_kib "$hp")
    jcmd "$hp" System.trim_native_heap > "$work/trim.txt" 2>&1
    sleep 0.2
    r1=$(rss_kib "$hp")
    tline=$(grep 'Trim native heap' "$work/trim.txt")
    note "jcmd System.trim_native_heap: '$tline'; RSS $((r0 / 1024)) -> $((r1 / 1024)) MiB"
    # "Trim native heap: RSS+Swap: 203M->70708K (-134M)"
    before=$(echo "$tline" | sed -n 's/.*RSS+Swap: *\([0-9]*[BKMG]\)->\([0-9]*[BKMG]\).*/\1/p')
    after=$(echo "$tline" | sed -n 's/.*RSS+Swap: *\([0-9]*[BKMG]\)->\([0-9]*[BKMG]\).*/\2/p')
    before=$([ -n "$before" ] && kib "$before")
    after=$([ -n "$after" ] && kib "$after")
    [ -n "$before" ] && [ -n "$after" ] && [ $((before - after)) -ge $((grow / 2)) ] &&
        [ $((r0 - r1)) -ge $((grow / 2)) ]
    check $? "jcmd System.trim_native_heap: reported ${before:-?}K -> ${after:-?}K, RSS dropped" \
        "$(((r0 - r1) / 1024)) MiB (both >= half of the churn's $((grow / 1024)) MiB)"

    echo quit >&3
    exec 3>&-
    for ((i = 0; i < 100; i++)); do kill -0 "$hp" 2> /dev/null || break; sleep 0.1; done
    ! kill -0 "$hp" 2> /dev/null && clean_stderr "$work/holder.err" "preloaded JVM (NMT)" &&
        [ ! -s "$work/holder.err" ]
    check $? "preloaded JVM with NMT exits cleanly, nothing on stderr$([ -s "$work/holder.err" ] &&
        echo ": $(head -c 300 "$work/holder.err" | tr '\n' '|')")"
    [ ! -e "/dev/shm/frgmalloc.$hp" ]
    check $? "its statistics page /dev/shm/frgmalloc.$hp is gone"
fi

# 4b. -XX:TrimNativeHeapInterval
flag=$(java -XX:+UnlockExperimentalVMOptions -XX:+UnlockDiagnosticVMOptions -XX:+PrintFlagsFinal -version 2> /dev/null |
    grep ' TrimNativeHeapInterval ')
if [ -z "$flag" ]; then
    ok "# SKIP -XX:TrimNativeHeapInterval: this JDK does not have it"
else
    unlock=
    echo "$flag" | grep -q '{experimental}' && unlock=-XX:+UnlockExperimentalVMOptions
    start_holder periodic 4 $unlock -XX:TrimNativeHeapInterval=1000 -Xlog:trimnative=info:file="$work/trim.log"
    hp=$HPID
    if [ -z "$hp" ]; then
        bad "preloaded JVM with TrimNativeHeapInterval did not start: $(tail -3 "$work/periodic.err" | tr '\n' '|')"
    else
        wait_for "$work/trim.log" 'Periodic Trim' 5
        r_idle=$(rss_kib "$hp")
        n0=$(grep -c 'Periodic Trim' "$work/trim.log")
        churn periodic 4 $HN
        sleep 2.5
        r1=$(rss_kib "$hp")
        # "Periodic Trim (2): 200M->121M (-81168K) 72.795ms": the trims made
        # since the churn started (they may fall in the middle of it)
        released=0
        while read -r a b; do
            released=$((released + $(kib "$a") - $(kib "$b")))
        done < <(grep 'Periodic Trim' "$work/trim.log" | tail -n +$((n0 + 1)) |
            sed -n 's/.*Periodic Trim ([0-9]*): *\([0-9]*[BKMG]\)->\([0-9]*[BKMG]\).*/\1 \2/p')
        note "periodic trim: $(grep -c 'Periodic Trim' "$work/trim.log") trims; churn peak $((CH_PEAK / 1024)) MiB," \
            "after destroy $((CH_AFTER / 1024)) MiB, +2.5 s $((r1 / 1024)) MiB; released since the churn ${released}K:"
        grep 'Periodic Trim' "$work/trim.log" | tail -n +$((n0 + 1)) | head -4 | sed 's/^/#   /'
        grep -q 'Periodic native trim enabled (interval: 1000 ms)' "$work/trim.log" && [ "$n0" -ge 1 ]
        check $? "-XX:TrimNativeHeapInterval=1000 ${unlock:+$unlock }on the preloaded JVM: enabled, trims every second"
        g=$((CH_PEAK - r_idle))
        [ "$released" -ge $((g / 2)) ] && [ $((CH_PEAK - r1)) -ge $((g / 2)) ]
        check $? "periodic trims released $((released / 1024)) MiB since the churn; RSS $((CH_PEAK / 1024)) ->" \
            "$((r1 / 1024)) MiB 2.5 s after it (both >= half of the churn's $((g / 1024)) MiB)"
        echo quit >&4
        exec 4>&-
        for ((i = 0; i < 100; i++)); do kill -0 "$hp" 2> /dev/null || break; sleep 0.1; done
        ! kill -0 "$hp" 2> /dev/null && clean_stderr "$work/periodic.err" "preloaded JVM (periodic trim)" &&
            [ ! -s "$work/periodic.err" ]
        check $? "preloaded JVM with periodic trim exits cleanly, nothing on stderr$([ -s "$work/periodic.err" ] &&
            echo ": $(head -c 300 "$work/periodic.err" | tr '\n' '|')")"
    fi
fi

note "took $(($(date +%s) - t_start)) s"
exit $fail
