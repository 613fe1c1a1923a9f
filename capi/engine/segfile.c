/*
 * segfile.c - the data files that hold segment contents.
 *
 * A data file holds exactly the segment's pages (its size rounded up to
 * whole pages), with no header, so that mmap maps it directly.  It is
 * created under a temporary name, given its disk space, and renamed into
 * place before the registry slot that names it is published.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t gs_round_pages(uint64_t size)
{
	uint64_t page = (uint64_t)gs_page_size();
	return (size_t)((size + page - 1) & ~(page - 1));
}

/* Files are named by the segment's generation, a counter that never
 * repeats in a store, so a file can never be mistaken for a later
 * segment's: segments/seg-<gen> and segments/seg-<gen>.ns<k>.<tgen>. */
int gs_data_path(const struct goshm_store *s, uint64_t gen, char *buf,
                 size_t len)
{
	int n = snprintf(buf, len, "%s/" GS_SEGMENT_DIR "/seg-%llu", s->dir,
	                 (unsigned long long)gen);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int gs_token_path(const struct goshm_store *s, uint64_t gen, unsigned nsk,
                  uint32_t tgen, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/" GS_SEGMENT_DIR "/seg-%llu.ns%u.%u", s->dir,
	                 (unsigned long long)gen, nsk, tgen);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
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

int gs_create_data(struct gs_locked *l, uint64_t gen, uint64_t size)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int r = gs_data_path(l->store, gen, path, sizeof path);
	if (r < 0)
		return r;
	int n = snprintf(tmp, sizeof tmp, "%s/" GS_SEGMENT_DIR "/.tmp-%llu.%d",
	                 l->store->dir, (unsigned long long)gen, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -ENAMETOOLONG;
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		return gs_store_error(l->store, "cannot create a data file", -errno,
		                      "make its segments directory writable (mode 777)");
	r = fchmod(fd, 0666) < 0 ? -errno : reserve(fd, (off_t)gs_round_pages(size));
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		if (r == -EDQUOT || r == -ENOSPC)
			return -ENOSPC;
		/* Sizes no file can have are the kernel's ENOMEM. */
		if (r == -EFBIG || r == -EINVAL)
			return -ENOMEM;
		return r;
	}
	return 0;
}

/* Open the data file of slot idx and check that it is what the registry
 * says, so that a damaged store gives EIO and not a SIGBUS. */
int gs_open_data(struct gs_locked *l, unsigned idx, int rdonly,
                 struct stat *stp)
{
	char path[PATH_MAX];
	struct gs_slot *sl = gs_slot_at(l, idx);
	struct stat st;
	int r = gs_data_path(l->store, sl->gen, path, sizeof path);
	if (r < 0)
		return r;
	int fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ELOOP) {
			gs_warn_store(l->store, "a segment's data file is missing", r,
			              "the store was damaged; run goshm gc");
			return -EIO;
		}
		return gs_store_error(l->store, "cannot open a data file", r,
		                      "give the segments directory's files mode 666");
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != gs_round_pages(sl->segsz)) {
		close(fd);
		gs_warn_store(l->store, "a segment's data file has the wrong size", EIO,
		              "the store was damaged; see docs/FORMAT.md");
		return -EIO;
	}
	*stp = st;
	return fd;
}
