/*
 * publish.c - the shared statistics page behind frgmalloc-stat.
 *
 * Owns: the /dev/shm file, its mapping, the sequence-locked snapshot.
 * Locking: only the purger thread writes the snapshot (and, at start, exit
 * and fork, the thread running the lifecycle hook); readers in other
 * processes use the sequence counter.  pub_lock (rank CTL) serialises the
 * lifecycle hooks against the writer.
 */
#define _GNU_SOURCE
#include "publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "lock.h"
#include "options.h"
#include "purge.h"

static struct frg_pub *pub;
static char path[64];
static frg_padded_lock_t pub_lock = FRG_PADDED_LOCK_INIT(FRG_RANK_CTL);

static uint64_t unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_snapshot(void) {
    static struct frg_stats st; /* only the purger thread or a lifecycle hook gets here */
    frg_stats_collect(&st);
    __atomic_fetch_add(&pub->seq, 1, __ATOMIC_ACQ_REL); /* odd: writing */
    memcpy(&pub->stats, &st, sizeof st);
    pub->updated_unix_ms = unix_ms();
    __atomic_fetch_add(&pub->seq, 1, __ATOMIC_RELEASE); /* even: stable */
}

static struct frg_pub *create(void) {
    int saved = errno;
#ifdef FRG_OVERRIDE_GLIBC
    const char *kind = "";
#else
    const char *kind = ".sdk";
#endif
    int fd = -1;
    for (int n = 0; n < 8 && fd < 0; n++) {
        if (*kind)
            frg_snprintf(path, sizeof path, FRG_PUB_DIR "/frgmalloc.%d%s%d", (int)getpid(), kind, n);
        else
            frg_snprintf(path, sizeof path, FRG_PUB_DIR "/frgmalloc.%d", (int)getpid());
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST && !*kind) {
            /* left by an earlier program with this pid (exec, crash): ours now */
            unlink(path);
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        }
        if (fd < 0 && (errno != EEXIST || !*kind))
            break;
    }
    struct frg_pub *p = NULL;
    if (fd >= 0) {
        if (ftruncate(fd, sizeof(struct frg_pub)) == 0) {
            void *m = mmap(NULL, sizeof(struct frg_pub), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            p = m == MAP_FAILED ? NULL : m;
        }
        close(fd);
        if (!p)
            unlink(path);
    }
    if (p) {
        memcpy(p->magic, FRG_PUB_MAGIC, 8);
        p->struct_size = sizeof *p;
        p->pid = (int32_t)getpid();
    } else {
        path[0] = '\0';
    }
    errno = saved;
    return p;
}

/* Remove pages left by processes that died without exiting (SIGKILL, a
 * crash): ours to remove if they belong to our user and the process is
 * gone.  Runs in the library constructor, where allocating is fine. */
static void remove_stale_pages(void) {
    int saved = errno;
    DIR *d = opendir(FRG_PUB_DIR);
    if (!d) {
        errno = saved;
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "frgmalloc.", 10))
            continue;
        char *end;
        long pid = strtol(e->d_name + 10, &end, 10);
        if (pid <= 0 || (*end && *end != '.') || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_uid == geteuid())
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
    errno = saved;
}

/* Create this process's page; no allocation (a fork child calls it). */
static void create_page(void) {
    if (!frg_opt.publish)
        return;
    frg_lock(&pub_lock.lock);
    if (!pub && (pub = create()))
        write_snapshot();
    frg_unlock(&pub_lock.lock);
}

void frg_publish_start(void) {
    if (frg_opt.publish)
        remove_stale_pages();
    create_page();
}

int *frg_publish_doorbell(bool *shared) {
    *shared = pub != NULL;
    return pub ? &pub->doorbell : NULL;
}

void frg_publish_refresh(void) {
    frg_lock(&pub_lock.lock);
    if (pub)
        write_snapshot();
    frg_unlock(&pub_lock.lock);
}

void frg_publish_serve(void) {
    frg_lock(&pub_lock.lock);
    if (!pub) {
        frg_unlock(&pub_lock.lock);
        return;
    }
    uint64_t purges = __atomic_load_n(&pub->purge_requests, __ATOMIC_ACQUIRE);
    uint64_t reqs = __atomic_load_n(&pub->requests, __ATOMIC_ACQUIRE);
    bool purge = purges != pub->purges_served, refresh = reqs != pub->served;
    frg_unlock(&pub_lock.lock);
    size_t released = purge ? frg_purge_all() : 0; /* on this thread, never in a signal handler */
    if (!purge && !refresh)
        return;
    frg_lock(&pub_lock.lock);
    if (pub) {
        write_snapshot();
        if (purge) {
            pub->purge_released = released;
            __atomic_store_n(&pub->purges_served, purges, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&pub->served, reqs, __ATOMIC_RELEASE);
    }
    frg_unlock(&pub_lock.lock);
}

void frg_publish_stop(void) {
    frg_lock(&pub_lock.lock);
    if (pub) {
        unlink(path);
        munmap(pub, sizeof *pub);
        pub = NULL;
    }
    frg_unlock(&pub_lock.lock);
}

void frg_publish_lock(void) { frg_lock(&pub_lock.lock); }
void frg_publish_unlock(void) { frg_unlock(&pub_lock.lock); }

void frg_publish_after_fork_child(void) {
    frg_lock_reinit(&pub_lock.lock);
    if (pub) { /* the parent's page: let go of it, without unlinking its file */
        munmap(pub, sizeof *pub);
        pub = NULL;
    }
    /* Not the stale-page sweep: opendir allocates, and in the child of a
     * multithreaded process a malloc that is not fork-safe (a sanitizer's,
     * when we are linked privately) may hold a lock another thread of the
     * parent had taken.  The parent swept at its start. */
    create_page();
}
