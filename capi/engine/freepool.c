/*
 * freepool.c - data files of destroyed segments, kept for the next
 * segments made.
 *
 * On a journaled file system, creating a file and removing one are the
 * dearest things goshm does: an ext4 create plus unlink costs 60-200 us,
 * where the kernel makes and destroys a segment in a few.  A program that
 * makes a private segment per request pays it twice per request.  So a
 * destroyed segment's data file is renamed to segments/free-<gen> (a rename
 * costs a few us) and its generation kept in the header, up to GS_POOL of
 * them, each at most GS_POOL_MAX_BYTES; the next segment made takes one,
 * gives it new zeroed blocks of the new size, and renames it to its own
 * seg-<gen>.
 *
 * A file is reused only once a write-lease probe proves that nobody has it
 * open or mapped: F_SETLEASE F_WRLCK fails while any other descriptor or
 * mapping of the file exists, in any process -- an attach that mremap()
 * moved and nobody detached, say.  Such a file is removed instead.  The
 * new segment's bytes are zeroed before anything can map it (the kernel's
 * segments start zeroed), and any failure removes the file and makes a
 * new one: a file is never reused half-cleaned.
 *
 * Everything here runs under the registry lock; a kill in between leaves a
 * free-<gen> file the header does not list, which goshm gc removes (and the
 * repair after a reboot).
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GS_POOL_MAX_BYTES (1ull << 20)

static void free_name(uint64_t gen, struct gs_name *n)
{
	struct gs_name data;
	gs_data_name(gen, &data);                            /* "seg-<gen>" */
	memcpy(n->s, "free-", 5);
	memcpy(n->s + 5, data.s + 4, strlen(data.s + 4) + 1); /* "free-<gen>" */
}

/* Is segments/name a file the pool lists? */
int gs_pool_holds(struct gs_locked *l, const char *name)
{
	struct gs_name n;
	for (unsigned i = 0; i < l->hdr->nfree && i < GS_POOL; i++) {
		free_name(l->hdr->free_gens[i], &n);
		if (!strcmp(n.s, name))
			return 1;
	}
	return 0;
}

/* The data file of destroyed generation gen goes to the pool: 0, or -1
 * when it does not (the caller removes it). */
int gs_pool_put(struct gs_locked *l, uint64_t gen, uint64_t segsz)
{
	struct gs_name from, to;
	if (l->hdr->nfree >= GS_POOL || gs_round_pages(segsz) > GS_POOL_MAX_BYTES)
		return -1;
	int dfd = gs_open_dir(l->store, GS_SEGMENT_DIR);
	if (dfd < 0)
		return -1;
	gs_data_name(gen, &from);
	free_name(gen, &to);
	int r = renameat2(dfd, from.s, dfd, to.s, RENAME_NOREPLACE);
	close(dfd);
	if (r < 0)
		return -1;
	gs_write(l);
	l->hdr->free_gens[l->hdr->nfree++] = gen;
	gs_write_done(l);
	return 0;
}

/* F_SETLEASE F_WRLCK: granted only while no other descriptor or mapping
 * of the file exists.  As its owner if we are root without CAP_LEASE. */
static int nobody_else_has(int fd)
{
	return gs_lease_probe(fd, F_WRLCK) == 0;
}

/*
 * Give fd size bytes of zeroed blocks that are not the ones it had.
 *
 * Not FALLOC_FL_ZERO_RANGE, which zeroes the file's blocks where they are.
 * Until the journal commits the destruction (the rename to free-<gen>),
 * the disk still says those blocks are the destroyed segment's file, and
 * the kernel may write the new segment's pages into them at any moment:
 * after a power cut in between, the destroyed segment would come back
 * holding the new one's bytes (TestPowerCutAfterReuse).  Punching the
 * blocks out frees them, and a journaling file system hands freed blocks
 * out again only once the commit that freed them is on the disk (ext4's
 * mballoc, XFS's busy extents): the new segment's pages go elsewhere,
 * and the old blocks keep the old bytes for as long as the disk may still
 * name them.  Then the whole size is allocated, zeroed (blocks reserved,
 * as for a new file; a pooled file is at most 1 MiB, so GOSHM_SPARSE's
 * saving does not matter).  0, or -1 if the file cannot be made so (the
 * caller drops it).
 */
static int renew_blocks(int fd, uint64_t size, const struct stat *st)
{
	off_t len = (off_t)gs_round_pages(size), now = st->st_size;
	if (now > 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, now) < 0) {
		/* No hole punching here: truncation frees the blocks too. */
		if (ftruncate(fd, 0) < 0)
			return -1;
		now = 0;
	}
	if (now != len && ftruncate(fd, len) < 0)
		return -1;
	return gs_sparse() || fallocate(fd, 0, 0, len) == 0 ? 0 : -1;
}

/*
 * A data file for a new segment of size bytes from the pool, under the new
 * generation it sets in *gen (and in pending_gen).  0, or -ENOENT when the
 * pool has nothing usable (every file found unusable was removed).
 */
int gs_pool_take(struct gs_locked *l, uint64_t size, uint64_t *gen)
{
	struct gs_name from, to;
	if (gs_round_pages(size) > GS_POOL_MAX_BYTES)
		return -ENOENT;
	while (l->hdr->nfree) {
		gs_write(l);
		uint64_t old = l->hdr->free_gens[--l->hdr->nfree];
		gs_write_done(l); /* the probe and the new blocks take a while */
		free_name(old, &from);
		int dfd = gs_open_dir(l->store, GS_SEGMENT_DIR);
		if (dfd < 0)
			return -ENOENT;
		int fd = openat(dfd, from.s, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		int ok = fd >= 0 && gs_check_file(fd, &st) == 0 && nobody_else_has(fd) &&
		         renew_blocks(fd, size, &st) == 0;
		if (ok) {
			gs_write(l);
			*gen = l->hdr->next_gen++;
			l->hdr->pending_gen = *gen; /* until a slot names it */
			gs_write_done(l);
			gs_data_name(*gen, &to);
			ok = renameat2(dfd, from.s, dfd, to.s, RENAME_NOREPLACE) == 0;
		}
		if (fd >= 0)
			close(fd);
		if (!ok)
			unlinkat(dfd, from.s, 0);
		close(dfd);
		if (ok)
			return 0;
	}
	return -ENOENT;
}

/* goshm gc: the pool is a cache, and gc leaves only what segments use. */
void gs_pool_drain(struct gs_locked *l)
{
	struct gs_name n;
	if (!l->hdr->nfree)
		return;
	int dfd = gs_open_dir(l->store, GS_SEGMENT_DIR);
	gs_write(l);
	while (l->hdr->nfree) {
		free_name(l->hdr->free_gens[--l->hdr->nfree], &n);
		if (dfd >= 0)
			unlinkat(dfd, n.s, 0);
	}
	if (dfd >= 0)
		close(dfd);
}

/* After a reboot: list only pool files that are there (repair.c). */
void gs_pool_check(struct gs_locked *l)
{
	struct gs_name n;
	unsigned kept = 0;
	int dfd = gs_open_dir(l->store, GS_SEGMENT_DIR);
	gs_write(l);
	for (unsigned i = 0; i < l->hdr->nfree && i < GS_POOL; i++) {
		struct stat st;
		free_name(l->hdr->free_gens[i], &n);
		if (dfd >= 0 && fstatat(dfd, n.s, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && l->hdr->free_gens[i] < l->hdr->next_gen)
			l->hdr->free_gens[kept++] = l->hdr->free_gens[i];
	}
	l->hdr->nfree = kept;
	if (dfd >= 0)
		close(dfd);
}
