/*
 * goshm.h - persistent, file-backed System V shared memory.
 *
 * libgoshm serves shmget/shmat/shmdt/shmctl from files in a store directory
 * (GOSHM_DIR, default /var/lib/goshm) so that segments survive the death of
 * every process and of the IPC namespace (a container restart).
 *
 * Two ways to use it:
 *   - unmodified programs: LD_PRELOAD=libgoshm.so, or link with -lgoshm;
 *     the library exports shmget, shmat, shmdt and shmctl with the exact
 *     signatures of <sys/shm.h>;
 *   - code that wants to say so: call the goshm_* functions below by name.
 *
 * Every function follows Linux: same return values, same errno, same
 * struct shmid_ds contents.  docs/DIFFERENCES.md lists what cannot match.
 */
#ifndef GOSHM_H
#define GOSHM_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GOSHM_VERSION_MAJOR 0
#define GOSHM_VERSION_MINOR 1
#define GOSHM_VERSION_PATCH 0

/* The System V calls, served from the default store (GOSHM_DIR). */
int goshm_shmget(key_t key, size_t size, int shmflg);
void *goshm_shmat(int shmid, const void *shmaddr, int shmflg);
int goshm_shmdt(const void *shmaddr);
int goshm_shmctl(int shmid, int cmd, struct shmid_ds *buf);

/*
 * Explicit stores.  goshm_store_open returns a handle for the store in dir
 * (created on first use, like the default store), or NULL with errno set.
 * Handles are interned per directory and live as long as the process; do
 * not free them.  dir == NULL means the default store (GOSHM_DIR).
 */
typedef struct goshm_store goshm_store;

goshm_store *goshm_store_open(const char *dir);
const char *goshm_store_path(const goshm_store *store);
int goshm_store_shmget(goshm_store *store, key_t key, size_t size, int shmflg);
void *goshm_store_shmat(goshm_store *store, int shmid, const void *shmaddr,
                        int shmflg);
int goshm_store_shmctl(goshm_store *store, int shmid, int cmd,
                       struct shmid_ds *buf);

/*
 * Garbage collection of a store: destroys segments that are marked for
 * removal (IPC_RMID) and attached nowhere, and removes files that no
 * segment owns (temporary files of creations that were interrupted, token
 * files of dead namespaces).  With dry_run != 0 none of what it reports is
 * removed (like any call on the store, it may still finish a cleanup that a
 * killed process left half-done, and forget namespaces found dead).  For
 * every item, report(kind, name, arg) is called if report is not NULL; kind
 * is GOSHM_GC_SEGMENT (name is the data file, and the shmid is passed in
 * the id field), GOSHM_GC_FILE, or GOSHM_GC_KERNEL (a one-byte kernel segment
 * of the caller's IPC namespace that counted attaches of a goshm segment
 * that is gone; its kernel shmid is in id).  Returns the number of items,
 * or -1 with errno set.  report runs while the store is locked: a goshm
 * call made from it fails with EDEADLK.
 */
enum goshm_gc_kind { GOSHM_GC_SEGMENT = 1, GOSHM_GC_FILE = 2, GOSHM_GC_KERNEL = 3 };
typedef void (*goshm_gc_report)(enum goshm_gc_kind kind, const char *name,
                                int id, void *arg);
int goshm_store_gc(goshm_store *store, int dry_run, goshm_gc_report report,
                   void *arg);

/*
 * Flush segment shmid to disk: its bytes, and what the store needs to find
 * it again (the registry and the directory entries).  When it returns 0, a
 * power cut or a crash of the machine leaves the segment with the bytes it
 * had at the call.  shmid -1 flushes every segment of the store.  Without
 * it, the kernel writes dirty pages back when it chooses (about 30 s);
 * GOSHM_SYNC=detach flushes at every shmdt and at a normal exit.  Returns 0,
 * or -1 with errno: EINVAL (no such id), EIO (the disk failed), or the
 * store's errors.
 */
int goshm_sync(int shmid);
int goshm_store_sync(goshm_store *store, int shmid);

/*
 * What a store's registry records about itself: its format, and the
 * repairs its first use after a reboot made (docs/DURABILITY.md).  Returns
 * 0, or -1 with errno (ENOENT: no store there yet; the store's errors).
 */
struct goshm_store_health {
	unsigned format_version;
	unsigned repairs;           /* repairs after a reboot, ever */
	unsigned repaired_slots;    /* the last one: segments freed */
	unsigned repaired_files;    /* and files removed */
	long long repaired_at;      /* when (seconds since the epoch; 0: never) */
};
int goshm_store_health(goshm_store *store, struct goshm_store_health *out);

/*
 * GOSHM_KEYS, as this process reads it: writes the keys and ranges goshm
 * serves (and "private" if IPC_PRIVATE is among them) into buf, and returns
 * its length; 0 when GOSHM_KEYS is unset (goshm serves everything); -1 with
 * errno EINVAL when GOSHM_KEYS cannot be used (or len < 64).  Every other
 * key goes to the kernel's System V calls unchanged.
 */
int goshm_routing(char *buf, size_t len);

/*
 * POSIX shared memory.  The library also exports shm_open and shm_unlink:
 * with GOSHM_POSIX unset they are glibc's, on /dev/shm; with GOSHM_POSIX=1
 * (or a comma list of name prefixes, e.g. "/PostgreSQL.,/psm_") the names
 * it covers are regular files in the store's posix/ directory, which
 * survive the container as segments do.  These two take a store and
 * always use it, whatever GOSHM_POSIX says.  Names, flags, modes and errno
 * are shm_open(3)'s and shm_unlink(3)'s.
 */
int goshm_store_shm_open(goshm_store *store, const char *name, int oflag,
                         mode_t mode);
int goshm_store_shm_unlink(goshm_store *store, const char *name);

/* Version string of the library, e.g. "0.1.0". */
const char *goshm_version(void);

/*
 * System V semaphores from the store (unless GOSHM_SEM=0; docs/DIFFERENCES.md).
 * The library also exports semget, semop, semtimedop and semctl with the
 * signatures of <sys/sem.h>.  goshm_store_semctl takes semctl's fourth
 * argument split: arg is the union semun's pointer (buf, array, __buf),
 * val its int (SETVAL).
 */
struct sembuf;
struct timespec;
int goshm_semget(key_t key, int nsems, int semflg);
int goshm_semop(int semid, struct sembuf *sops, size_t nsops);
int goshm_semtimedop(int semid, struct sembuf *sops, size_t nsops,
                     const struct timespec *timeout);
int goshm_store_semget(goshm_store *store, key_t key, int nsems, int semflg);
int goshm_store_semtimedop(goshm_store *store, int semid, struct sembuf *sops,
                           size_t nsops, const struct timespec *timeout);
int goshm_store_semctl(goshm_store *store, int semid, int semnum, int cmd,
                       void *arg, int val);

#ifdef __cplusplus
}
#endif

#endif /* GOSHM_H */
