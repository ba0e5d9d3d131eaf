/*
 * publish.h - live statistics readable from outside the process.
 *
 * With option `publish` (default on) each process that uses the library
 * maps a small shared file, /dev/shm/frgmalloc.<pid> (the static library:
 * frgmalloc.<pid>.sdk<n>), mode 0600, owned by the process's user, removed
 * at exit.  It holds a struct frg_stats snapshot under a sequence lock and
 * a doorbell word.  frgmalloc-stat rings the doorbell (a shared futex) to
 * ask for a fresh snapshot or a purge; the purger thread answers — never a
 * signal handler, never ptrace.
 */
#ifndef FRG_PUBLISH_H
#define FRG_PUBLISH_H

#include "stats.h"

#define FRG_PUB_MAGIC "FRGSTAT1"
#define FRG_PUB_DIR "/dev/shm"

struct frg_pub {
    char magic[8];
    uint32_t struct_size;     /* sizeof(struct frg_pub): layout check */
    int32_t pid;
    int32_t doorbell;         /* shared futex word: 1 = someone rang */
    uint32_t pad;
    uint64_t requests;        /* refresh requests (incremented by readers) */
    uint64_t served;          /* last request number answered */
    uint64_t purge_requests;  /* purge requests */
    uint64_t purges_served;
    uint64_t seq;             /* odd while the snapshot is being written */
    uint64_t updated_unix_ms; /* wall-clock time of the snapshot */
    uint64_t purge_released;  /* bytes the last requested purge released */
    struct frg_stats stats;
};

/* Create and map the file (library constructor, after fork in the child). */
FRG_HIDDEN void frg_publish_start(void);
/* The word the purger thread sleeps on, and whether it is process-shared. */
FRG_HIDDEN int *frg_publish_doorbell(bool *shared);
/* Purger thread: answer outstanding refresh and purge requests. */
FRG_HIDDEN void frg_publish_serve(void);
/* Purger thread: write a fresh snapshot. */
FRG_HIDDEN void frg_publish_refresh(void);
FRG_HIDDEN void frg_publish_lock(void);
FRG_HIDDEN void frg_publish_unlock(void);
FRG_HIDDEN void frg_publish_after_fork_child(void);
FRG_HIDDEN void frg_publish_stop(void);

#endif
