/*
 * sem.h - private header of goshm's System V semaphores (docs/FORMAT.md,
 * "Semaphore sets").
 *
 * A store keeps its semaphore sets apart from its segments: sem/registry
 * maps keys and ids to sets, and each set lives in a file of its own,
 * sem/set-<gen>, that every process using the set maps shared.  Values,
 * waiters and SEM_UNDO adjustments are all in that mapping, so that an
 * uncontended semop is a few atomic instructions on it and no system
 * call.  The shm registry is not touched.
 */
#ifndef GOSHM_SEM_H
#define GOSHM_SEM_H

#include "engine.h"

#include <sys/sem.h>

/* The kernel's limits (include/uapi/linux/sem.h, 6.x defaults). */
#define GS_SEMMNI 32000u
#define GS_SEMMSL 32000
#define GS_SEMMNS (32000ull * 32000ull)
#define GS_SEMOPM 500
#define GS_SEMVMX 32767
#define GS_SEMAEM GS_SEMVMX
#define GS_SEMUSZ 20

/* Per set: blocked callers and processes holding SEM_UNDO adjustments
 * that goshm can track (docs/DIFFERENCES.md): 4096 undo records for sets
 * of up to 64 semaphores (a mutex shared by many workers), 256 for
 * larger ones (each record holds an adjustment per semaphore). */
#define GS_SEM_WAITERS 1024u
#define GS_SEM_UNDOS_SMALL 4096u
#define GS_SEM_UNDOS_LARGE 256u
static inline unsigned gs_nundos(unsigned nsems)
{
	return nsems <= 64 ? GS_SEM_UNDOS_SMALL : GS_SEM_UNDOS_LARGE;
}
#define GS_WAIT_OPS 32u           /* ops kept with a waiter for wakers */
#define GS_JOURNAL 1600u          /* 32-bit writes of one transaction */

#define GS_SEM_DIR "sem"
#define GS_SEM_REGISTRY "registry"
#define GS_SEM_MAGIC "GOSHMSEM"
#define GS_SET_MAGIC "GOSHMSET"
#define GS_SEM_VERSION 1u

/* ---- sem/registry ---- */

struct gs_sem_header {
	char magic[8];
	uint32_t version;
	uint32_t mni;
	uint32_t slot_size;
	int32_t seq;              /* ipc_idr_alloc()'s state, as for shm */
	int32_t last_idx;
	uint32_t idr_next;
	uint32_t in_use;
	uint32_t hi_water;
	uint64_t used_sems;       /* semaphores in all sets (SEMMNS) */
	uint64_t next_gen;
	uint64_t pending_gen;     /* a set file being made or removed */
	uint64_t store_id;
	uint64_t reserved[8];
};

enum { GS_SEM_FREE = 0, GS_SEM_LIVE = 1 };

struct gs_sem_slot {
	uint32_t state;
	int32_t key;
	uint32_t seq;
	uint32_t nsems;
	uint64_t gen;             /* names sem/set-<gen> */
	uint32_t id_base;         /* 0, or GS_ROUTED_BASE (routing.c) */
	uint32_t reserved;
};

#define GS_SEMREG_HDR 4096u
#define GS_SEMREG_SIZE (GS_SEMREG_HDR + GS_SEMMNI * sizeof(struct gs_sem_slot))

/* ---- sem/set-<gen> ---- */

struct gs_sem {
	int32_t semval;
	int32_t sempid;
};

/* A blocked semop.  Its thread holds mu while it waits: the kernel marks
 * mu's owner dead if the thread is killed, so a slot whose mu has no
 * owner is free, whatever else it says. */
enum { GS_W_WAITING = 1, GS_W_DONE = 2, GS_W_RETRY = 3, GS_W_IDRM = 4 };
struct gs_waiter {
	pthread_mutex_t mu;
	uint32_t status;          /* futex word the waiter sleeps on */
	int32_t result;           /* GS_W_DONE: 0 or -errno */
	uint32_t ticket;          /* arrival order */
	uint16_t nsops;           /* > GS_WAIT_OPS: the waiter retries itself */
	uint16_t blk_num;         /* the operation it blocks on, for */
	int16_t blk_op;           /* GETNCNT and GETZCNT */
	int16_t pad;
	int32_t undo;             /* its undo record, or -1 */
	int32_t pid;
	struct sembuf ops[GS_WAIT_OPS];
};

/* One process's SEM_UNDO adjustments on the set (its adj[] lies in the
 * adjustment area).  Its presence mutex is locked by the process for as
 * long as it lives: when the kernel marks it owner-dead, the process may
 * have died, and the pid and start time say whether it has. */
struct gs_undo {
	pthread_mutex_t presence;
	int32_t pid;
	uint32_t used;
	uint64_t start;           /* /proc/<pid>/stat starttime */
	uint64_t pidns;           /* the process's pid namespace (inode) */
	int64_t checked_ns;       /* last liveness check (monotonic) */
	int64_t ownerless_ns;     /* first seen without an owner, alive */
};

struct gs_semset {
	char magic[8];
	uint32_t version;
	uint32_t nsems;
	int32_t id;
	int32_t key;
	uint64_t store_id;
	uint64_t gen;
	uint32_t removed;         /* IPC_RMID: new calls fail, waiters get EIDRM */
	uint32_t uid, gid, cuid, cgid, mode;
	int64_t otime, ctime;
	uint8_t boot_id[16];
	uint32_t ticket;          /* next waiter's */
	uint32_t nwait;           /* waiters registered: wakers look only if set */
	uint32_t nundo;           /* undo records in use (hint for scans) */
	uint32_t whi;             /* waiter slots below this have been used */
	uint32_t uhi;             /* undo records below this have been used */
	uint32_t reserved1;
	pthread_mutex_t lock;     /* robust, process-shared */
	/* Redo journal: the 32-bit writes of the transaction under way, which
	 * a caller who finds the lock's owner dead applies again. */
	uint32_t jvalid;
	uint32_t jn;
	struct {
		uint32_t off;
		int32_t val;
	} j[GS_JOURNAL];
};

#define GS_SET_HDR 16384u
_Static_assert(sizeof(struct gs_semset) <= GS_SET_HDR, "set header size");

/* Offsets in a set file of n semaphores. */
static inline size_t gs_set_sems_off(void) { return GS_SET_HDR; }
static inline size_t gs_set_waiters_off(unsigned n)
{
	return (GS_SET_HDR + (size_t)n * sizeof(struct gs_sem) + 63) & ~(size_t)63;
}
static inline size_t gs_set_undos_off(unsigned n)
{
	return gs_set_waiters_off(n) + GS_SEM_WAITERS * sizeof(struct gs_waiter);
}
static inline size_t gs_set_adj_off(unsigned n)
{
	return gs_set_undos_off(n) + gs_nundos(n) * sizeof(struct gs_undo);
}
static inline size_t gs_set_size(unsigned n)
{
	size_t end = gs_set_adj_off(n) + (size_t)gs_nundos(n) * n * sizeof(int32_t);
	return (end + 4095) & ~(size_t)4095;
}

static inline struct gs_sem *gs_sems(struct gs_semset *s)
{
	return (struct gs_sem *)(void *)((char *)s + gs_set_sems_off());
}
static inline struct gs_waiter *gs_waiters(struct gs_semset *s)
{
	return (struct gs_waiter *)(void *)((char *)s + gs_set_waiters_off(s->nsems));
}
static inline struct gs_undo *gs_undos(struct gs_semset *s)
{
	return (struct gs_undo *)(void *)((char *)s + gs_set_undos_off(s->nsems));
}
static inline int32_t *gs_adj(struct gs_semset *s, unsigned rec)
{
	return (int32_t *)(void *)((char *)s + gs_set_adj_off(s->nsems)) +
	       (size_t)rec * s->nsems;
}

/* A locked sem registry. */
struct gs_semreg {
	struct goshm_store *store;
	struct gs_sem_header *hdr;
	struct gs_sem_slot *slots;
	int fd;
};

/* A set's mapping, pinned: it stays mapped until gs_semset_put (set is
 * NULL after it, and a put of an unpinned gs_pin does nothing). */
struct gs_pin {
	struct gs_semset *set;
	uint32_t ent;
};

/* sem_store.c */
GS_HIDDEN int gs_semreg_lock(struct goshm_store *s, struct gs_semreg *r, int create);
GS_HIDDEN void gs_semreg_unlock(struct gs_semreg *r);
GS_HIDDEN int gs_semreg_lock_live(struct goshm_store *s, struct gs_semreg *r, unsigned idx,
                                  unsigned base, int semid);
GS_HIDDEN int gs_semset_create(struct gs_semreg *r, unsigned idx, key_t key,
                               int nsems, int semflg, int *id);
GS_HIDDEN int gs_semset_get(struct goshm_store *s, int semid, struct gs_pin *out);
GS_HIDDEN int gs_semset_of_slot(struct gs_semreg *r, unsigned idx, struct gs_pin *out);
GS_HIDDEN void gs_semset_destroy(struct gs_semreg *r, unsigned idx);
GS_HIDDEN int gs_sem_id_of(const struct gs_sem_slot *sl, unsigned idx);
GS_HIDDEN int gs_sem_enabled(void);

/* sem_cache.c: this process's mappings of sets. */
GS_HIDDEN int gs_cache_pin(struct goshm_store *s, int semid, struct gs_pin *p);
GS_HIDDEN int gs_cache_pin_any(struct goshm_store *s, int semid, uint64_t gen,
                               struct gs_pin *p);
GS_HIDDEN int gs_cache_add(struct goshm_store *s, unsigned idx, struct gs_semset *m,
                           size_t len, struct gs_pin *p);
GS_HIDDEN void gs_cache_stale(struct gs_pin *p);
GS_HIDDEN void gs_semset_note_undo(struct gs_pin *p, int rec);
GS_HIDDEN void gs_semset_put(struct gs_pin *p);

/* sem_lock.c: the set's robust lock and its journal. */
GS_HIDDEN void gs_set_lock(struct gs_semset *s);
GS_HIDDEN void gs_set_unlock(struct gs_semset *s);
GS_HIDDEN void gs_j_begin(struct gs_semset *s);
GS_HIDDEN void gs_j_put(struct gs_semset *s, int32_t *addr, int32_t val);
GS_HIDDEN void gs_j_commit(struct gs_semset *s);
GS_HIDDEN void gs_j_replay(struct gs_semset *s);

/* semop.c */
GS_HIDDEN int gs_semtimedop(struct goshm_store *st, int semid, struct sembuf *sops,
                            size_t nsops, const struct timespec *timeout);
GS_HIDDEN void gs_sem_update_queue(struct gs_semset *s);
GS_HIDDEN int gs_sem_count(struct gs_semset *s, unsigned semnum, int zero);
GS_HIDDEN void gs_sem_wake_all(struct gs_semset *s, uint32_t status);

/* sem_undo.c */
GS_HIDDEN int gs_undo_mine(struct gs_semset *s, int create);
GS_HIDDEN void gs_undo_reap(struct gs_semset *s, int force_check);
GS_HIDDEN void gs_undo_clear_sem(struct gs_semset *s, int semnum);
GS_HIDDEN int gs_undo_others(struct gs_semset *s);
GS_HIDDEN int gs_undo_release(struct gs_semset *s, int rec);

/* semctl.c, semget.c */
GS_HIDDEN int gs_semget(struct goshm_store *s, key_t key, int nsems, int semflg);
GS_HIDDEN int gs_semctl(struct goshm_store *s, int semid, int semnum, int cmd,
                        void *arg, int val);
GS_HIDDEN int gs_sem_perms(const struct gs_semset *s, int flag);

/* sem_gc.c */
GS_HIDDEN int gs_sem_gc(struct goshm_store *s, int dry_run, goshm_gc_report report,
                        void *arg);

/* Raw system calls (sys.c-style, in sem_store.c). */
GS_HIDDEN long gs_sys_semget(key_t key, int nsems, int flg);
GS_HIDDEN long gs_sys_semtimedop(int id, struct sembuf *sops, size_t n,
                                 const struct timespec *t);
GS_HIDDEN long gs_sys_semctl(int id, int num, int cmd, void *arg);

#endif /* GOSHM_SEM_H */
