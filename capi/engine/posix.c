/*
 * posix.c - shm_open and shm_unlink, from the store or from /dev/shm.
 *
 * glibc's shm_open is open("/dev/shm/<name>", oflag | O_NOFOLLOW |
 * O_CLOEXEC, mode) with EISDIR turned into EINVAL, and shm_unlink is
 * unlink() with EPERM turned into EACCES; musl's adds O_NONBLOCK and maps
 * no errno (GS_SHM_FLAGS, libc_errno).  A served object is the same
 * thing one directory over: a regular file <store>/posix/<name>, so its
 * descriptor behaves as /dev/shm's does for ftruncate, fstat, mmap,
 * fchmod, fchown, close and fork -- they are the kernel's own calls on a
 * file, and the engine keeps no descriptor between calls.  The file
 * outlives every process and the mount namespace, which is the point.
 *
 * posix/ is mode 1777 like /dev/shm (sticky: only an object's owner may
 * unlink it), and is reached as every store file is (paths.c): from the
 * store's canonical path with RESOLVE_NO_SYMLINKS, so a symlink planted
 * in the store is ELOOP, as it is for O_NOFOLLOW in /dev/shm.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHMDIR "/dev/shm/"

/* What the C library's shm_open adds to the caller's flags. */
#ifdef __GLIBC__
#define GS_SHM_FLAGS (O_NOFOLLOW | O_CLOEXEC)
#else
#define GS_SHM_FLAGS (O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
#endif

/* The errno the C library turns another into: glibc's shm_open says
 * EINVAL for EISDIR, its shm_unlink EACCES for EPERM; musl keeps both. */
static int libc_errno(int r, int unlink)
{
#ifdef __GLIBC__
	if (!unlink && r == -EISDIR)
		return -EINVAL;
	if (unlink && r == -EPERM)
		return -EACCES;
#else
	(void)unlink;
#endif
	return r;
}

/* The flags open(2) keeps (include/linux/fcntl.h VALID_OPEN_FLAGS).
 * open() drops the others silently, openat2() refuses them: drop them
 * here, as build_open_how() does for open(). */
#define GS_VALID_OPEN_FLAGS                                                     \
	(O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | \
	 O_SYNC | O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY |        \
	 O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE)
#define GS_O_PATH_FLAGS (O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC)
#define GS_WILL_CREATE(f) (((f) & O_CREAT) || ((f) & O_TMPFILE) == O_TMPFILE)

/* glibc's shm_open on /dev/shm, for the names goshm does not serve. */
int gs_native_shm_open(const char *name, int oflag, mode_t mode)
{
	const char *n;
	char path[sizeof SHMDIR + NAME_MAX];
	int r = gs_posix_name(name, &n, 0);
	if (r < 0)
		return r;
	memcpy(path, SHMDIR, sizeof SHMDIR - 1);
	memcpy(path + sizeof SHMDIR - 1, n, strlen(n) + 1);
	int state;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	int fd = open(path, oflag | GS_SHM_FLAGS, mode);
	r = fd < 0 ? -errno : fd;
	pthread_setcancelstate(state, NULL);
	return libc_errno(r, 0);
}

int gs_native_shm_unlink(const char *name)
{
	const char *n;
	char path[sizeof SHMDIR + NAME_MAX];
	int r = gs_posix_name(name, &n, 1);
	if (r < 0)
		return r;
	memcpy(path, SHMDIR, sizeof SHMDIR - 1);
	memcpy(path + sizeof SHMDIR - 1, n, strlen(n) + 1);
	r = unlink(path) < 0 ? -errno : 0;
	return libc_errno(r, 1);
}

/* An error of the object, or of a store goshm cannot use?  The latter
 * gets the one line on stderr, never a silent errno. */
static int object_or_store(struct goshm_store *s, int err)
{
	switch (err) {
	case -EACCES:
	case -EPERM:
	case -ELOOP:
	case -ENOTDIR:
	case -EXDEV:
	case -ENAMETOOLONG: {
		int dfd = gs_open_dir(s, GS_POSIX_DIR);
		if (dfd >= 0) {
			close(dfd);
			return err; /* the object's: /dev/shm would say the same */
		}
		return gs_store_error(s, "posix/ cannot be used", dfd, NULL);
	}
	case -EROFS:
	case -ENOSPC:
	case -EDQUOT:
	case -EIO:
		return gs_store_error(s, "cannot hold a POSIX object", err, NULL);
	}
	return err;
}

/*
 * Only what goshm makes is used (paths.c, docs/SECURITY.md): a regular
 * file with one link.  /dev/shm is a tmpfs of its own, so no hard link in
 * it can name another file; the store may share its file system with
 * /etc, so a hard link planted in posix/ could.  The object is therefore
 * opened without O_TRUNC, checked, and truncated only then.
 */
static int check_object(struct goshm_store *s, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && st.st_nlink != 1)
		return gs_store_error(s, "posix/ holds a hard link, which goshm never opens", -EIO,
		                      NULL);
	/* /dev/shm is mounted nodev: a device node there is EACCES. */
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		return -EACCES;
	return 0;
}

/* O_TRUNC on the object fd names, with open(2)'s permission check (write
 * permission, whatever the access mode): a fresh open of the same inode
 * through /proc/self/fd, so that no other file can be swapped in. */
static int truncate_object(int fd, int flags)
{
	char link[32] = "/proc/self/fd/";
	char *p = link + 14, tmp[12];
	int n = 0;
	for (unsigned v = (unsigned)fd; n == 0 || v; v /= 10)
		tmp[n++] = (char)('0' + v % 10);
	while (n)
		*p++ = tmp[--n];
	*p = 0;
	int w = open(link, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (w >= 0) {
		close(w);
		return 0;
	}
	if (errno != ENOENT)
		return -errno;
	/* No /proc: the descriptor itself, when it may write. */
	if ((flags & O_ACCMODE) == O_RDONLY)
		return -EACCES;
	return ftruncate(fd, 0) < 0 ? -errno : 0;
}

int gs_posix_open(struct goshm_store *s, const char *name, int oflag, mode_t mode)
{
	const char *n;
	int r = gs_posix_name(name, &n, 0);
	if (r < 0)
		return r;
	/* "." and ".." would open posix/ or the store directory: never hand
	 * out those (docs/DIFFERENCES.md). */
	if (!strcmp(n, ".") || !strcmp(n, ".."))
		return -EINVAL;
	/* gs_open_in adds O_NOFOLLOW | O_CLOEXEC. */
	int flags = (oflag | (GS_SHM_FLAGS & O_NONBLOCK)) & GS_VALID_OPEN_FLAGS;
	if (flags & O_PATH)
		flags &= GS_O_PATH_FLAGS;
	mode &= 07777;
	if (!GS_WILL_CREATE(flags))
		mode = 0;
	/* O_TRUNC after the check (check_object); O_PATH ignores it. */
	int trunc = (flags & O_TRUNC) && !(flags & O_PATH);
	flags &= ~O_TRUNC;
	int fd = gs_open_in(s, GS_POSIX_DIR, n, flags, mode);
	if (fd == -ENOENT && (flags & O_CREAT)) {
		/* posix/ (or the store) does not exist yet: make it. */
		r = gs_make_store_subdir(s, GS_POSIX_DIR, 01777);
		if (r < 0)
			return gs_store_error(s, "cannot make posix/", r, NULL);
		fd = gs_open_in(s, GS_POSIX_DIR, n, flags, mode);
	}
	if (fd >= 0 && !(flags & O_PATH)) {
		r = check_object(s, fd);
		if (r == 0 && trunc)
			r = truncate_object(fd, flags);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	if (fd >= 0)
		return fd;
	if (fd == -EISDIR)
		return libc_errno(fd, 0);
	return object_or_store(s, fd);
}

int gs_posix_unlink(struct goshm_store *s, const char *name)
{
	const char *n;
	int r = gs_posix_name(name, &n, 1);
	if (r < 0)
		return r;
	/* unlink() of /dev/shm/. or /dev/shm/.. (posix/ may not exist yet). */
	if (!strcmp(n, ".") || !strcmp(n, ".."))
		return -EISDIR;
	int dfd = gs_open_dir(s, GS_POSIX_DIR);
	if (dfd == -ENOENT)
		return -ENOENT; /* no store, or no object ever: none to remove */
	if (dfd < 0)
		return gs_store_error(s, "posix/ cannot be used", dfd, NULL);
	r = unlinkat(dfd, n, 0) < 0 ? -errno : 0;
	close(dfd);
	if (r == -EPERM)
		return libc_errno(r, 1);
	return r == -EROFS || r == -EIO ? object_or_store(s, r) : r;
}
