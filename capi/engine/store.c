/*
 * store.c - finding, creating, mapping and locking a store's registry.
 *
 * Every call opens the registry, takes an exclusive OFD lock on it, works,
 * unlocks and closes.  No descriptor outlives a call: daemons close every
 * descriptor after fork, and a descriptor shared with a forked child would
 * share its OFD lock too.  The registry mapping itself is cached per store
 * (mappings survive close(2) and fork) and checked against the file's
 * identity on every call, so a store that was replaced is noticed.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
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
	if (err == -ENOSPC || err == -EDQUOT) {
		gs_warn_store(s, what, err, "free space on its file system");
		return -ENOSPC;
	}
	if (err == -ENOMEM)
		return err;
	if (err == -EMFILE || err == -ENFILE) {
		gs_warn_store(s, what, err, "raise the open files limit (ulimit -n)");
		return -ENOMEM;
	}
	gs_warn_store(s, what, err, fix ? fix : fix_access);
	return -EACCES;
}

static int store_error(struct goshm_store *s, const char *what, int err)
{
	return gs_store_error(s, what, err, NULL);
}

/* mkdir -p; the last component gets mode (chmod'ed past the umask). */
static int make_dir(char *path, mode_t mode)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int r = mkdir(path, 0755);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -errno;
	}
	if (mkdir(path, mode) < 0) {
		if (errno != EEXIST)
			return -errno;
		return 0; /* someone else made it; keep their mode */
	}
	if (chmod(path, mode) < 0)
		return -errno;
	return 0;
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

/*
 * A new, empty file of its own for a registry being made: the name is
 * random, not the pid, because two threads of a process, or the pid 1s of
 * two containers starting on one fresh volume, share a pid, and must not
 * truncate each other's file or unlink it before the other's link().
 */
static int create_registry_temp(const struct goshm_store *s, char *path, size_t size)
{
	for (int tries = 0; tries < 16; tries++) {
		unsigned long long rnd;
		struct timespec now;
		if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			rnd = (unsigned long long)now.tv_nsec * 2654435761u ^ (unsigned long long)gettid() << 32;
		}
		int n = snprintf(path, size, "%s/.registry.%d.%016llx.tmp", s->dir, (int)getpid(), rnd);
		if (n < 0 || (size_t)n >= size)
			return -ENAMETOOLONG;
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/*
 * Create the directory, its segments/ subdirectory and the registry.  The
 * registry is written under a temporary name and link(2)ed into place, so a
 * process killed half-way leaves nothing that others would take for a
 * registry, and of racing creators the first link wins: the others find
 * the name taken (EEXIST) and use that file.
 */
int gs_store_prepare(struct goshm_store *s)
{
	char path[PATH_MAX];
	int r;

	memcpy(path, s->dir, (size_t)s->dir_len + 1);
	r = make_dir(path, 01777);
	if (r < 0)
		return store_error(s, "cannot create the store directory", r);
	snprintf(path, sizeof path, "%s/%s", s->dir, GS_SEGMENT_DIR);
	/* Not sticky: any user allowed by the segment's mode may have to
	 * remove a data file that another user created. */
	r = make_dir(path, 0777);
	if (r < 0)
		return store_error(s, "cannot create its segments directory", r);
	if (access(s->registry_path, F_OK) == 0)
		return 0;

	int fd = create_registry_temp(s, path, sizeof path);
	if (fd < 0)
		return store_error(s, "cannot create the registry", fd);
	struct gs_header h;
	init_header(&h);
	r = fchmod(fd, 0666) < 0 ? -errno : size_registry(fd);
	if (r == 0 && (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || fsync(fd) < 0))
		r = -errno;
	close(fd);
	if (r == 0 && link(path, s->registry_path) < 0 && errno != EEXIST)
		r = -errno;
	unlink(path);
	if (r < 0)
		return store_error(s, "cannot create the registry", r);
	return 0;
}

static int header_valid(const struct gs_header *h)
{
	return !memcmp(h->magic, GS_MAGIC, 8) && h->version == GS_FORMAT_VERSION &&
	       h->header_size == GS_HEADER_SIZE && h->mni == GS_SHMMNI &&
	       h->slot_size == GS_SLOT_SIZE && h->ns_slots == GS_NS_SLOTS &&
	       h->last_idx >= -1 && h->last_idx < (int32_t)GS_SHMMNI &&
	       h->seq >= 0 && h->seq <= GS_SEQ_MAX;
}

static int lock_fd(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0,
	                   .l_len = 1};
	for (;;) {
		if (fcntl(fd, F_OFD_SETLKW, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EINVAL)
			return -errno;
		/* No OFD locks (kernel < 3.15): flock is per open file too. */
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				return -errno;
		return 0;
	}
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
	fd = open(s->registry_path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create == GS_EXISTING)
		return -ENOENT;
	if (fd < 0 && errno == ENOENT) {
		r = gs_store_prepare(s);
		if (r < 0)
			return r;
		fd = open(s->registry_path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return store_error(s, "cannot open the registry", -errno);
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return store_error(s, "cannot stat the registry", r);
	}
	if (!S_ISREG(st.st_mode) || st.st_size != (off_t)GS_REGISTRY_SIZE) {
		close(fd);
		gs_warn_store(s, "the registry has the wrong size (damaged?)", EIO,
		              "move the store away and see docs/FORMAT.md");
		return -EIO;
	}
	r = lock_fd(fd);
	if (r < 0) {
		close(fd);
		return store_error(s, "cannot lock the registry", r);
	}

	void *map = __atomic_load_n(&s->map, __ATOMIC_ACQUIRE);
	if (!map || s->map_dev != st.st_dev || s->map_ino != st.st_ino) {
		/* First use, or the store was replaced under us.  An older
		 * mapping is left in place: another thread may be using it. */
		map = mmap(NULL, GS_REGISTRY_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		           fd, 0);
		if (map == MAP_FAILED) {
			r = -errno;
			close(fd);
			return r == -ENOMEM ? r : store_error(s, "cannot map the registry", r);
		}
		s->map_dev = st.st_dev;
		s->map_ino = st.st_ino;
		__atomic_store_n(&s->map, map, __ATOMIC_RELEASE);
	}
	l->store = s;
	l->fd = fd;
	l->hdr = map;
	l->state = (uint8_t *)map + GS_STATES_OFF;
	l->keys = (int32_t *)((char *)map + GS_KEYS_OFF);
	l->slots = (char *)map + GS_SLOTS_OFF;
	if (!header_valid(l->hdr)) {
		gs_unlock(l);
		gs_warn_store(s, "the registry is not a goshm registry of this version",
		              EIO, "move the store away and see docs/FORMAT.md");
		return -EIO;
	}
	/* Every call clears pending_gen before it unlocks: set, it says the
	 * last holder was killed half-way through a segment's files.  Finish
	 * its cleanup, so that a SIGKILL never leaks a file. */
	uint64_t pending = l->hdr->pending_gen;
	if (pending) {
		gs_sweep_gen(l, pending);
		l->hdr->pending_gen = 0;
	}
	return 0;
}

void gs_unlock(struct gs_locked *l)
{
	if (l->fd < 0)
		return;
	/* Unlock explicitly: a forked child may hold a copy of this
	 * descriptor, and the lock belongs to the open file, not to us. */
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0,
	                   .l_len = 1};
	if (fcntl(l->fd, F_OFD_SETLK, &fl) < 0)
		flock(l->fd, LOCK_UN);
	close(l->fd);
	l->fd = -1;
}
