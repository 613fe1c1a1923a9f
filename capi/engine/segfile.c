/*
 * segfile.c - the data files that hold segment contents.
 *
 * A data file holds exactly the segment's pages (its size rounded up to
 * whole pages), with no header, so that mmap maps it directly.  It is
 * created under its final name with O_EXCL -- never over an existing file,
 * whatever the registry says -- given its disk space, and only then named
 * by a slot.  A creation cut short leaves a file no slot names, which the
 * next locker removes (pending_gen, store.c) or goshm gc does.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t gs_round_pages(uint64_t size)
{
	uint64_t page = (uint64_t)gs_page_size();
	return (size_t)((size + page - 1) & ~(page - 1));
}

/* Reserve the blocks now, so that a full disk is ENOSPC here and never a
 * SIGBUS in the middle of a program's write later. */
static int reserve(int fd, off_t size)
{
	if (gs_sparse())
		return ftruncate(fd, size) < 0 ? -errno : 0;
	int r;
	/* A signal may interrupt a large reservation (tmpfs, NFS, FUSE): the
	 * program's shmget must not see EINTR, which the kernel never gives. */
	while ((r = fallocate(fd, 0, 0, size) < 0 ? errno : 0) == EINTR)
		;
	if (r == 0)
		return 0;
	if (r != EOPNOTSUPP && r != ENOSYS)
		return -r;
	while ((r = posix_fallocate(fd, 0, size)) == EINTR)
		;
	return -r;
}

static int create_file(struct gs_locked *l, const char *name)
{
	int fd = gs_open_in(l->store, GS_SEGMENT_DIR, name,
	                    O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0666);
	if (fd == -ENOENT) {
		/* segments/ was deleted: make it again (paths.c). */
		int r = gs_make_store_dirs(l->store);
		if (r < 0)
			return r;
		fd = gs_open_in(l->store, GS_SEGMENT_DIR, name,
		                O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0666);
	}
	return fd;
}

/* Create the data file of generation gen for a segment of size bytes.
 * -EEXIST: a file of that generation is there already (the caller takes
 * the next generation). */
int gs_create_data(struct gs_locked *l, uint64_t gen, uint64_t size)
{
	struct gs_name name;
	gs_data_name(gen, &name);
	int fd = create_file(l, name.s);
	if (fd == -EEXIST)
		return fd;
	if (fd < 0)
		return gs_store_error(l->store, "cannot create a data file", fd,
		                      "make its segments directory writable (mode 777)");
	int r = fchmod(fd, 0666) < 0 ? -errno : reserve(fd, (off_t)gs_round_pages(size));
	close(fd);
	if (r < 0) {
		gs_unlink_in(l->store, name.s);
		if (r == -EDQUOT || r == -ENOSPC)
			return -ENOSPC;
		/* Sizes no file can have are the kernel's ENOMEM. */
		if (r == -EFBIG || r == -EINVAL)
			return -ENOMEM;
		return gs_store_error(l->store, "cannot size a data file", r, NULL);
	}
	return 0;
}

/* Open the data file of slot sl and check that it is what the registry
 * says -- a regular file of one link and the segment's size -- so that a
 * damaged store gives EIO and never a SIGBUS, a hang on a FIFO, or a
 * mapping of a file hard-linked in from elsewhere.  GS_QUIET: a lock-free
 * caller, whose segment may have been destroyed since its snapshot, gets
 * -EAGAIN for anything wrong, says nothing, and asks again under the lock. */
int gs_open_data(struct goshm_store *s, const struct gs_slot *sl, int flags,
                 struct stat *st)
{
	int rdonly = flags & GS_RDONLY;
	if (flags & GS_QUIET) {
		struct gs_name name;
		gs_data_name(sl->gen, &name);
		int fd = gs_open_in(s, GS_SEGMENT_DIR, name.s,
		                    (rdonly ? O_RDONLY : O_RDWR) | O_NONBLOCK, 0);
		if (fd < 0)
			return fd == -EACCES || fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM
			               ? gs_open_data(s, sl, flags & ~GS_QUIET, st)
			               : -EAGAIN;
		if (gs_check_file(fd, st) < 0 || (uint64_t)st->st_size != gs_round_pages(sl->segsz)) {
			close(fd);
			return -EAGAIN;
		}
		return fd;
	}
	struct gs_name name;
	gs_data_name(sl->gen, &name);
	int fd = gs_open_in(s, GS_SEGMENT_DIR, name.s,
	                    (rdonly ? O_RDONLY : O_RDWR) | O_NONBLOCK, 0);
	if (fd < 0) {
		if (fd == -ENOENT) {
			gs_warn_store(s, "a segment's data file is missing", -fd,
			              "the store was damaged; see docs/FORMAT.md");
			return -EIO;
		}
		return gs_store_error(s, "cannot open a data file", fd,
		                      "give the segments directory's files mode 666");
	}
	int r = gs_check_file(fd, st);
	if (r == 0 && (uint64_t)st->st_size != gs_round_pages(sl->segsz))
		r = -EIO;
	if (r < 0) {
		close(fd);
		if (r != -EIO)
			return gs_store_error(s, "cannot stat a data file", r, NULL);
		gs_warn_store(s, "a segment's data file is not a regular file of one link "
		              "and the segment's size", EIO,
		              "the store was damaged; see docs/FORMAT.md");
		return -EIO;
	}
	return fd;
}
