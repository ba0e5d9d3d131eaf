/*
 * Demo.java - the JNI churn scenario: a Java service creates many native
 * rule engine VMs, sends them events, destroys them all, then goes idle.
 * It records the RSS of its own process (VmRSS in /proc/self/status):
 *   baseline     after JVM and pool warm-up, before creating;
 *   peak         maximum of samples taken every 20 ms during the work;
 *   afterdestroy right after the last destroy; then +1 s, +5 s, +idle s.
 * During the idle period no JNI call is made (only the sampler reads
 * /proc/self/status into a preallocated buffer).
 *
 * Properties (-Dname=value):
 *   vms=10000   events=20 (per VM)   threads=1   idle=10 (seconds)
 *   warmup=200 (VMs created, used and destroyed before the baseline)
 *   mode=LABEL  (only printed)       shared=true|false (SDK shared objects;
 *                                     unset: the SDK reads RE_SHARED)
 *   trace=FILE  ("t_seconds rss_kib" every 50 ms from the start of the
 *                work; written at the end; "# name t" lines mark phases)
 *   purge=true  (call the heap's explicit purge, RuleEngine.purgeAllocator(),
 *                once right after the last destroy and before the
 *                after-destroy sample: what each allocator reaches when
 *                asked; the call is timed and named in an INFO line)
 *   ruleengine.lib=PATH (see RuleEngine.java)
 * Work: a fixed pool of `threads` threads (like a servlet container) runs
 * tasks of 10 VMs: creation in order, then `events` rounds over all VMs in
 * a shuffled order, then destruction in another shuffled order, so VMs are
 * often destroyed by another thread than their creator (counted).
 * Output: a table, INFO lines (RuleEngine.allocatorInfo() at baseline,
 * before destroying and at the end), a MAPS line (allocator libraries
 * mapped into this process) and one RESULT line for scripts.
 */
package demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public final class Demo {
    static final int CHUNK = 10;

    /** Reads VmRSS / VmHWM (KiB) without allocating a native buffer. */
    static final class Status {
        private final RandomAccessFile file;
        private final byte[] buf = new byte[4096];

        Status() throws IOException {
            file = new RandomAccessFile("/proc/self/status", "r");
        }

        synchronized long read(String key) {
            try {
                file.seek(0);
                int n = 0, r;
                while (n < buf.length && (r = file.read(buf, n, buf.length - n)) > 0) n += r;
                String s = new String(buf, 0, n, java.nio.charset.StandardCharsets.US_ASCII);
                int i = s.indexOf(key + ":");
                if (i < 0) return -1;
                int j = i + key.length() + 1;
                while (s.charAt(j) == ' ' || s.charAt(j) == '\t') j++;
                int k = j;
                while (Character.isDigit(s.charAt(k))) k++;
                return Long.parseLong(s.substring(j, k));
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }
    }

    /** Samples RSS every 10 ms: peak every 20 ms while tracking, trace every 50 ms. */
    static final class Sampler extends Thread {
        final Status st;
        final long t0 = System.nanoTime();
        final long[] traceT = new long[200000], traceRss = new long[200000];
        int traceN;
        volatile boolean tracking, stop;
        volatile long peak;

        Sampler(Status st) {
            super("rss-sampler");
            this.st = st;
            setDaemon(true);
        }

        @Override
        public void run() {
            for (long k = 0; !stop; k++) {
                boolean p = tracking && k % 2 == 0, t = k % 5 == 0;
                if (p || t) {
                    long rss = st.read("VmRSS");
                    if (p && rss > peak) peak = rss;
                    if (t && traceN < traceT.length) {
                        traceT[traceN] = System.nanoTime() - t0;
                        traceRss[traceN++] = rss;
                    }
                }
                long next = t0 + (k + 1) * 10_000_000L;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    try {
                        Thread.sleep(wait / 1_000_000L, (int) (wait % 1_000_000L));
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        }
    }

    static final ThreadLocal<Integer> WORKER = ThreadLocal.withInitial(() -> -1);

    static double secs(long ns) {
        return ns / 1e9;
    }

    static void runAll(ExecutorService pool, List<Runnable> tasks) throws Exception {
        List<Future<?>> fs = new ArrayList<>(tasks.size());
        for (Runnable r : tasks) fs.add(pool.submit(r));
        for (Future<?> f : fs) f.get();
    }

    static int[] shuffled(int n, Random rnd) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1), t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    static void sleepUntil(long deadline) throws InterruptedException {
        long w;
        while ((w = deadline - System.nanoTime()) > 0) Thread.sleep(Math.max(1, w / 1_000_000L));
    }

    static String mappedAllocators() throws IOException {
        TreeSet<String> libs = new TreeSet<>();
        for (String line : Files.readAllLines(Paths.get("/proc/self/maps"))) {
            int slash = line.lastIndexOf('/');
            if (slash < 0) continue;
            String name = line.substring(slash + 1);
            if (name.matches(".*(frgmalloc|jemalloc|tcmalloc|mimalloc|ruleengine).*")) libs.add(name);
        }
        return libs.isEmpty() ? "none" : String.join(",", libs);
    }

    public static void main(String[] args) throws Exception {
        final int vms = Integer.getInteger("vms", 10000);
        final int events = Integer.getInteger("events", 20);
        final int threads = Integer.getInteger("threads", 1);
        final int idle = Integer.getInteger("idle", 10);
        final int warmup = Integer.getInteger("warmup", 200);
        final String mode = System.getProperty("mode", "unknown");
        final String trace = System.getProperty("trace");
        final String shared = System.getProperty("shared");
        final boolean purge = Boolean.getBoolean("purge");
        if (shared != null) RuleEngine.setShared(Boolean.parseBoolean(shared));

        AtomicInteger nextWorker = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(threads, threads, 1, TimeUnit.HOURS,
                new LinkedBlockingQueue<>(), r -> {
                    int id = nextWorker.getAndIncrement();
                    Thread t = new Thread(() -> {
                        WORKER.set(id);
                        r.run();
                    }, "worker-" + id);
                    t.setDaemon(true);
                    return t;
                });
        pool.prestartAllCoreThreads();

        // Warm-up: JIT, class loading, every pool thread's first native calls.
        List<Runnable> warm = new ArrayList<>();
        for (int i = 0; i < warmup; i++) {
            final int s = i;
            warm.add(() -> {
                long h = RuleEngine.create();
                for (int e = 0; e < events; e++) RuleEngine.event(h, s * 31 + e);
                RuleEngine.destroy(h);
            });
        }
        runAll(pool, warm);
        Thread.sleep(1000);

        Status st = new Status();
        Sampler sampler = new Sampler(st);
        System.out.println("INFO baseline " + RuleEngine.allocatorInfo());
        final long baseline = st.read("VmRSS");
        sampler.peak = baseline;
        sampler.tracking = true;
        sampler.start();

        final long[] handles = new long[vms];
        final int[] creator = new int[vms];
        final Random rnd = new Random(42);
        final long tStart = System.nanoTime();
        List<Runnable> tasks = new ArrayList<>();
        for (int c = 0; c < vms; c += CHUNK) {
            final int lo = c, hi = Math.min(vms, c + CHUNK);
            tasks.add(() -> {
                for (int i = lo; i < hi; i++) {
                    handles[i] = RuleEngine.create();
                    creator[i] = WORKER.get();
                }
            });
        }
        runAll(pool, tasks);
        final long tCreated = System.nanoTime();

        for (int round = 0; round < events; round++) {
            final int[] order = shuffled(vms, rnd);
            final int r = round;
            tasks.clear();
            for (int c = 0; c < vms; c += CHUNK) {
                final int lo = c, hi = Math.min(vms, c + CHUNK);
                tasks.add(() -> {
                    for (int k = lo; k < hi; k++) RuleEngine.event(handles[order[k]], r * 1_000_003 + order[k]);
                });
            }
            runAll(pool, tasks);
        }
        final long tEvents = System.nanoTime();
        long loaded = st.read("VmRSS");
        sampler.peak = Math.max(sampler.peak, loaded);
        System.out.println("INFO loaded " + RuleEngine.allocatorInfo());

        final int[] order = shuffled(vms, rnd);
        final AtomicInteger cross = new AtomicInteger();
        tasks.clear();
        for (int c = 0; c < vms; c += CHUNK) {
            final int lo = c, hi = Math.min(vms, c + CHUNK);
            tasks.add(() -> {
                int me = WORKER.get(), n = 0;
                for (int k = lo; k < hi; k++) {
                    int i = order[k];
                    if (creator[i] != me) n++;
                    RuleEngine.destroy(handles[i]);
                    handles[i] = 0;
                }
                cross.addAndGet(n);
            });
        }
        runAll(pool, tasks);
        final long tDestroyed = System.nanoTime();
        sampler.tracking = false;
        if (purge) {
            long p0 = System.nanoTime();
            String called = RuleEngine.purgeAllocator();
            System.out.printf("INFO purge %s %.1f ms%n", called, (System.nanoTime() - p0) / 1e6);
        }
        final long afterDestroy = st.read("VmRSS");
        final long peak = Math.max(sampler.peak, loaded);

        // Idle: no JNI calls, only the sampler and these reads.
        sleepUntil(tDestroyed + 1_000_000_000L);
        final long t1 = st.read("VmRSS");
        sleepUntil(tDestroyed + Math.min(5, idle) * 1_000_000_000L);
        final long t5 = st.read("VmRSS");
        sleepUntil(tDestroyed + idle * 1_000_000_000L);
        final long t10 = st.read("VmRSS");
        final long hwm = st.read("VmHWM");
        sampler.stop = true;
        sampler.join();

        System.out.println("INFO end " + RuleEngine.allocatorInfo());
        System.out.println("MAPS " + mappedAllocators());
        pool.shutdown();

        double createS = secs(tCreated - tStart), eventsS = secs(tEvents - tCreated);
        double destroyS = secs(tDestroyed - tEvents), wallS = secs(tDestroyed - tStart);
        System.out.printf("mode %s, threads %d, %d VMs x %d events, cross-thread destroys %d (%.0f%%)%n",
                mode, threads, vms, events, cross.get(), 100.0 * cross.get() / Math.max(1, vms));
        System.out.printf("  %-22s %10s%n", "point", "RSS MiB");
        String[] names = {"baseline", "peak (sampled)", "peak (VmHWM)", "after last destroy", "+1 s",
                "+" + Math.min(5, idle) + " s",
                "+" + idle + " s"};
        long[] vals = {baseline, peak, hwm, afterDestroy, t1, t5, t10};
        for (int i = 0; i < names.length; i++) System.out.printf("  %-22s %10.1f%n", names[i], vals[i] / 1024.0);
        System.out.printf("  retained at +1 s: %.1f%% of the growth; time: create %.2f s, events %.2f s, destroy %.2f s%n",
                100.0 * (t1 - baseline) / Math.max(1, peak - baseline), createS, eventsS, destroyS);
        System.out.printf("RESULT mode=%s threads=%d vms=%d events=%d baseline_kib=%d peak_kib=%d hwm_kib=%d"
                        + " afterdestroy_kib=%d t1_kib=%d t5_kib=%d t10_kib=%d create_s=%.3f events_s=%.3f"
                        + " destroy_s=%.3f wall_s=%.3f cross_destroys=%d purge=%d%n",
                mode, threads, vms, events, baseline, peak, hwm, afterDestroy, t1, t5, t10, createS, eventsS,
                destroyS, wallS, cross.get(), purge ? 1 : 0);

        if (trace != null) {
            try (PrintWriter w = new PrintWriter(trace, "US-ASCII")) {
                long base = tStart - sampler.t0;
                w.printf("# mode=%s threads=%d vms=%d events=%d; t_seconds rss_kib, t=0 at the start of the work%n",
                        mode, threads, vms, events);
                w.printf("# created %.3f%n# events_done %.3f%n# destroyed %.3f%n", createS, secs(tEvents - tStart),
                        wallS);
                for (int i = 0; i < sampler.traceN; i++)
                    w.printf("%.3f %d%n", secs(sampler.traceT[i] - base), sampler.traceRss[i]);
            }
        }
    }
}
