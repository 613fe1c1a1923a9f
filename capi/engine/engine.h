/*
 * engine.h - private header of the goshm engine.
 *
 * The engine is plain C.  Nothing here may call into Go: legacy programs
 * fork, and Go code run in a forked child hangs.  Internal functions return
 * a value >= 0 or a negative errno (musl style); only exports.c touches
 * errno.  The on-disk format is described in docs/FORMAT.md; keep the two
 * in step.
 */
#ifndef GOSHM_ENGINE_H
#define GOSHM_ENGINE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "goshm.h"
#include "compat.h" /* musl */

#define GS_HIDDEN __attribute__((visibility("hidden")))
#define GS_EXPORT __attribute__((visibility("default")))
/* The data the fork handlers write in the parent (config.c, attach_table.c,
 * sem_cache.c): the mutexes they take and release, and the attach table's
 * length that the child's handler reads, kept in one small section so
 * that they share a page.  Every page of the library's data
 * written around a fork() is a copy-on-write fault in the parent and in
 * the child; spread over the .bss by the linker, the three mutexes had
 * come to take two pages (docs/BENCHMARKS.md, fork). */
#define GS_FORK_DATA __attribute__((section(".data.gs_fork")))
/* Thread-local state (siglock.c, creds.c), initial-exec: an offset from
 * the thread pointer, without __tls_get_addr, which would make the
 * library need ld.so by name.  A library loaded at startup (LD_PRELOAD,
 * DT_NEEDED) always has room; a dlopen() finds its 152 bytes in the C
 * library's reserve. */
#define GS_TLS __thread __attribute__((tls_model("initial-exec")))

/* Permission bits as the kernel's ipc code names them. */
#define S_IRUGO (S_IRUSR | S_IRGRP | S_IROTH)
#define S_IWUGO (S_IWUSR | S_IWGRP | S_IWOTH)
#define S_IXUGO (S_IXUSR | S_IXGRP | S_IXOTH)
#define S_IRWXUGO (S_IRWXU | S_IRWXG | S_IRWXO)

/* ---- Limits: the kernel's defaults, not the namespace's sysctls. ---- */

#define GS_SHMMNI 4096u                       /* segments per store */
#define GS_SHMMIN 1ul
#define GS_SHMMAX (ULONG_MAX - (1ul << 24))   /* include/uapi/linux/shm.h */
#define GS_SHMALL (ULONG_MAX - (1ul << 24))
#define GS_IPCMNI_SHIFT 15                    /* id = seq << 15 | index */
#define GS_IPCMNI (1u << GS_IPCMNI_SHIFT)
#define GS_SEQ_MAX (INT_MAX >> GS_IPCMNI_SHIFT)
#define GS_MIN_CYCLE 64                       /* ipc_min_cycle */
#define GS_NS_SLOTS 8                         /* IPC namespaces per segment */
#define GS_TOMBS 32                           /* presence segments to remove */
#define GS_POOL 16                            /* data files kept for reuse */
/* Index offset of the ids of segments made while GOSHM_KEYS routes other
 * keys to the kernel: the kernel's own indexes stay below it (routing.c). */
#define GS_ROUTED_BASE 16384u

/* ---- The registry file (docs/FORMAT.md). ---- */

#define GS_MAGIC "GOSHMREG"
#define GS_FORMAT_VERSION 3u
#define GS_REGISTRY_NAME "registry"
#define GS_SEGMENT_DIR "segments"

/*
 * A slot's state byte.  DYING exists only inside a locked call that is
 * destroying the segment: it is set before the last look at nattch, so
 * that a lock-free attach either is seen by that look or sees DYING
 * (registry.c gs_destroy_if_unused, shmat.c).
 */
enum gs_state { GS_FREE = 0, GS_LIVE = 1, GS_DYING = 2 };

/* A presence segment that a namespace other than the one removing it must
 * remove (IPC_RMID) the next time one of its processes takes the lock. */
struct gs_tomb {
	uint64_t ns_dev, ns_ino;
	int64_t native_ctime;
	int32_t native_id;
	int32_t creator;          /* pid, when native_id is not known (-2) */
};

struct gs_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;     /* bytes before the state array */
	uint32_t mni;             /* number of slots */
	uint32_t slot_size;
	uint32_t ns_slots;
	uint32_t page_size;       /* of the machine that created the store */
	uint64_t store_id;        /* random; names the store for attaches */
	int64_t created;
	/* ipc_idr_alloc()'s state, so ids follow the kernel's sequence. */
	int32_t seq;
	int32_t last_idx;
	uint32_t idr_next;
	uint32_t reserved0;
	uint64_t next_gen;        /* generation counter for file names */
	/* Non-zero while a call creates or removes the files of this
	 * generation and the slots do not say so yet: whoever takes the lock
	 * and finds it set knows that call died there (store.c). */
	uint64_t pending_gen;
	/* ---- Format 2. ---- */
	/* Odd while a locked call changes slots, keys or states: lock-free
	 * readers copy what they need and retry if it moved (seqlock). */
	uint32_t wseq;
	/* One more than the highest index that has been live: key scans stop
	 * there.  Only grows (until the store is recreated). */
	uint32_t hi_water;
	/* Live slots marked SHM_DEST: segments to destroy once unattached. */
	uint32_t dest_count;
	uint32_t ntomb;
	struct gs_tomb tombs[GS_TOMBS];
	/* IPC_SET's new owner and mode, written whole before they are
	 * applied: a holder killed in between leaves them for the next locker
	 * to apply, never half of them (store.c recover). */
	struct gs_redo_set {
		uint32_t idx_plus1;   /* 0: none */
		uint32_t uid, gid, mode;
		int64_t ctime;
	} redo_set;
	/* The boot of the machine that last used the store (boot_id): a
	 * store first used after a reboot -- a power cut among them -- is
	 * checked against its files and repaired (repair.c). */
	uint8_t boot_id[16];
	uint32_t repairs;         /* how many times, */
	uint32_t repaired_slots;  /* and at the last one: slots freed */
	int64_t repaired_at;      /* when (0: never) */
	uint32_t repaired_files;  /* files removed */
	/* Data files of destroyed segments an earlier engine kept for
	 * reuse, named segments/free-<gen>; this one only removes them
	 * (oldpool.c). */
	uint32_t nfree;
	uint64_t free_gens[GS_POOL];
	uint64_t reserved[4];
};

/* What one IPC namespace contributes to a segment's nattch. */
struct gs_ns_slot {
	uint64_t ns_dev, ns_ino;  /* /proc/self/ns/ipc of that namespace */
	int64_t native_ctime;     /* shm_ctime of its presence segment */
	int32_t native_id;        /* its presence segment (kernel shmid) */
	uint32_t published_v2;    /* format 2's count; 0 from format 3 (gs_slot.pub) */
	uint32_t token_gen;       /* names the token file; 0 = slot unused */
	int32_t creator;          /* pid making its presence segment (presence.c) */
};

struct gs_slot {
	uint32_t seq;
	uint32_t mode;            /* S_IRWXUGO | SHM_DEST | SHM_LOCKED */
	int32_t key;
	uint32_t uid, gid, cuid, cgid;
	int32_t cpid, lpid;
	uint32_t id_base;         /* 0, or GS_ROUTED_BASE (routing.c) */
	uint64_t segsz;
	int64_t atime, dtime, ctime;
	uint64_t last_ns_dev, last_ns_ino;   /* namespace of the last shmat/shmdt */
	uint64_t gen;             /* names the data file */
	uint32_t flags;           /* GS_SLOT_*; zero in stores of engines before it */
	uint32_t reserved32;
	uint64_t reserved[3];
	struct gs_ns_slot ns[GS_NS_SLOTS];
	/*
	 * Format 3: what namespace slot k contributes to nattch, as one word
	 * changed only by atomic read-modify-writes (publish.c): the count in
	 * the low 32 bits, a change counter in the high 32.  Every change
	 * bumps the counter, so a compare-and-swap from an old value cannot
	 * succeed after the word changed and changed back (ABA).
	 */
	uint64_t pub[GS_NS_SLOTS];
};

/* gs_slot.flags */
#define GS_SLOT_HUGETLB 1u /* made with SHM_HUGETLB: SHM_LOCK leaves it alone */
#define GS_SLOT_HUGE_LOG(f) (((f) >> 8) & 0x3fu) /* log2 of its huge page size, or 0 */
#define GS_SLOT_HUGE_LOG_SET(log) (((uint32_t)(log) & 0x3fu) << 8)

#define GS_HEADER_SIZE 4096u
#define GS_SLOT_SIZE 512u
#define GS_STATES_OFF GS_HEADER_SIZE
#define GS_KEYS_OFF (GS_STATES_OFF + GS_SHMMNI)
#define GS_SLOTS_OFF (GS_KEYS_OFF + GS_SHMMNI * 4u)
#define GS_REGISTRY_SIZE (GS_SLOTS_OFF + GS_SHMMNI * GS_SLOT_SIZE)

_Static_assert(sizeof(struct gs_header) <= GS_HEADER_SIZE, "header size");
_Static_assert(sizeof(struct gs_slot) <= GS_SLOT_SIZE, "slot size");
_Static_assert(offsetof(struct gs_slot, flags) == 96, "docs/FORMAT.md offsets");
_Static_assert(offsetof(struct gs_slot, ns) == 128, "docs/FORMAT.md offsets");
_Static_assert(offsetof(struct gs_slot, pub) == 448, "docs/FORMAT.md offsets");
_Static_assert(offsetof(struct gs_header, wseq) == 80, "format 1 fields stay put");
_Static_assert(offsetof(struct gs_header, boot_id) == 1144, "docs/FORMAT.md offsets");
_Static_assert(offsetof(struct gs_header, nfree) == 1180, "docs/FORMAT.md offsets");
_Static_assert(offsetof(struct gs_header, free_gens) == 1184, "docs/FORMAT.md offsets");

/* ---- Stores. ---- */

struct goshm_store {
	char dir[PATH_MAX - 256]; /* as configured (absolute); room for names */
	int dir_len;
	/* dir with its parents' symlinks resolved, made on first use
	 * (paths.c): every file of the store is reached from it. */
	char root[PATH_MAX - 256];
	int root_ok;
	pthread_mutex_t mu_root;
	/*
	 * The mapped registry, the identity of the file it maps, and when the
	 * path was last checked to still name it (lock-free calls re-check at
	 * most every GS_RECHECK_NS).  An older mapping is never unmapped:
	 * another thread may still read it.
	 */
	void *volatile map;
	dev_t map_dev;
	ino_t map_ino;
	int64_t checked_ns;
	int64_t checked_dir_ns;   /* segments/ last seen a directory (store.c) */
	int lockfree;             /* local file system: lock-free reads allowed */
	/* Serializes this process's locked calls: the registry lock is a
	 * POSIX record lock, which belongs to the process (store.c). */
	pthread_mutex_t mu;
	struct goshm_store *next;
};

#define GS_RECHECK_NS 100000000ll /* 100 ms */

/* A view of a store's registry: the mapping and its parts. */
struct gs_view {
	struct goshm_store *store;
	struct gs_header *hdr;
	uint8_t *state;
	int32_t *keys;
	char *slots;
};

/* Slot idx in a view's mapping (writable: the lock-free calls store a few
 * fields there, docs/FORMAT.md). */
static inline struct gs_slot *gs_view_slot(const struct gs_view *v, unsigned idx)
{
	return (struct gs_slot *)(void *)(v->slots + (size_t)idx * GS_SLOT_SIZE);
}

/* A store locked for the length of one call. */
struct gs_locked {
	struct goshm_store *store;
	struct gs_header *hdr;
	uint8_t *state;
	int32_t *keys;
	char *slots;
	int fd;                   /* registry, holding the POSIX lock; -1 = not locked */
	int writing;              /* inside a write section (hdr->wseq odd) */
	int cancel_state;
	/* The caller's IPC namespace, read once per call when needed. */
	int ns_known, ns_fresh;
	uint64_t ns_dev, ns_ino;
};

/* The slot index that an id (or a SHM_STAT index) names, and the index
 * base the segment must have been made with. */
static inline unsigned gs_idx_of(int id, unsigned *base)
{
	unsigned low = (unsigned)id & (GS_IPCMNI - 1);
	*base = low >= GS_ROUTED_BASE ? GS_ROUTED_BASE : 0;
	return low - *base;
}

/* config.c */
GS_HIDDEN struct goshm_store *gs_default_store(int *err);
GS_HIDDEN struct goshm_store *gs_store_intern(const char *dir, int *err);
GS_HIDDEN int gs_sparse(void);
GS_HIDDEN void gs_warn_store(const struct goshm_store *s, const char *what,
                             int err, const char *fix);
GS_HIDDEN void gs_warn_config(const char *var, const char *what, int err,
                              const char *fix);
GS_HIDDEN long gs_page_size(void);
GS_HIDDEN void gs_ipc_ns(uint64_t *dev, uint64_t *ino, int refresh);
GS_HIDDEN ssize_t gs_read_text(const char *path, char *buf, size_t size);
GS_HIDDEN long long gs_read_number(const char *path);
GS_HIDDEN void *gs_next_symbol(void **cache, const char *name);
GS_HIDDEN void *gs_libc_symbol(void **cache, const char *name);
GS_HIDDEN int gs_in_this_object(const void *f);
GS_HIDDEN int gs_program_binds_all(const char *const *names, int n);
GS_HIDDEN int gs_in_main_program(void);
GS_HIDDEN int64_t gs_monotonic_ns(void);
GS_HIDDEN pid_t gs_pid(void);
GS_HIDDEN int gs_boot_id(uint8_t out[16]);
enum gs_sync_mode { GS_SYNC_NONE = 0, GS_SYNC_DETACH = 1 };
GS_HIDDEN int gs_sync_mode(void);

/* store.c */
/* gs_lock's create: GS_CREATE makes a missing store (only shmget does);
 * GS_EXISTING gives -ENOENT for it, quietly. */
enum { GS_EXISTING = 0, GS_CREATE = 1 };
GS_HIDDEN int gs_lock(struct goshm_store *s, struct gs_locked *l, int create);
GS_HIDDEN void gs_unlock(struct gs_locked *l);
GS_HIDDEN void gs_write(struct gs_locked *l);
GS_HIDDEN void gs_write_done(struct gs_locked *l);
GS_HIDDEN int gs_view(struct goshm_store *s, struct gs_view *v);
GS_HIDDEN int gs_store_error(struct goshm_store *s, const char *what, int err,
                             const char *fix);

/* paths.c: every file of a store, reached without following a symlink. */
enum gs_file_kind { GS_FILE_DATA, GS_FILE_TOKEN };
struct gs_name {
	char s[64];
};
GS_HIDDEN void gs_data_name(uint64_t gen, struct gs_name *n);
GS_HIDDEN void gs_token_name(uint64_t gen, unsigned nsk, uint32_t tgen,
                             struct gs_name *n);
GS_HIDDEN int gs_path_of(const struct goshm_store *s, const char *sub,
                         const char *name, char *buf, size_t len);
GS_HIDDEN int gs_open_in(const struct goshm_store *s, const char *sub,
                         const char *name, int flags, mode_t mode);
GS_HIDDEN int gs_open_dir(const struct goshm_store *s, const char *sub);
GS_HIDDEN int gs_unlink_in(const struct goshm_store *s, const char *name);
GS_HIDDEN int gs_make_store_dirs(struct goshm_store *s);
GS_HIDDEN int gs_make_store_subdir(struct goshm_store *s, const char *name, mode_t mode);
GS_HIDDEN int gs_check_file(int fd, struct stat *st);
GS_HIDDEN int gs_lease_probe(int fd, int type);

/* registry.c */
GS_HIDDEN struct gs_slot *gs_slot_at(struct gs_locked *l, unsigned idx);
GS_HIDDEN int gs_id_of(struct gs_locked *l, unsigned idx);
GS_HIDDEN int gs_find_id(struct gs_locked *l, int shmid, unsigned *idx);
GS_HIDDEN int gs_find_index(struct gs_locked *l, int index, unsigned *idx);
GS_HIDDEN int gs_find_key(struct gs_locked *l, key_t key, unsigned *idx);
GS_HIDDEN int gs_alloc_index(struct gs_locked *l, unsigned *idx);
GS_HIDDEN void gs_publish(struct gs_locked *l, unsigned idx);
GS_HIDDEN int gs_max_index(struct gs_locked *l);
GS_HIDDEN int gs_next_live(struct gs_locked *l, unsigned from);
GS_HIDDEN int gs_next_live_used(struct gs_locked *l, unsigned from);
GS_HIDDEN void gs_mark_dest(struct gs_locked *l, unsigned idx);
GS_HIDDEN void gs_apply_set(struct gs_locked *l);
GS_HIDDEN int gs_destroy_if_unused(struct gs_locked *l, unsigned idx);
GS_HIDDEN void gs_reap_all(struct gs_locked *l);
GS_HIDDEN int gs_slot_damaged(struct gs_locked *l, unsigned idx);

/* snapshot.c: lock-free reads of the registry (seqlock). */
struct gs_snap {
	unsigned idx;
	int id;
	struct gs_slot slot;
	uint64_t store_id;
};
GS_HIDDEN int gs_snap_key(struct gs_view *v, key_t key, struct gs_snap *out);
GS_HIDDEN int gs_snap_id(struct gs_view *v, int shmid, struct gs_snap *out);
GS_HIDDEN int gs_snap_state(struct gs_view *v, unsigned idx, uint64_t gen, int *same);
#define GS_SNAP_RETRY 1 /* > 0: ask the locked path */

/* siglock.c: the engine's mutexes, with the program's signals held back
 * while a thread holds any of them. */
GS_HIDDEN int gs_mutex_lock(pthread_mutex_t *m);
GS_HIDDEN int gs_mutex_trylock(pthread_mutex_t *m);
GS_HIDDEN void gs_mutex_unlock(pthread_mutex_t *m);
GS_HIDDEN void gs_signals_hold(void);
GS_HIDDEN void gs_signals_release(void);
GS_HIDDEN int gs_in_call(void);
GS_HIDDEN int gs_reentry_refused(void);
GS_HIDDEN int gs_signal_handler_due(void);
/* sigwatch.c: whether the program has a signal handler of its own. */
GS_HIDDEN int gs_program_catches_signals(void);
GS_HIDDEN void gs_note_program_catches_signals(void);

/* oldpool.c: removes the data files an earlier engine kept for reuse. */
GS_HIDDEN void gs_oldpool_drain(struct gs_locked *l);

/* segfile.c */
GS_HIDDEN size_t gs_round_pages(uint64_t size);
GS_HIDDEN int gs_create_data(struct gs_locked *l, uint64_t gen, uint64_t size);
enum { GS_RDONLY = 1, GS_QUIET = 2 }; /* gs_open_data's flags */
GS_HIDDEN int gs_open_data(struct goshm_store *s, const struct gs_slot *sl,
                           int flags, struct stat *st);

/* creds.c: the calling thread's effective ids, re-read only after a call
 * that may have changed them. */
GS_HIDDEN uid_t gs_euid(void);
GS_HIDDEN gid_t gs_egid(void);
/* The C library's syscall(), for the engine's own system calls: they need
 * not pass through the library's exported syscall(), which watches the
 * program's for credential changes. */
typedef long (*gs_syscall_fn)(long, ...);
GS_HIDDEN gs_syscall_fn gs_libc_syscall(void);
/* exports.c: syscall() with a System V number, served as the C library's
 * functions of that name are (creds.c). */
GS_HIDDEN int gs_sysv_syscall(long n, const long *a, long *r);
#define gs_syscall(...) (gs_libc_syscall()(__VA_ARGS__))

/*
 * A generation that the library's watchers of the program's calls bump
 * before and after passing a call on (mapwatch.c, attrwatch.c).  It starts
 * at 2: a stamp of 0 is one taken while not watching, and is never
 * unchanged.
 */
struct gs_watch {
	uint64_t generation;
	int watching;
};
#define GS_WATCH_INIT {2, 0}

static inline void gs_watch_bump(struct gs_watch *w)
{
	__atomic_add_fetch(&w->generation, 1, __ATOMIC_SEQ_CST);
}

/* The bump after a call, keeping the call's errno. */
static inline void gs_watch_bump_after(struct gs_watch *w)
{
	int e = errno;
	gs_watch_bump(w);
	errno = e;
}

static inline uint64_t gs_watch_stamp(struct gs_watch *w)
{
	if (!__atomic_load_n(&w->watching, __ATOMIC_ACQUIRE))
		return 0;
	return __atomic_load_n(&w->generation, __ATOMIC_SEQ_CST);
}

static inline int gs_watch_unchanged(struct gs_watch *w, uint64_t stamp)
{
	return stamp != 0 && __atomic_load_n(&w->generation, __ATOMIC_SEQ_CST) == stamp;
}

static inline void gs_watch_start(struct gs_watch *w, int trusted)
{
	__atomic_store_n(&w->watching, trusted, __ATOMIC_RELEASE);
}

/* mapwatch.c: has the program changed what is mapped where since a stamp?
 * gs_maps_stamp() is 0 where that cannot be known; gs_maps_unchanged(0)
 * is always false. */
GS_HIDDEN uint64_t gs_maps_stamp(void);
GS_HIDDEN int gs_maps_unchanged(uint64_t stamp);
GS_HIDDEN void gs_maps_bump(void);
/* shmdt.c: the program unmapped or mapped over [lo, hi) itself. */
GS_HIDDEN void gs_attaches_unmapped(uintptr_t lo, uintptr_t hi);
#define GS_WATCH_MAPS 1
#define GS_WATCH_ATTRS 2
GS_HIDDEN int gs_maps_syscall(long n);
typedef long (*gs_syscall6_fn)(long, long, long, long, long, long, long);
GS_HIDDEN long gs_maps_pass_syscall(gs_syscall6_fn f, long n, const long *a, int kinds);
GS_HIDDEN int gs_unmap_whole_attach(uintptr_t addr, size_t len);
GS_HIDDEN uint64_t gs_own_unmaps(void);
GS_HIDDEN void *gs_duplicate_mapping(uintptr_t addr, size_t len);
/* attrwatch.c: has the program changed what a mapping is (protection,
 * lock, advice, policy) since a stamp?  As gs_maps_stamp(). */
GS_HIDDEN uint64_t gs_attrs_stamp(void);
GS_HIDDEN int gs_attrs_unchanged(uint64_t stamp);
GS_HIDDEN void gs_attrs_bump(void);
GS_HIDDEN int gs_attrs_fork_advice_begin(int advice);
GS_HIDDEN void gs_attrs_fork_advice_end(void *addr, size_t len, int advice, long r);

/* perm.c */
GS_HIDDEN int gs_ipcperms_ids(uint32_t uid, uint32_t gid, uint32_t cuid, uint32_t cgid,
                              uint32_t mode, int flag);
GS_HIDDEN int gs_ipcperms(const struct gs_slot *sl, int flag);
GS_HIDDEN int gs_ipcperms_fast(const struct gs_slot *sl, int flag);
GS_HIDDEN int gs_is_owner_or_cap(const struct gs_slot *sl, int cap);
GS_HIDDEN int gs_has_cap(int cap);
GS_HIDDEN int gs_in_group(gid_t gid);

/* hugetlb.c */
GS_HIDDEN int gs_hugetlb_check(int shmflg, uint64_t size, unsigned *page_log);

/* presence.c: nattch, kept by the kernel. */
GS_HIDDEN unsigned long gs_nattch(struct gs_locked *l, unsigned idx);
GS_HIDDEN int gs_presence_attach(struct gs_locked *l, unsigned idx,
                                 void **presence, int *nsk);
GS_HIDDEN int gs_presence_fast(const struct gs_slot *sl, int *nsk,
                               void **presence);
GS_HIDDEN void gs_presence_detach(void *presence);
GS_HIDDEN void gs_publish_local(struct gs_locked *l, unsigned idx);
GS_HIDDEN void gs_publish_exact(struct gs_slot *sl, unsigned k, uint64_t gen, uint32_t tgen);
/* publish.c: a namespace's published count (gs_slot.pub). */
GS_HIDDEN uint32_t gs_pub_count(const struct gs_slot *sl, unsigned k);
GS_HIDDEN int gs_pub_holds(const struct gs_slot *sl, unsigned k, uint64_t gen, uint32_t tgen);
GS_HIDDEN int gs_pub_add(struct gs_slot *sl, unsigned k, uint64_t gen, uint32_t tgen);
GS_HIDDEN void gs_pub_undo(struct gs_slot *sl, unsigned k, uint64_t gen, uint32_t tgen);
GS_HIDDEN void gs_slot_wipe(struct gs_slot *sl);
GS_HIDDEN int gs_pub_replace(struct gs_slot *sl, unsigned k, uint64_t seen, uint32_t count);
GS_HIDDEN uint64_t gs_pub_word(const struct gs_slot *sl, unsigned k);
GS_HIDDEN void gs_pub_clear(struct gs_slot *sl, unsigned k);
GS_HIDDEN void gs_merge_times(const struct gs_slot *sl, const struct shmid_ds *native, int k,
                              int64_t *atime, int64_t *dtime, int32_t *lpid);
GS_HIDDEN int gs_native_record(const struct gs_slot *sl, int k, struct shmid_ds *d);
GS_HIDDEN int gs_my_ns_slot(const struct gs_slot *sl);
GS_HIDDEN int gs_my_ns_slot_alone(const struct gs_slot *sl, int *alone);
GS_HIDDEN void gs_presence_release(struct gs_locked *l, const struct gs_slot *sl);
GS_HIDDEN void gs_tombs_sweep(struct gs_locked *l);
GS_HIDDEN int gs_presence_tag(int id, uint64_t *store_id, uint64_t *gen);
GS_HIDDEN int gs_is_presence(struct goshm_store *s, int id, const struct shmid_ds *d);
GS_HIDDEN int gs_names_my_presence(const struct gs_slot *sl, long id);

/* token.c: per-namespace token files and their liveness. */
GS_HIDDEN int gs_token_create(struct gs_locked *l, unsigned idx, unsigned k);
GS_HIDDEN int gs_token_map(struct gs_locked *l, unsigned idx, int nsk,
                           void **token);
GS_HIDDEN int gs_token_alive(struct gs_locked *l, unsigned idx, unsigned k);
GS_HIDDEN void gs_token_unlink(struct gs_locked *l, const struct gs_slot *sl,
                               unsigned k);

/* attach_table.c: this process's attaches, and per segment its token. */
struct gs_segkey {
	struct goshm_store *store;
	uint64_t store_id;        /* a store recreated at the same path differs */
	int shmid;
	uint64_t gen;
};
struct gs_attach {
	uintptr_t addr;
	size_t len;               /* whole pages */
	struct gs_segkey seg;
	unsigned nsk;             /* the namespace slot and token it counts in */
	uint32_t tgen;
	uint64_t vma_ino;         /* the mapping's file as /proc reports it */
	unsigned vma_dev_major, vma_dev_minor;
	void *presence;           /* kernel attach that counts this one */
	uint64_t serial;          /* tells two attaches at one address apart */
	uint64_t maps_stamp;      /* gs_maps_stamp() before it was mapped */
	uint64_t attrs_stamp;     /* gs_attrs_stamp() before it was mapped */
	int prot;                 /* the mapping's protection, as shmat made it */
	unsigned fork_flags;      /* GS_FORK_*: what MADV_DONTFORK made of it */
};
/* gs_attach.fork_flags (attach_table.c gs_table_fork_advice_locked) */
#define GS_FORK_LEAVES 1u /* it and its presence attach stay out of a child */
#define GS_FORK_CHECK 2u  /* part of it may: a child asks /proc about it */
GS_HIDDEN void gs_table_lock(void);
GS_HIDDEN void gs_table_unlock(void);
GS_HIDDEN void *gs_table_pin_token(const struct gs_segkey *k, unsigned nsk,
                                   uint32_t tgen);
GS_HIDDEN void *gs_table_add_token(const struct gs_segkey *k, unsigned nsk,
                                   uint32_t tgen, void *token);
GS_HIDDEN void gs_table_unpin(const struct gs_segkey *k, unsigned nsk,
                              uint32_t tgen);
GS_HIDDEN int gs_table_add(const struct gs_attach *a);
GS_HIDDEN int gs_table_take_exact(const struct gs_attach *a);
GS_HIDDEN int gs_table_find(uintptr_t addr, struct gs_attach *out);
GS_HIDDEN int gs_table_twin(const struct gs_segkey *k, int prot, struct gs_attach *out);
GS_HIDDEN size_t gs_table_snapshot(struct gs_attach *out, size_t max);
GS_HIDDEN size_t gs_table_overlapping(uintptr_t lo, uintptr_t hi, struct gs_attach *out,
                                      size_t max);
GS_HIDDEN int gs_table_take_covered(uintptr_t lo, uintptr_t hi,
                                    struct gs_attach *out);
GS_HIDDEN void gs_table_forget_segment(const struct gs_segkey *k);
GS_HIDDEN size_t gs_table_fork_advice_locked(uintptr_t lo, uintptr_t hi, int dontfork,
                                             int applied, int (*madv)(void *, size_t, int),
                                             uint64_t *advice);
GS_HIDDEN void gs_table_fork_pieces(uintptr_t lo, uintptr_t hi,
                                    int (*madv)(void *, size_t, int), uint64_t advice);
GS_HIDDEN void gs_table_forked_child(void);
GS_HIDDEN void gs_table_own_pages_fork(uintptr_t lo, uintptr_t hi, int advice,
                                      int (*madv)(void *, size_t, int));

/* The engine's own memory -- the attach table's arrays, the store list,
 * each store's registry mapping, the semaphore cache and the sets it maps
 * -- goes into every child whole, whatever a program advised over it
 * (attrwatch.c gs_attrs_fork_advice_end): each module undoes advice on
 * its own mappings with gs_own_mapping_fork, and gs_fork_own_pages
 * (config.c) calls each. */
GS_HIDDEN void gs_own_mapping_fork(const void *p, size_t len, uintptr_t lo, uintptr_t hi,
                                   int advice, int (*madv)(void *, size_t, int));
GS_HIDDEN void gs_fork_own_pages(uintptr_t lo, uintptr_t hi, int advice,
                                 int (*madv)(void *, size_t, int));
GS_HIDDEN void gs_sem_cache_own_pages_fork(uintptr_t lo, uintptr_t hi, int advice,
                                           int (*madv)(void *, size_t, int));
/* The mutexes fork()'s handlers take, in their order (config.c), and
 * for a program's madvise: the table's (all = 0) or all of them, 1 when
 * taken, 0 when a fork held them too long (config.c says why). */
GS_HIDDEN void gs_prefork(void);        /* fork()'s handlers (atfork.c) */
GS_HIDDEN void gs_postfork_parent(void);
GS_HIDDEN void gs_postfork_child(void);
GS_HIDDEN void gs_fork_lock_all(void);
GS_HIDDEN void gs_fork_unlock_all(void);
GS_HIDDEN int gs_fork_trylock(int all);
GS_HIDDEN void gs_fork_unlock(int all);
GS_HIDDEN int gs_table_trylock(void);
GS_HIDDEN void gs_sem_cache_lock(void);
GS_HIDDEN int gs_sem_cache_trylock(void);
GS_HIDDEN void gs_sem_cache_unlock(void);

/* vma.c: what the kernel has mapped where. */
struct gs_vma {
	uintptr_t start, end;
	uint64_t offset;
	uint64_t ino;
	unsigned dev_major, dev_minor;
	int shared;
};
GS_HIDDEN int gs_vma_identify(uintptr_t addr, struct gs_vma *out);
GS_HIDDEN int gs_vma_intact(const struct gs_attach *a);
GS_HIDDEN int gs_vma_detach_rule(uintptr_t addr, const struct gs_attach *attaches,
                                 size_t n, struct gs_attach *first);
GS_HIDDEN int gs_vma_has_fragment(const struct gs_attach *a);
GS_HIDDEN int gs_vma_file_mapped(const struct gs_attach *a);
GS_HIDDEN int gs_vma_all_dontfork(const struct gs_attach *a);

/* routing.c: GOSHM_KEYS. */
enum gs_route { GS_TO_GOSHM = 0, GS_TO_KERNEL = 1 };
GS_HIDDEN int gs_routing_active(void);
GS_HIDDEN int gs_route_key(key_t key);
GS_HIDDEN int gs_routing_error(void);
GS_HIDDEN int gs_routing_describe(char *buf, size_t len);

/* shmget's errno for a store it cannot use: EPERM where others say EACCES. */
GS_HIDDEN int gs_shmget_unusable(int r);

/* The calls, store-parameterized, returning -errno. */
GS_HIDDEN int gs_shmget(struct goshm_store *s, key_t key, size_t size,
                        int shmflg);
GS_HIDDEN long gs_shmat(struct goshm_store *s, int shmid, const void *addr,
                        int shmflg, uintptr_t *out);
GS_HIDDEN int gs_shmdt(const void *addr);
GS_HIDDEN int gs_shmctl(struct goshm_store *s, int shmid, int cmd,
                        struct shmid_ds *buf);
GS_HIDDEN void gs_sweep_gen(struct gs_locked *l, uint64_t gen);
GS_HIDDEN int gs_sync(struct goshm_store *s, int shmid);
GS_HIDDEN void gs_repair_after_boot(struct gs_locked *l);
GS_HIDDEN void gs_each_file(int dfd, int (*fn)(int dfd, const char *name, void *arg),
                            void *arg);
GS_HIDDEN int gs_gc(struct goshm_store *s, int dry_run,
                    goshm_gc_report report, void *arg);

/* posix_names.c, posix.c: shm_open and shm_unlink (GOSHM_POSIX). */
#define GS_POSIX_DIR "posix"
enum { GS_POSIX_OFF = 0, GS_POSIX_ALL = 1, GS_POSIX_PREFIXES = 2, GS_POSIX_ERROR = 3 };
GS_HIDDEN const char *gs_posix_env(void);
GS_HIDDEN int gs_posix_mode(void);
GS_HIDDEN int gs_posix_route(const char *name);
GS_HIDDEN int gs_posix_name(const char *name, const char **out, int unlink);
GS_HIDDEN int gs_posix_open(struct goshm_store *s, const char *name, int oflag,
                            mode_t mode);
GS_HIDDEN int gs_posix_unlink(struct goshm_store *s, const char *name);
GS_HIDDEN int gs_native_shm_open(const char *name, int oflag, mode_t mode);
GS_HIDDEN int gs_native_shm_unlink(const char *name);

/* Raw system calls: the engine must never reach its own exports. */
GS_HIDDEN long gs_sys_shmget(key_t key, size_t size, int flg);
GS_HIDDEN long gs_sys_shmat(int id, const void *addr, int flg);
GS_HIDDEN long gs_sys_shmdt(const void *addr);
GS_HIDDEN long gs_sys_shmctl(int id, int cmd, void *buf);

#endif /* GOSHM_ENGINE_H */
