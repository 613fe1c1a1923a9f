/*
 * sync.c - flushing segments to disk (goshm_sync, goshm sync,
 * GOSHM_SYNC=detach).
 *
 * A segment's pages belong to its data file, and the kernel writes dirty
 * pages back when it chooses (vm.dirty_expire_centisecs, about 30 s).  A
 * container restart keeps the page cache; a power cut loses what was not
 * written back.  goshm_sync makes a segment durable: its data file, then
 * the registry that names it, then the directory entries of both (the data
 * file's in segments/, segments/ and the registry's in the store).  After
 * it returns, a power cut at any moment leaves that segment, with its
 * bytes as they were at the call, in a store that opens (repair.c).  It
 * holds the registry's lock, so no other call changes the registry while
 * it is flushed.
 *
 * GOSHM_SYNC=detach makes every shmdt, and the normal exit of a process
 * (exit(3), return from main), flush the segments detached.  IPC_RMID is
 * unchanged: the kernel does not flush a removed segment either.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fsync_data(struct gs_locked *l, unsigned idx)
{
	struct stat st;
	int fd = gs_open_data(l->store, gs_slot_at(l, idx), GS_RDONLY, &st);
	if (fd < 0)
		return fd;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int fsync_dir(struct goshm_store *s, const char *sub)
{
	int fd = gs_open_in(s, sub, NULL, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Flush segment shmid, or every segment of the store with -1. */
int gs_sync(struct goshm_store *s, int shmid)
{
	struct gs_locked l;
	unsigned idx;
	int r = gs_lock(s, &l, GS_EXISTING);
	if (r == -ENOENT)
		return shmid < 0 ? 0 : -EINVAL;
	if (r < 0)
		return r;
	if (shmid >= 0) {
		r = gs_find_id(&l, shmid, &idx);
		if (r == 0)
			r = fsync_data(&l, idx);
	} else {
		for (int i = gs_next_live(&l, 0); i >= 0 && r == 0;
		     i = gs_next_live(&l, (unsigned)i + 1))
			r = fsync_data(&l, (unsigned)i);
	}
	if (r == 0 && fsync(l.fd) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_dir(s, GS_SEGMENT_DIR);
	if (r == 0)
		r = fsync_dir(s, NULL);
	gs_unlock(&l);
	if (r < 0 && r != -EINVAL && r != -EIO)
		r = gs_store_error(s, "cannot flush to disk", r, NULL);
	else if (r == -EIO)
		gs_warn_store(s, "cannot flush to disk", EIO, "check the disk (dmesg)");
	return r;
}

/* GOSHM_SYNC=detach: at a normal exit, flush what is still attached (the
 * kernel detaches it right after). */
__attribute__((destructor)) static void gs_sync_at_exit(void)
{
	struct gs_attach small[16], *all = small;
	size_t len = 0;
	if (gs_sync_mode() != GS_SYNC_DETACH)
		return;
	size_t n = gs_table_snapshot(small, 16);
	if (n > 16) {
		len = (n + 64) * sizeof *all;
		all = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (all == MAP_FAILED)
			return;
		n = gs_table_snapshot(all, n + 64);
		if (n > len / sizeof *all)
			n = len / sizeof *all;
	}
	for (size_t i = 0; i < n; i++) {
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = all[j].seg.store == all[i].seg.store &&
			       all[j].seg.shmid == all[i].seg.shmid;
		if (!seen)
			gs_sync(all[i].seg.store, all[i].seg.shmid);
	}
	if (all != small)
		munmap(all, len);
}
