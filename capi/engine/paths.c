/*
 * paths.c - reaching a store's files without ever leaving the store.
 *
 * The store is a directory that other users may write (mode 1777, like
 * /dev/shm), and root's programs use it too.  A symlink planted there --
 * `segments` pointing at /etc, a data file pointing at a root-owned file --
 * must never make root create, open, write or delete anything outside.  So:
 *
 *   - GOSHM_DIR's parents are followed as the administrator wrote them,
 *     once, when the store is first used: the result is the store's
 *     canonical path (s->root), which holds no symlink.
 *   - Everything inside is opened from that path with openat2()'s
 *     RESOLVE_NO_SYMLINKS: a symlink anywhere, the store directory itself
 *     included, is ELOOP.  Kernels without openat2 (before 5.6, or a
 *     seccomp profile that refuses it) walk the two levels one component at
 *     a time with O_NOFOLLOW, which is the same rule.
 *   - Files are only removed with unlinkat() in a directory descriptor
 *     reached that way, and only files goshm could have made are used:
 *     regular files with one link (gs_check_file).  A hard link to another
 *     file, a FIFO or a device is damage (EIO), never followed.
 *
 * docs/SECURITY.md states the trust model this implements.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* 0: not known yet, 1: openat2 works, -1: the kernel refuses it. */
static int have_openat2;

/* Decimal digits of v at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

/* Files are named by the segment's generation, a counter that never
 * repeats in a store, so a file can never be mistaken for a later
 * segment's: segments/seg-<gen> and segments/seg-<gen>.ns<k>.<tgen>. */
void gs_data_name(uint64_t gen, struct gs_name *n)
{
	char *p = put_u64(put_str(n->s, "seg-"), gen);
	*p = 0;
}

void gs_token_name(uint64_t gen, unsigned nsk, uint32_t tgen, struct gs_name *n)
{
	char *p = put_u64(put_str(n->s, "seg-"), gen);
	p = put_u64(put_str(p, ".ns"), nsk);
	p = put_u64(put_str(p, "."), tgen);
	*p = 0;
}

/*
 * The store directory with its parents' symlinks resolved -- the
 * administrator's, followed once -- so that RESOLVE_NO_SYMLINKS can then
 * refuse every symlink from the store directory down.  Made on first use
 * (the parents may not exist before the first shmget makes them); the
 * kernel names the parent (/proc/self/fd), so no allocation is needed.
 */
static int root_of(const struct goshm_store *cs, const char **root)
{
	struct goshm_store *s = (struct goshm_store *)cs;
	if (__atomic_load_n(&s->root_ok, __ATOMIC_ACQUIRE)) {
		*root = s->root;
		return 0;
	}
	char parent[PATH_MAX], link[64], canon[PATH_MAX];
	const char *slash = strrchr(s->dir, '/');
	size_t plen = slash && slash != s->dir ? (size_t)(slash - s->dir) : 1;
	const char *base = slash ? slash + 1 : s->dir;
	memcpy(parent, s->dir, plen);
	parent[plen] = 0;
	int pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	char *p = put_u64(put_str(link, "/proc/self/fd/"), (uint64_t)pfd);
	*p = 0;
	ssize_t n = readlink(link, canon, sizeof canon - 1);
	close(pfd);
	if (n <= 0 || canon[0] != '/') {
		/* No /proc: the path as written (docs/DIFFERENCES.md). */
		memcpy(canon, parent, plen + 1);
		n = (ssize_t)plen;
	}
	canon[n] = 0;
	size_t blen = strlen(base);
	int need_slash = !(n == 1 && canon[0] == '/');
	if ((size_t)n + (size_t)need_slash + blen >= sizeof s->root)
		return -ENAMETOOLONG;
	gs_mutex_lock(&s->mu_root);
	if (!s->root_ok) {
		memcpy(s->root, canon, (size_t)n);
		if (need_slash)
			s->root[n++] = '/';
		memcpy(s->root + n, base, blen + 1);
		__atomic_store_n(&s->root_ok, 1, __ATOMIC_RELEASE);
	}
	gs_mutex_unlock(&s->mu_root);
	*root = s->root;
	return 0;
}

/* root[/sub][/name] into buf. */
int gs_path_of(const struct goshm_store *s, const char *sub, const char *name,
               char *buf, size_t len)
{
	const char *root;
	int r = root_of(s, &root);
	if (r < 0)
		return r;
	const char *parts[] = {root, sub ? "/" : "", sub ? sub : "",
	                       name ? "/" : "", name ? name : ""};
	size_t n = 0;
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t k = strlen(parts[i]);
		if (n + k >= len)
			return -ENAMETOOLONG;
		memcpy(buf + n, parts[i], k);
		n += k;
	}
	buf[n] = 0;
	return 0;
}

/* A directory opened with O_DIRECTORY | O_NOFOLLOW that is a symlink
 * fails with ENOTDIR: say ELOOP, what it is. */
static int symlink_or(const char *path, int err)
{
	struct stat st;
	if (err == -ENOTDIR && fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return -ELOOP;
	return err;
}

/* Without openat2: one component at a time, none of them a symlink.  The
 * root holds no symlink (root_of), so opening it as a path is safe. */
static int walk_open(const char *root, const char *sub, const char *name,
                     int flags, mode_t mode)
{
	int dfd = open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return symlink_or(root, -errno);
	if (sub) {
		int sfd = openat(dfd, sub, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(dfd);
		if (sfd < 0)
			return e == ENOTDIR ? -ELOOP : -e;
		dfd = sfd;
	}
	if (!name)
		return dfd;
	int fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	int e = errno;
	close(dfd);
	return fd < 0 ? -e : fd;
}

/*
 * Open root[/sub][/name] with flags (O_CLOEXEC and O_NOFOLLOW are added),
 * no symlink followed on the way.  With name NULL, the directory root[/sub]
 * is opened with flags (O_PATH|O_DIRECTORY for a directory descriptor).
 * Returns a descriptor or -errno; a symlink on the way is -ELOOP.
 */
int gs_open_in(const struct goshm_store *s, const char *sub, const char *name,
               int flags, mode_t mode)
{
	char path[PATH_MAX];
	int r = gs_path_of(s, sub, name, path, sizeof path);
	if (r < 0)
		return r;
	if (__atomic_load_n(&have_openat2, __ATOMIC_RELAXED) >= 0) {
		struct open_how how;
		memset(&how, 0, sizeof how);
		how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW);
		how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
		how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
		long fd;
		do
			fd = gs_syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
		while (fd < 0 && errno == EINTR);
		if (fd >= 0) {
			__atomic_store_n(&have_openat2, 1, __ATOMIC_RELAXED);
			return (int)fd;
		}
		/* ENOSYS: before 5.6; EPERM: a seccomp profile that predates
		 * it (an open never says EPERM for these flags otherwise). */
		if ((errno != ENOSYS && errno != EPERM) ||
		    __atomic_load_n(&have_openat2, __ATOMIC_RELAXED) > 0)
			return symlink_or(path, -errno);
		__atomic_store_n(&have_openat2, -1, __ATOMIC_RELAXED);
	}
	const char *root;
	r = root_of(s, &root);
	return r < 0 ? r : walk_open(root, sub, name, flags, mode);
}

/* A directory descriptor (O_PATH) for root or root/sub. */
int gs_open_dir(const struct goshm_store *s, const char *sub)
{
	return gs_open_in(s, sub, NULL, O_PATH | O_DIRECTORY, 0);
}

/* Remove segments/name; -errno on failure. */
int gs_unlink_in(const struct goshm_store *s, const char *name)
{
	int dfd = gs_open_dir(s, GS_SEGMENT_DIR);
	if (dfd < 0)
		return dfd;
	int r = unlinkat(dfd, name, 0) < 0 ? -errno : 0;
	close(dfd);
	return r;
}

/* Only what goshm makes is used: a regular file with one link. */
int gs_check_file(int fd, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode) || st->st_nlink != 1)
		return -EIO;
	return 0;
}

/*
 * mkdir -p of the store: missing parents get mode 0755 and the store
 * directory 1777, whatever the umask (chmod after mkdir, on what this
 * call made only); then segments/ (0777, not sticky: FORMAT.md) inside
 * it, made and checked through a descriptor of the store directory.
 */
/* chmod of a directory this call just made, through a descriptor: the
 * path may have been replaced by a symlink in between. */
static int fix_mode(int dirfd, const char *name, mode_t mode)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = fd < 0 || fchmod(fd, mode) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	return r;
}

static int make_parents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int r = mkdir(path, 0755) == 0 ? fix_mode(AT_FDCWD, path, 0755) : -errno;
		*p = '/';
		if (r < 0 && r != -EEXIST)
			return r;
	}
	return 0;
}

/* mkdir name in the store, with mode whatever the umask (fix_mode). */
static int make_subdir(struct goshm_store *s, const char *name, mode_t mode)
{
	int dfd = gs_open_dir(s, NULL);
	if (dfd < 0)
		return dfd;
	int r = 0;
	if (mkdirat(dfd, name, mode) == 0)
		r = fix_mode(dfd, name, mode);
	else if (errno != EEXIST)
		r = -errno;
	close(dfd);
	return r;
}

int gs_make_store_dirs(struct goshm_store *s)
{
	char path[PATH_MAX];
	memcpy(path, s->dir, (size_t)s->dir_len + 1);
	int r = make_parents(path);
	if (r < 0)
		return r;
	if (mkdir(s->dir, 01777) == 0)
		r = fix_mode(AT_FDCWD, s->dir, 01777);
	else if (errno != EEXIST)
		r = -errno;
	if (r < 0)
		return r;
	r = make_subdir(s, GS_SEGMENT_DIR, 0777);
	if (r < 0)
		return r;
	/* Someone else's segments/ must at least be a directory. */
	int dfd = gs_open_dir(s, GS_SEGMENT_DIR);
	if (dfd < 0)
		return dfd;
	close(dfd);
	return 0;
}

/* Another directory of the store beside segments/ (posix/, sem/), the
 * store made first if missing. */
int gs_make_store_subdir(struct goshm_store *s, const char *name, mode_t mode)
{
	int r = gs_make_store_dirs(s);
	return r < 0 ? r : make_subdir(s, name, mode);
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Call fn for every entry of directory dfd but . and ..; stops early when
 * fn returns non-zero.  getdents64, not readdir: no allocation. */
void gs_each_file(int dfd, int (*fn)(int dfd, const char *name, void *arg), void *arg)
{
	char buf[8192] __attribute__((aligned(8)));
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (;;) {
		long n = gs_syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct linux_dirent64 *e = (struct linux_dirent64 *)(void *)(buf + off);
			off += e->d_reclen;
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (fn(fd, e->d_name, arg)) {
				close(fd);
				return;
			}
		}
	}
	close(fd);
}

/*
 * A lease probe on fd (F_RDLCK or F_WRLCK): 0 if the kernel granted the
 * lease -- dropped at once -- or -errno.  Whoever opens the file while the
 * lease is held breaks it, and the kernel signals the holder: SIGIO by
 * default, whose default action ends the process, so a backup tool reading
 * the store at the wrong microsecond would kill the program.  SIGURG,
 * ignored by default (and expected spuriously by the programs that catch
 * it, the Go runtime among them), is asked for instead.
 */
int gs_lease_probe(int fd, int type)
{
	if (fcntl(fd, F_SETSIG, SIGURG) < 0 || fcntl(fd, F_SETLEASE, type) < 0)
		return -errno;
	fcntl(fd, F_SETLEASE, F_UNLCK);
	return 0;
}
