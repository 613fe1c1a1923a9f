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

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "goshm.h"

#define GS_HIDDEN __attribute__((visibility("hidden")))
#define GS_EXPORT __attribute__((visibility("default")))

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

/* ---- The registry file (docs/FORMAT.md). ---- */

#define GS_MAGIC "GOSHMREG"
#define GS_FORMAT_VERSION 1u
#define GS_REGISTRY_NAME "registry"
#define GS_SEGMENT_DIR "segments"

enum gs_state { GS_FREE = 0, GS_LIVE = 1 };

struct gs_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;     /* bytes before the state array */
	uint32_t mni;             /* number of slots */
	uint32_t slot_size;
	uint32_t ns_slots;
	uint32_t page_size;       /* of the machine that created the store */
	uint64_t store_id;        /* random, names the store in diagnostics */
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
	uint64_t reserved[15];
};

/* What one IPC namespace contributes to a segment's nattch. */
struct gs_ns_slot {
	uint64_t ns_dev, ns_ino;  /* /proc/self/ns/ipc of that namespace */
	int64_t native_ctime;     /* shm_ctime of its presence segment */
	int32_t native_id;        /* its presence segment (kernel shmid) */
	uint32_t published;       /* its nattch at its last attach/detach */
	uint32_t token_gen;       /* names the token file; 0 = slot unused */
	int32_t creator;          /* pid making its presence segment (presence.c) */
};

struct gs_slot {
	uint32_t seq;
	uint32_t mode;            /* S_IRWXUGO | SHM_DEST | SHM_LOCKED */
	int32_t key;
	uint32_t uid, gid, cuid, cgid;
	int32_t cpid, lpid;
	uint32_t reserved0;
	uint64_t segsz;
	int64_t atime, dtime, ctime;
	uint64_t last_ns_dev, last_ns_ino;   /* namespace of the last shmat/shmdt */
	uint64_t gen;             /* names the data file */
	uint64_t reserved[4];
	struct gs_ns_slot ns[GS_NS_SLOTS];
};

#define GS_HEADER_SIZE 4096u
#define GS_SLOT_SIZE 512u
#define GS_STATES_OFF GS_HEADER_SIZE
#define GS_KEYS_OFF (GS_STATES_OFF + GS_SHMMNI)
#define GS_SLOTS_OFF (GS_KEYS_OFF + GS_SHMMNI * 4u)
#define GS_REGISTRY_SIZE (GS_SLOTS_OFF + GS_SHMMNI * GS_SLOT_SIZE)

_Static_assert(sizeof(struct gs_header) <= GS_HEADER_SIZE, "header size");
_Static_assert(sizeof(struct gs_slot) <= GS_SLOT_SIZE, "slot size");

/* ---- Stores. ---- */

struct goshm_store {
	char dir[PATH_MAX - 256]; /* room left for the names inside it */
	char registry_path[PATH_MAX];
	int dir_len;
	/* The mapped registry and the identity of the file it maps. */
	void *volatile map;
	dev_t map_dev;
	ino_t map_ino;
	struct goshm_store *next;
};

/* A store that is open and locked for the length of one call. */
struct gs_locked {
	struct goshm_store *store;
	int fd;                   /* registry, holding the OFD lock */
	struct gs_header *hdr;
	uint8_t *state;
	int32_t *keys;
	char *slots;
	/* The caller's IPC namespace, read once per call when needed. */
	int ns_known, ns_fresh;
	uint64_t ns_dev, ns_ino;
};

/* config.c */
GS_HIDDEN struct goshm_store *gs_default_store(int *err);
GS_HIDDEN struct goshm_store *gs_store_intern(const char *dir, int *err);
GS_HIDDEN int gs_sparse(void);
GS_HIDDEN void gs_warn_store(const struct goshm_store *s, const char *what,
                             int err, const char *fix);
GS_HIDDEN long gs_page_size(void);
GS_HIDDEN void gs_ipc_ns(uint64_t *dev, uint64_t *ino, int refresh);

/* store.c */
/* gs_lock's create: GS_CREATE makes a missing store (only shmget does);
 * GS_EXISTING gives -ENOENT for it, quietly. */
enum { GS_EXISTING = 0, GS_CREATE = 1 };
GS_HIDDEN int gs_lock(struct goshm_store *s, struct gs_locked *l, int create);
GS_HIDDEN void gs_unlock(struct gs_locked *l);
GS_HIDDEN int gs_store_prepare(struct goshm_store *s);
GS_HIDDEN int gs_store_error(struct goshm_store *s, const char *what, int err,
                             const char *fix);

/* registry.c */
GS_HIDDEN struct gs_slot *gs_slot_at(struct gs_locked *l, unsigned idx);
GS_HIDDEN int gs_id_of(struct gs_locked *l, unsigned idx);
GS_HIDDEN int gs_find_id(struct gs_locked *l, int shmid, unsigned *idx);
GS_HIDDEN int gs_find_index(struct gs_locked *l, int index, unsigned *idx);
GS_HIDDEN int gs_find_key(struct gs_locked *l, key_t key, unsigned *idx);
GS_HIDDEN int gs_alloc_index(struct gs_locked *l, unsigned *idx);
GS_HIDDEN void gs_publish(struct gs_locked *l, unsigned idx);
GS_HIDDEN void gs_free_slot(struct gs_locked *l, unsigned idx);
GS_HIDDEN int gs_max_index(struct gs_locked *l);
GS_HIDDEN int gs_next_live(struct gs_locked *l, unsigned from);
GS_HIDDEN int gs_reap_if_unused(struct gs_locked *l, unsigned idx);
GS_HIDDEN void gs_destroy(struct gs_locked *l, unsigned idx);

/* segfile.c */
GS_HIDDEN size_t gs_round_pages(uint64_t size);
GS_HIDDEN int gs_data_path(const struct goshm_store *s, uint64_t gen,
                           char *buf, size_t len);
GS_HIDDEN int gs_token_path(const struct goshm_store *s, uint64_t gen,
                            unsigned nsk, uint32_t tgen, char *buf, size_t len);
GS_HIDDEN int gs_create_data(struct gs_locked *l, uint64_t gen, uint64_t size);
GS_HIDDEN int gs_open_data(struct gs_locked *l, unsigned idx, int rdonly,
                           struct stat *st);

/* perm.c */
GS_HIDDEN int gs_ipcperms(const struct gs_slot *sl, int flag);
GS_HIDDEN int gs_is_owner_or_cap(const struct gs_slot *sl, int cap);
GS_HIDDEN int gs_has_cap(int cap);

/* presence.c: nattch, kept by the kernel. */
GS_HIDDEN unsigned long gs_nattch(struct gs_locked *l, unsigned idx);
GS_HIDDEN int gs_presence_attach(struct gs_locked *l, unsigned idx,
                                 void **presence, int *nsk);
GS_HIDDEN void gs_presence_detach(void *presence);
GS_HIDDEN int gs_token_map(struct gs_locked *l, unsigned idx, int nsk,
                           void **token);
GS_HIDDEN void gs_publish_local(struct gs_locked *l, unsigned idx);
GS_HIDDEN void gs_local_times(struct gs_locked *l, unsigned idx,
                              int64_t *atime, int64_t *dtime, int32_t *lpid);

/* attach_table.c: this process's attaches. */
struct gs_attach {
	uintptr_t addr;
	size_t len;               /* whole pages */
	struct goshm_store *store;
	int shmid;
	uint64_t gen;             /* the data file's generation */
	uint64_t vma_ino;         /* the mapping's file as /proc reports it */
	unsigned vma_dev_major, vma_dev_minor;
	void *presence;           /* kernel attach that counts this one */
	void *token;              /* this namespace's token, shared per segment */
};
GS_HIDDEN void gs_table_lock(void);
GS_HIDDEN void gs_table_unlock(void);
GS_HIDDEN int gs_table_add(const struct gs_attach *a);
GS_HIDDEN int gs_table_take(uintptr_t addr, struct gs_attach *out);
GS_HIDDEN void *gs_table_token(const struct goshm_store *s, int shmid,
                               uint64_t gen);
GS_HIDDEN int gs_table_token_used(const void *token);
GS_HIDDEN int gs_table_take_covered(uintptr_t lo, uintptr_t hi,
                                    struct gs_attach *out);

/* vma.c: what the kernel has mapped where. */
struct gs_vma {
	uintptr_t start, end;
	uint64_t offset;
	uint64_t ino;
	unsigned dev_major, dev_minor;
	int shared;
};
GS_HIDDEN int gs_vma_identify(uintptr_t addr, struct gs_vma *out);
GS_HIDDEN int gs_vma_unmap_fragments(const struct gs_attach *a);

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
GS_HIDDEN int gs_gc(struct goshm_store *s, int dry_run,
                    goshm_gc_report report, void *arg);

/* Raw system calls: the engine must never reach its own exports. */
GS_HIDDEN long gs_sys_shmget(key_t key, size_t size, int flg);
GS_HIDDEN long gs_sys_shmat(int id, const void *addr, int flg);
GS_HIDDEN long gs_sys_shmdt(const void *addr);
GS_HIDDEN long gs_sys_shmctl(int id, int cmd, void *buf);

#endif /* GOSHM_ENGINE_H */
