/*
 * frgmalloc-stat - read a running process's allocator statistics from
 * outside, without ptrace or a debugger.
 *
 *   frgmalloc-stat PID [--json] [--watch SECONDS] [--purge]
 *
 * Opens the statistics page the library publishes in /dev/shm
 * (publish.h), rings its doorbell so the process's purger thread writes a
 * fresh snapshot (and purges, with --purge), waits for the answer and
 * prints where the memory is: live, cached, dirty, fragmented, metadata,
 * against the process's RSS, and the size classes holding the most.
 * Owns nothing in the library; shares only the page layout.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "publish.h"

struct page {
    char path[300];
    struct frg_pub *pub;
};

static void usage(void) {
    fprintf(stderr, "usage: frgmalloc-stat PID [--json] [--watch SECONDS] [--purge]\n"
                    "Shows a running process's libfrgmalloc statistics (live, cached,\n"
                    "fragmented, metadata and resident bytes, top size classes).\n");
}

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static long proc_rss_kib(int pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long rss = -1;
    while (fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "VmRSS:", 6))
            rss = strtol(buf + 6, NULL, 10);
    fclose(f);
    return rss;
}

static void proc_name(int pid, char *out, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (f) {
        if (fgets(out, (int)size, f))
            out[strcspn(out, "\n")] = '\0';
        fclose(f);
    }
}

/* Every statistics page of `pid` (the preloaded library and any SDK). */
static int find_pages(int pid, struct page *pages, int max) {
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "frgmalloc.%d", pid), count = 0;
    DIR *d = opendir(FRG_PUB_DIR);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && count < max) {
        if (strncmp(e->d_name, prefix, (size_t)n) || (e->d_name[n] && e->d_name[n] != '.'))
            continue;
        snprintf(pages[count].path, sizeof pages[count].path, "%s/%s", FRG_PUB_DIR, e->d_name);
        int fd = open(pages[count].path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "frgmalloc-stat: %s: %s\n", pages[count].path, strerror(errno));
            continue;
        }
        struct stat st;
        void *m = MAP_FAILED;
        if (fstat(fd, &st) == 0 && (size_t)st.st_size == sizeof(struct frg_pub))
            m = mmap(NULL, sizeof(struct frg_pub), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED) {
            fprintf(stderr, "frgmalloc-stat: %s: not a page of this libfrgmalloc version\n",
                    pages[count].path);
            continue;
        }
        pages[count].pub = m;
        if (memcmp(pages[count].pub->magic, FRG_PUB_MAGIC, 8) ||
            pages[count].pub->struct_size != sizeof(struct frg_pub)) {
            fprintf(stderr, "frgmalloc-stat: %s: layout differs from this tool's\n",
                    pages[count].path);
            munmap(m, sizeof(struct frg_pub));
            continue;
        }
        count++;
    }
    closedir(d);
    return count;
}

static void ring(struct frg_pub *p) {
    __atomic_store_n(&p->doorbell, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &p->doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Ask for a fresh snapshot (and a purge); wait up to 3 s for the answer. */
static int request(struct frg_pub *p, int purge) {
    uint64_t want_purge = 0;
    if (purge)
        want_purge = __atomic_add_fetch(&p->purge_requests, 1, __ATOMIC_ACQ_REL);
    uint64_t want = __atomic_add_fetch(&p->requests, 1, __ATOMIC_ACQ_REL);
    ring(p);
    for (int i = 0; i < 300; i++) {
        if (__atomic_load_n(&p->served, __ATOMIC_ACQUIRE) >= want &&
            (!purge || __atomic_load_n(&p->purges_served, __ATOMIC_ACQUIRE) >= want_purge))
            return 0;
        usleep(10000);
    }
    return -1;
}

static void read_snapshot(const struct frg_pub *p, struct frg_stats *st, uint64_t *when) {
    for (;;) {
        uint64_t s1 = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            usleep(100);
            continue;
        }
        memcpy(st, &p->stats, sizeof *st);
        *when = p->updated_unix_ms;
        if (__atomic_load_n(&p->seq, __ATOMIC_ACQUIRE) == s1)
            return;
    }
}

static double age_seconds(uint64_t when_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    return now > when_ms ? (double)(now - when_ms) / 1000.0 : 0.0;
}


/* Size classes ordered by the memory their slabs occupy. */
static void top_classes(const struct frg_stats *st, int *order, int n) {
    for (int i = 0; i < FRG_NCLASSES; i++)
        order[i] = i;
    for (int i = 0; i < n && i < FRG_NCLASSES; i++)
        for (int j = i + 1; j < FRG_NCLASSES; j++) {
            size_t a = st->cls[order[i]].slabs * st->cls[order[i]].slab_pages;
            size_t b = st->cls[order[j]].slabs * st->cls[order[j]].slab_pages;
            if (b > a) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
}

static void print_text(int pid, const char *path, const struct frg_stats *st, double age,
                       long rss_kib, int answered, const struct frg_pub *p, int purged) {
    char name[64];
    proc_name(pid, name, sizeof name);
    printf("frgmalloc-stat: pid %d (%s), %s, snapshot %.2f s old%s\n", pid, name, path, age,
           answered ? "" : " (the process did not answer: purger thread off?)");
    if (purged)
        printf("  purge requested: %.1f MiB released\n", mib(p->purge_released));
    printf("  per-CPU caches: %s on %u CPUs (rseq area: %s); purger thread %s\n",
           frg_cache_mode_name(st->cache_mode), st->ncpus, frg_rseq_area_name(st->rseq_area),
           st->purger_running ? "running" : "off");
    if (st->cache_mode == FRG_CACHE_LEASE)
        printf("  leases: %u of %u held (%llu granted, %llu taken back, %llu waits given up)\n",
               st->leases_held, st->leases, (unsigned long long)st->lease_grants,
               (unsigned long long)st->lease_revokes, (unsigned long long)st->lease_revoke_timeouts);
    size_t held = st->allocated + st->cached + st->dirty + st->fragmented + st->metadata;
    if (rss_kib >= 0)
        printf("  process RSS           %10.1f MiB\n", (double)rss_kib / 1024.0);
    printf("  allocator resident    %10.1f MiB   (upper bound; below, where it goes)\n",
           mib(st->resident));
    printf("    live                %10.1f MiB   objects the program holds\n", mib(st->allocated));
    printf("    cached              %10.1f MiB   free objects in CPU caches, cached huge mappings\n",
           mib(st->cached));
    printf("    dirty               %10.1f MiB   freed pages not purged yet\n", mib(st->dirty));
    printf("    fragmented          %10.1f MiB   free slots in slabs that hold live objects\n",
           mib(st->fragmented));
    printf("    metadata            %10.1f MiB\n", mib(st->metadata));
    if (rss_kib >= 0) {
        double other = (double)rss_kib / 1024.0 - mib(held);
        printf("  not the allocator's   %10.1f MiB   (other heaps, code, stacks, mappings)\n",
               other > 0 ? other : 0.0);
    }
    printf("  returned to the OS: %.1f MiB by madvise (%llu calls), %zu chunks unmapped; "
           "ends of free bursts seen: %llu\n",
           mib(st->purged_bytes), (unsigned long long)st->madvise_calls, st->chunks_unmapped,
           (unsigned long long)st->purge_bursts);
    printf("  free pages of slabs that hold live objects, returned: %.1f MiB\n",
           mib(st->slab_purged));
    printf("  objects: large %zu (%.1f MiB), huge %zu (%.1f MiB)\n", st->large_count,
           mib(st->large_allocated), st->huge_count, mib(st->huge_allocated));
    int order[FRG_NCLASSES];
    top_classes(st, order, 8);
    printf("  top size classes by slab memory:\n    %8s %8s %10s %10s %10s %5s\n", "size", "slabs",
           "live objs", "live MiB", "slab MiB", "util");
    for (int i = 0; i < 8; i++) {
        const struct frg_class_stats *c = &st->cls[order[i]];
        if (!c->slabs)
            break;
        size_t live = c->objs_out - c->cached, cap = c->slabs * (c->slab_pages * 4096 / c->size);
        printf("    %8zu %8zu %10zu %10.2f %10.2f %4zu%%\n", c->size, c->slabs, live,
               mib(live * c->size), mib((c->slabs * c->slab_pages - c->purged_pages) * 4096),
               cap ? live * 100 / cap : 0);
    }
}

static void print_json(int pid, const char *path, const struct frg_stats *st, double age,
                       long rss_kib, int answered) {
    printf("{\"pid\": %d, \"file\": \"%s\", \"age_s\": %.3f, \"answered\": %s, \"rss\": %ld, "
           "\"percpu_mode\": \"%s\", \"ncpus\": %u, \"rseq_area\": \"%s\", "
           "\"leases\": %u, \"leases_held\": %u, \"purger_running\": %s,\n",
           pid, path, age, answered ? "true" : "false", rss_kib >= 0 ? rss_kib * 1024 : -1,
           frg_cache_mode_name(st->cache_mode), st->ncpus, frg_rseq_area_name(st->rseq_area),
           st->leases, st->leases_held, st->purger_running ? "true" : "false");
    printf(" \"allocated\": %zu, \"cached\": %zu, \"dirty\": %zu, \"fragmented\": %zu, "
           "\"metadata\": %zu, \"resident\": %zu, \"active\": %zu, \"mapped\": %zu, "
           "\"retained\": %zu, \"slab_purged\": %zu,\n",
           st->allocated, st->cached, st->dirty, st->fragmented, st->metadata, st->resident,
           st->active, st->mapped, st->retained, st->slab_purged);
    printf(" \"purged_bytes\": %llu, \"madvise_calls\": %llu, \"free_bursts\": %llu, "
           "\"large_count\": %zu, \"huge_count\": %zu,\n \"bins\": [",
           (unsigned long long)st->purged_bytes, (unsigned long long)st->madvise_calls,
           (unsigned long long)st->purge_bursts, st->large_count, st->huge_count);
    int first = 1;
    for (int i = 0; i < FRG_NCLASSES; i++) {
        const struct frg_class_stats *c = &st->cls[i];
        if (!c->slabs)
            continue;
        printf("%s{\"size\": %zu, \"slabs\": %zu, \"curregs\": %zu, \"cached\": %zu}",
               first ? "" : ", ", c->size, c->slabs, c->objs_out, c->cached);
        first = 0;
    }
    printf("]}\n");
}

int main(int argc, char **argv) {
    int pid = 0, json = 0, purge = 0;
    double watch = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--purge"))
            purge = 1;
        else if (!strcmp(argv[i], "--watch") && i + 1 < argc)
            watch = atof(argv[++i]);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        } else if (!pid && atoi(argv[i]) > 0)
            pid = atoi(argv[i]);
        else {
            usage();
            return 2;
        }
    }
    if (!pid) {
        usage();
        return 2;
    }
    if (kill(pid, 0) != 0 && errno == ESRCH) {
        fprintf(stderr, "frgmalloc-stat: no process %d\n", pid);
        return 1;
    }
    struct page pages[8];
    int n = find_pages(pid, pages, 8);
    if (!n) {
        fprintf(stderr, "frgmalloc-stat: no statistics page for process %d in %s (it does not "
                        "use libfrgmalloc, runs as another user, or has publish:false)\n",
                pid, FRG_PUB_DIR);
        return 1;
    }
    do {
        for (int i = 0; i < n; i++) {
            int answered = request(pages[i].pub, purge) == 0;
            struct frg_stats st;
            uint64_t when;
            read_snapshot(pages[i].pub, &st, &when);
            long rss = proc_rss_kib(pid);
            if (json)
                print_json(pid, pages[i].path, &st, age_seconds(when), rss, answered);
            else
                print_text(pid, pages[i].path, &st, age_seconds(when), rss, answered,
                           pages[i].pub, purge && answered);
        }
        purge = 0;
        fflush(stdout);
        if (watch > 0) {
            struct timespec ts = {(time_t)watch, (long)((watch - (double)(time_t)watch) * 1e9)};
            nanosleep(&ts, NULL);
            if (kill(pid, 0) != 0 && errno == ESRCH)
                break;
        }
    } while (watch > 0);
    return 0;
}
