/*
 * store.c - finding, creating, mapping and locking a store's registry.
 *
 * Two ways in:
 *
 *   gs_view()  maps the registry once per process and hands out that
 *              mapping to lock-free readers (snapshot.c).  The registry's
 *              path is looked at again at most every 100 ms, so a store
 *              that was replaced or deleted is noticed within that time
 *              without a system call on every call (docs/DIFFERENCES.md).
 *   gs_lock()  is for calls that change the registry, and for readers that
 *              need more than a snapshot.  It opens the registry by path
 *              (always the current file), takes a POSIX record lock on it,
 *              works, unlocks and closes.
 *
 * The lock is a POSIX (process-owned) record lock, not an OFD lock: a child
 * forked while another thread of its parent held the lock inherits the
 * descriptor but not the lock, so a parent killed at that moment leaves
 * nothing locked (an OFD lock would stay held by the child's copy for as
 * long as the child lived, and every call on the store would hang).  A
 * POSIX lock does not exclude the threads of one process from each other,
 * so each store has a process mutex as well, taken first.  Closing any
 * descriptor of the registry drops the process's POSIX lock on it: only
 * code holding that mutex ever opens or closes one.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

static const char fix_access[] =
	"create it with mode 1777 (like /dev/shm) or set GOSHM_DIR to a "
	"writable directory on a volume";

/*
 * Errors that mean "this store cannot be used" become one errno for the
 * caller, with the real reason on stderr: ENOSPC for a full file system,
 * ENOMEM for no memory or no descriptor left (the kernel's calls need
 * none), EACCES for everything else.  fix says what to do about access
 * problems; NULL is the store directory's usual fix.
 */
int gs_store_error(struct goshm_store *s, const char *what, int err,
                   const char *fix)
{
	switch (err) {
	case -ENOSPC:
	case -EDQUOT:
		gs_warn_store(s, what, err, "free space on its file system");
		return -ENOSPC;
	case -ENOMEM:
		gs_warn_store(s, what, err,
		              "the process is out of memory or address space (ulimit -v)");
		return -ENOMEM;
	case -EMFILE:
	case -ENFILE:
		gs_warn_store(s, what, err, "raise the open files limit (ulimit -n)");
		return -ENOMEM;
	case -EROFS:
		gs_warn_store(s, what, err,
		              "its file system is mounted read-only; mount the volume read-write");
		return -EACCES;
	case -ELOOP:
		gs_warn_store(s, what, err,
		              "a symbolic link is in the store, where goshm never follows one; "
		              "remove it (docs/SECURITY.md)");
		return -EACCES;
	case -EIO:
		gs_warn_store(s, what, err, "the store is damaged; see docs/FORMAT.md");
		return -EIO;
	}
	gs_warn_store(s, what, err, fix ? fix : fix_access);
	return -EACCES;
}

static int store_error(struct goshm_store *s, const char *what, int err)
{
	return gs_store_error(s, what, err, NULL);
}

static void init_header(struct gs_header *h)
{
	memset(h, 0, sizeof *h);
	memcpy(h->magic, GS_MAGIC, 8);
	h->version = GS_FORMAT_VERSION;
	h->header_size = GS_HEADER_SIZE;
	h->mni = GS_SHMMNI;
	h->slot_size = GS_SLOT_SIZE;
	h->ns_slots = GS_NS_SLOTS;
	h->page_size = (uint32_t)gs_page_size();
	if (getrandom(&h->store_id, sizeof h->store_id, 0) != sizeof h->store_id)
		h->store_id = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	h->created = time(NULL);
	h->seq = 0;
	h->last_idx = -1;
	h->idr_next = 0;
	h->next_gen = 1;
}

/*
 * The registry's blocks are reserved like a segment's (segfile.c): a slot
 * page first written when the file system is full would be a SIGBUS in the
 * middle of a call -- a segment that fills the disk to its last block is
 * enough.  GOSHM_SPARSE=1 reserves nothing, here either.
 */
static int size_registry(int fd)
{
	if (!gs_sparse()) {
		int r;
		while ((r = fallocate(fd, 0, 0, GS_REGISTRY_SIZE)) < 0 && errno == EINTR)
			;
		if (r == 0)
			return 0;
		if (errno != EOPNOTSUPP && errno != ENOSYS)
			return -errno;
	}
	return ftruncate(fd, GS_REGISTRY_SIZE) < 0 ? -errno : 0;
}

/* ".registry.<pid>.<random>.tmp": gc.c recognises the shape. */
static void temp_name(char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned long long rnd;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		rnd = (unsigned long long)now.tv_nsec * 2654435761u ^
		      (unsigned long long)gettid() << 32;
	}
	char pid[16];
	int n = 0;
	for (unsigned p = (unsigned)getpid(); p || !n; p /= 10)
		pid[n++] = (char)('0' + p % 10);
	size_t i = 0;
	const char *pre = ".registry.";
	while (*pre && i < len - 1)
		buf[i++] = *pre++;
	while (n && i < len - 1)
		buf[i++] = pid[--n];
	if (i < len - 1)
		buf[i++] = '.';
	for (int k = 60; k >= 0 && i < len - 1; k -= 4)
		buf[i++] = hex[(rnd >> k) & 15];
	for (const char *suf = ".tmp"; *suf && i < len - 1;)
		buf[i++] = *suf++;
	buf[i] = 0;
}

/*
 * Create the directory, its segments/ subdirectory and the registry.  The
 * registry is written complete under a temporary name of its own (random,
 * not the pid: two threads of a process, or the pid 1s of two containers
 * starting on one fresh volume, share a pid) and link(2)ed into place, so
 * a process killed half-way leaves nothing that others would take for a
 * registry, and of racing creators the first link wins.
 */
static int prepare_store(struct goshm_store *s)
{
	char tmp[64];
	int r = gs_make_store_dirs(s);
	if (r < 0)
		return store_error(s, "cannot create the store directory", r);
	int dfd = gs_open_dir(s, NULL);
	if (dfd < 0)
		return store_error(s, "cannot open the store directory", dfd);
	if (faccessat(dfd, GS_REGISTRY_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		close(dfd);
		return 0;
	}
	int fd = -1;
	for (int tries = 0; tries < 16 && fd < 0; tries++) {
		temp_name(tmp, sizeof tmp);
		fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		r = -errno;
		close(dfd);
		return store_error(s, "cannot create the registry", r);
	}
	struct gs_header h;
	init_header(&h);
	r = fchmod(fd, 0666) < 0 ? -errno : size_registry(fd);
	if (r == 0 && (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || fsync(fd) < 0))
		r = -errno;
	close(fd);
	if (r == 0 && renameat2(dfd, tmp, dfd, GS_REGISTRY_NAME, RENAME_NOREPLACE) == 0)
		tmp[0] = 0; /* in place, under its own name */
	else if (r == 0 && errno != EEXIST &&
	         linkat(dfd, tmp, dfd, GS_REGISTRY_NAME, 0) < 0 && errno != EEXIST)
		r = -errno; /* no RENAME_NOREPLACE here (NFS): link(2) */
	if (tmp[0])
		unlinkat(dfd, tmp, 0);
	/* A gc that took our temporary for a stray one (gc.c) does no harm
	 * once somebody's registry is in place. */
	if (r == -ENOENT && faccessat(dfd, GS_REGISTRY_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		r = 0;
	close(dfd);
	if (r < 0)
		return store_error(s, "cannot create the registry", r);
	return 0;
}

/* Geometry and the fields every call relies on. */
static int header_valid(const struct gs_header *h)
{
	return !memcmp(h->magic, GS_MAGIC, 8) &&
	       (h->version == GS_FORMAT_VERSION || h->version == 1 || h->version == 2) &&
	       h->header_size == GS_HEADER_SIZE && h->mni == GS_SHMMNI &&
	       h->slot_size == GS_SLOT_SIZE && h->ns_slots == GS_NS_SLOTS &&
	       h->page_size == (uint32_t)gs_page_size() &&
	       h->last_idx >= -1 && h->last_idx < (int32_t)GS_SHMMNI &&
	       h->idr_next <= GS_SHMMNI && h->seq >= 0 && h->seq <= GS_SEQ_MAX &&
	       h->next_gen >= 1 && h->hi_water <= GS_SHMMNI &&
	       h->dest_count <= GS_SHMMNI && h->ntomb <= GS_TOMBS &&
	       h->redo_set.idx_plus1 <= GS_SHMMNI && h->nfree <= GS_POOL;
}

/* Shared mappings are not coherent between hosts on network file
 * systems: there every call takes the lock and reads under it. */
static int local_fs(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return 0;
	switch ((unsigned long)sf.f_type) {
	case NFS_SUPER_MAGIC:
	case SMB_SUPER_MAGIC:
	case 0xfe534d42: /* SMB2 */
	case 0xff534d42: /* CIFS */
	case 0x65735546: /* FUSE: sshfs, s3fs, glusterfs... */
	case CEPH_SUPER_MAGIC:
	case V9FS_MAGIC:
	case 0x01161970: /* GFS2 */
	case 0x7461636f: /* OCFS2 */
	case AFS_SUPER_MAGIC:
	case CODA_SUPER_MAGIC:
		return 0;
	}
	return 1;
}

/* Map the registry open on fd, whose identity is st, into s.  Called with
 * s->mu held.  An older mapping is left in place: another thread may
 * still be reading it; a process maps a store anew only when it was
 * replaced, which is rare. */
static int map_registry(struct goshm_store *s, int fd, const struct stat *st)
{
	void *map = __atomic_load_n(&s->map, __ATOMIC_ACQUIRE);
	if (map && s->map_dev == st->st_dev && s->map_ino == st->st_ino)
		return 0;
	map = mmap(NULL, GS_REGISTRY_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return store_error(s, "cannot map the registry", -errno);
	s->map_dev = st->st_dev;
	s->map_ino = st->st_ino;
	s->lockfree = local_fs(fd);
	__atomic_store_n(&s->map, map, __ATOMIC_RELEASE);
	return 0;
}

/* Open the registry and check that it is one: a regular file of the right
 * size, never a FIFO (its header is checked once it is mapped).  It may
 * have two links for a moment, while a creator without RENAME_NOREPLACE
 * links it into place. */
static int open_registry(struct goshm_store *s, struct stat *st)
{
	int fd = gs_open_in(s, NULL, GS_REGISTRY_NAME, O_RDWR | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	int r = fstat(fd, st) < 0 ? -errno : 0;
	if (r == 0 && (!S_ISREG(st->st_mode) || st->st_size != (off_t)GS_REGISTRY_SIZE))
		r = -EIO;
	if (r < 0) {
		close(fd);
		if (r == -EIO)
			gs_warn_store(s, "the registry is not a regular file of the right size "
			              "(damaged?)", EIO, "move the store away and see docs/FORMAT.md");
		return r == -EIO ? r : store_error(s, "cannot stat the registry", r);
	}
	return fd;
}

/* segments/ must be a directory, or not there yet (it is made again): a
 * symlink planted there makes the whole store unusable, not only the calls
 * that open a file in it (docs/SECURITY.md). */
static int check_segments_dir(struct goshm_store *s)
{
	char path[PATH_MAX];
	struct stat st;
	if (gs_path_of(s, GS_SEGMENT_DIR, NULL, path, sizeof path) < 0)
		return 0;
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return S_ISLNK(st.st_mode) ? -ELOOP : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static void fill_parts(struct goshm_store *s, void *map, struct gs_header **hdr,
                       uint8_t **state, int32_t **keys, char **slots)
{
	(void)s;
	*hdr = map;
	*state = (uint8_t *)map + GS_STATES_OFF;
	*keys = (int32_t *)(void *)((char *)map + GS_KEYS_OFF);
	*slots = (char *)map + GS_SLOTS_OFF;
}

/*
 * The mapping for lock-free reads.  Returns 0, -ENOENT for a store that
 * does not exist, GS_SNAP_RETRY when the locked path must answer (a
 * network file system, a registry this engine must first upgrade or check
 * under the lock), or a store error.
 */
int gs_view(struct goshm_store *s, struct gs_view *v)
{
	void *map = __atomic_load_n(&s->map, __ATOMIC_ACQUIRE);
	int64_t now = gs_monotonic_ns();
	if (!map || now - __atomic_load_n(&s->checked_ns, __ATOMIC_RELAXED) > GS_RECHECK_NS) {
		char path[PATH_MAX];
		struct stat st;
		int r = gs_path_of(s, NULL, GS_REGISTRY_NAME, path, sizeof path);
		if (r < 0)
			return r == -ENOENT ? r : GS_SNAP_RETRY;
		if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? -ENOENT : GS_SNAP_RETRY;
		if (check_segments_dir(s) < 0) {
			__atomic_store_n(&s->checked_dir_ns, 0, __ATOMIC_RELAXED);
			return GS_SNAP_RETRY; /* the locked path says what is wrong */
		}
		if (!map || st.st_dev != s->map_dev || st.st_ino != s->map_ino) {
			/* Map under the call mutex: closing a descriptor of the
			 * registry drops a POSIX lock another thread may hold. */
			gs_mutex_lock(&s->mu);
			int fd = open_registry(s, &st);
			r = fd < 0 ? fd : map_registry(s, fd, &st);
			if (fd >= 0)
				close(fd);
			gs_mutex_unlock(&s->mu);
			if (r < 0)
				return r == -ENOENT ? r : GS_SNAP_RETRY;
			map = s->map;
		}
		__atomic_store_n(&s->checked_ns, now, __ATOMIC_RELAXED);
	}
	if (!s->lockfree)
		return GS_SNAP_RETRY;
	v->store = s;
	fill_parts(s, map, &v->hdr, &v->state, &v->keys, &v->slots);
	if (__atomic_load_n(&v->hdr->version, __ATOMIC_RELAXED) != GS_FORMAT_VERSION ||
	    !header_valid(v->hdr))
		return GS_SNAP_RETRY;
	/* After a reboot the registry still names the namespaces and kernel
	 * segments of the last boot: the locked path repairs it first. */
	uint8_t boot[16];
	if (gs_boot_id(boot) == 0 && memcmp((const void *)v->hdr->boot_id, boot, 16))
		return GS_SNAP_RETRY;
	return 0;
}

/* F_SETLKW on byte 0; signals do not end the wait. */
static int lock_fd(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0,
	                   .l_len = 1};
	while (fcntl(fd, F_SETLKW, &fl) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Open a write section: lock-free readers that overlap it retry.  Every
 * change to states, keys, slots or the header's allocator goes through
 * here first; gs_unlock closes the section. */
void gs_write(struct gs_locked *l)
{
	if (l->writing)
		return;
	l->writing = 1;
	__atomic_store_n(&l->hdr->wseq, l->hdr->wseq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* End the write section before file work (creating, zeroing, renaming,
 * removing data and token files) that the lock must still cover but that
 * changes nothing lock-free readers look at: they would spin, then queue
 * on the lock, for as long as an ext4 unlink of megabytes takes.  The
 * next gs_write() opens a new section. */
void gs_write_done(struct gs_locked *l)
{
	if (!l->writing)
		return;
	l->writing = 0;
	__atomic_store_n(&l->hdr->wseq, l->hdr->wseq + 1, __ATOMIC_RELEASE);
}

/* Format 1 stores, written by goshm 0.1, are upgraded in place: the slots
 * are laid out the same, and the new header fields are derived. */
static void upgrade_v1(struct gs_locked *l)
{
	gs_write(l);
	l->hdr->ntomb = 0;
	l->hdr->dest_count = 0;
	l->hdr->hi_water = 0;
	for (unsigned i = 0; i < GS_SHMMNI; i++) {
		if (l->state[i] != GS_LIVE)
			continue;
		l->hdr->hi_water = i + 1;
		if (gs_slot_at(l, i)->mode & SHM_DEST)
			l->hdr->dest_count++;
	}
	__atomic_store_n(&l->hdr->version, 2, __ATOMIC_RELEASE);
}

/* Format 2 stores: each namespace's published count moves from its
 * namespace slot to the slot's pub words (change counter 0).  Format 2
 * engines check the version at every call and refuse the store from here
 * on; the word they may write meanwhile (published_v2) is read nowhere. */
static void upgrade_v2(struct gs_locked *l)
{
	gs_write(l);
	for (unsigned i = 0; i < GS_SHMMNI; i++) {
		struct gs_slot *sl = gs_slot_at(l, i);
		for (unsigned k = 0; k < GS_NS_SLOTS; k++) {
			uint32_t count = l->state[i] == GS_FREE ? 0 : sl->ns[k].published_v2;
			__atomic_store_n(&sl->pub[k], (uint64_t)count, __ATOMIC_SEQ_CST);
			sl->ns[k].published_v2 = 0;
		}
	}
	__atomic_store_n(&l->hdr->version, GS_FORMAT_VERSION, __ATOMIC_RELEASE);
}

/*
 * Whoever takes the lock finishes what a killed holder left: a write
 * section still open (readers would retry for ever), files of a
 * generation half made or half removed (pending_gen), a segment left
 * DYING, presence segments of ours that other namespaces asked us to
 * remove.
 */
static void recover(struct gs_locked *l)
{
	if (l->hdr->wseq & 1) {
		l->writing = 1; /* closed again by gs_unlock */
		/* The count of removed segments is a hint for reaping; a holder
		 * killed while changing it may have left it short. */
		l->hdr->dest_count = 0;
		for (unsigned i = 0; i < l->hdr->hi_water; i++)
			if (l->state[i] != GS_FREE && (gs_slot_at(l, i)->mode & SHM_DEST))
				l->hdr->dest_count++;
	}
	uint8_t boot[16];
	static const uint8_t unknown[16];
	if (gs_boot_id(boot) == 0 && memcmp(l->hdr->boot_id, boot, 16)) {
		/* First use since the machine rebooted; a store that never
		 * recorded a boot (new, or upgraded from format 1) is left as
		 * it is: its processes may still run. */
		if (memcmp(l->hdr->boot_id, unknown, 16))
			gs_repair_after_boot(l);
		gs_write(l);
		memcpy(l->hdr->boot_id, boot, 16);
	}
	gs_apply_set(l);
	uint64_t pending = l->hdr->pending_gen;
	if (pending) {
		gs_write(l);
		for (unsigned i = 0; i < GS_SHMMNI; i++) {
			if (l->state[i] == GS_DYING && gs_slot_at(l, i)->gen == pending) {
				__atomic_store_n(&l->state[i], GS_LIVE, __ATOMIC_SEQ_CST);
				gs_destroy_if_unused(l, i);
			}
		}
		gs_sweep_gen(l, pending);
		l->hdr->pending_gen = 0;
	}
	if (__atomic_load_n(&l->hdr->ntomb, __ATOMIC_RELAXED))
		gs_tombs_sweep(l);
}

/*
 * Open, validate, map and lock the registry of s.  Only shmget creates a
 * missing store: a process that outlived a deleted store must not bring
 * its directory back with a shmdt or an IPC_STAT.
 */
int gs_lock(struct goshm_store *s, struct gs_locked *l, int create)
{
	struct stat st;
	int fd, r;

	memset(l, 0, sizeof *l);
	l->fd = -1;
	/* A cancellation inside the lock wait would leave the mutex held. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &l->cancel_state);
	gs_mutex_lock(&s->mu);
	fd = open_registry(s, &st);
	if (fd == -ENOENT && create == GS_CREATE) {
		r = prepare_store(s);
		fd = r < 0 ? r : open_registry(s, &st);
	}
	if (fd < 0) {
		r = fd == -ENOENT && create == GS_EXISTING
		            ? -ENOENT
		            : fd == -EIO ? -EIO : store_error(s, "cannot open the registry", fd);
		goto fail;
	}
	/* As often as lock-free readers look (gs_view), not at every call. */
	int64_t now = gs_monotonic_ns();
	r = now - __atomic_load_n(&s->checked_dir_ns, __ATOMIC_RELAXED) > GS_RECHECK_NS
	            ? check_segments_dir(s) : 0;
	if (r == 0)
		__atomic_store_n(&s->checked_dir_ns, now, __ATOMIC_RELAXED);
	if (r < 0) {
		close(fd);
		r = store_error(s, "its segments directory is not a directory", r);
		goto fail;
	}
	r = lock_fd(fd);
	if (r < 0) {
		close(fd);
		r = store_error(s, "cannot lock the registry", r);
		goto fail;
	}
	r = map_registry(s, fd, &st);
	if (r < 0) {
		close(fd); /* drops the lock with it */
		goto fail;
	}
	l->store = s;
	l->fd = fd;
	fill_parts(s, s->map, &l->hdr, &l->state, &l->keys, &l->slots);
	if (!header_valid(l->hdr)) {
		gs_unlock(l);
		gs_warn_store(s, "the registry is not a goshm registry of this version",
		              EIO, "move the store away and see docs/FORMAT.md");
		return -EIO;
	}
	if (l->hdr->version == 1)
		upgrade_v1(l);
	if (l->hdr->version == 2)
		upgrade_v2(l);
	recover(l);
	return 0;
fail:
	gs_mutex_unlock(&s->mu);
	pthread_setcancelstate(l->cancel_state, NULL);
	return r;
}

void gs_unlock(struct gs_locked *l)
{
	if (l->fd < 0)
		return;
	gs_write_done(l);
	/* close() drops the POSIX lock with the descriptor: no F_UNLCK. */
	close(l->fd);
	l->fd = -1;
	gs_mutex_unlock(&l->store->mu);
	pthread_setcancelstate(l->cancel_state, NULL);
}
