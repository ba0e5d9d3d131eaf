/*
 * RuleEngine.java - Java side of the rule engine SDK's JNI binding
 * (sdk/ruleengine_jni.c).  A VM is an opaque native handle (a long).
 *
 * The native library is loaded from the path in -Druleengine.lib=PATH
 * (run-demo passes out/libruleengine.so or out/libruleengine_frg.so), or
 * else by System.loadLibrary("ruleengine") from java.library.path.
 *
 * One VM must not be used by two threads at once; any thread may create,
 * use or destroy any VM.
 */
package demo;

public final class RuleEngine {
    static {
        String path = System.getProperty("ruleengine.lib");
        if (path != null && !path.isEmpty()) {
            System.load(path);
        } else {
            System.loadLibrary("ruleengine");
        }
    }

    private RuleEngine() {}

    /** Creates a VM (about 100 KiB of native memory); returns its handle. */
    public static native long create();

    /** Sends one event to a VM; returns the number of rules that fired. */
    public static native int event(long vm, int seed);

    /** Frees a VM's native memory; the handle is invalid afterwards. */
    public static native void destroy(long vm);

    /** Turns the SDK's long-lived shared objects on or off for new VMs. */
    public static native void setShared(boolean on);

    /**
     * Calls the heap's own explicit purge (frg_malloc_trim, malloc_trim,
     * mi_collect, MallocExtension_ReleaseFreeMemory or jemalloc's
     * arena.4096.purge, whichever the process has); returns its name.
     */
    public static native String purgeAllocator();

    /**
     * One line of key=value pairs: which heap the SDK uses, which library
     * provides malloc, frg_mallinfo2() and the process's mallinfo2()
     * numbers, SDK counters.  See sdk/ruleengine_jni.c.
     */
    public static native String allocatorInfo();
}
