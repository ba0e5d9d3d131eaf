/*
 * fork_start.c - fork at once, while the purger thread the library's
 * constructor created may still be starting (tests/fork_start.sh delays
 * every thread's start with tests/libslowthread.so).  fork() must wait
 * for the purger to get past its start-up, at most about a second, and a
 * child forked while the purger was still not up must not start its own.
 *
 * Prints: fork_ms=N child_threads=T grandchild_threads=G child_ok=0|1
 *   fork_ms             how long the first fork() took in the parent
 *   child_threads       threads in the child just after fork (1: no purger)
 *   grandchild_threads  the same in a child the child forks at once
 *   child_ok            the child allocated, wrote and freed 1,000 objects
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(void) {
    int fds[2];
    if (pipe(fds) != 0)
        return 2;
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        int threads = count_threads();
        int ok = 1;
        void *p[1000];
        for (int i = 0; i < 1000; i++)
            if (!(p[i] = malloc(16 + i)) || !memset(p[i], i, 16 + i))
                ok = 0;
        for (int i = 0; i < 1000; i++)
            free(p[i]);
        pid_t g = fork();
        if (g == 0)
            _exit(count_threads());
        int gst = 0;
        int grand = g > 0 && waitpid(g, &gst, 0) == g && WIFEXITED(gst) ? WEXITSTATUS(gst) : -1;
        char line[64];
        int len = snprintf(line, sizeof line, "%d %d %d", threads, grand, ok);
        if (write(fds[1], line, (size_t)len) != len)
            _exit(3);
        _exit(0);
    }
    double fork_ms = now_ms() - t0;
    close(fds[1]);
    char buf[64] = {0};
    ssize_t r = read(fds[0], buf, sizeof buf - 1);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || r <= 0)
        return 1;
    int threads = 0, grand = 0, ok = 0;
    if (sscanf(buf, "%d %d %d", &threads, &grand, &ok) != 3)
        return 1;
    printf("fork_ms=%.0f child_threads=%d grandchild_threads=%d child_ok=%d\n", fork_ms, threads,
           grand, ok);
    return 0;
}
