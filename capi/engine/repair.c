/*
 * repair.c - the first use of a store after the machine rebooted.
 *
 * The registry is written through a shared mapping, and the kernel writes
 * its pages back when it chooses, each page on its own.  A container
 * restart keeps the page cache, so nothing of it is lost.  A power cut or
 * a crash of the machine keeps what reached the disk: the pages written
 * back before it, in any combination, and the data files and directory
 * entries the file system had committed.  Every change made before the
 * last goshm_sync is among them (sync.c); of later ones, any subset.
 *
 * So the first locked call after a reboot (the header's boot_id is not
 * this boot's) checks the registry against the files, under the lock,
 * before anything uses it, and keeps what is whole:
 *
 *   - a live slot whose numbers are impossible or all zero (its page did
 *     not reach the disk), or whose data file is missing or of the wrong
 *     size, is freed: the segment is cleanly gone;
 *   - of two live segments with one key (a removal that did not reach the
 *     disk, a newer creation that did), the newer stays;
 *   - every namespace slot is cleared (every IPC namespace ended with the
 *     machine: nothing is attached), tokens and tombstones go, and removed
 *     segments are destroyed;
 *   - files no live segment names are removed;
 *   - the key index, hi_water, dest_count, next_gen and the allocator's
 *     state are derived again from the slots.
 *
 * What it did is counted in the header (goshm doctor shows it), and the
 * repaired registry is flushed to disk before the call goes on.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Is slot idx a segment that survived whole: possible numbers, and a data
 * file of its size?  (Quietly: what does not survive is repaired, not
 * reported as damage.) */
static int whole(struct gs_locked *l, unsigned idx)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	struct gs_name name;
	struct stat st;
	/* No engine reaches the last generation: kept, it would make
	 * next_gen wrap to 0, which every later creation refuses. */
	if (sl->seq > GS_SEQ_MAX || sl->segsz < GS_SHMMIN || sl->segsz > GS_SHMMAX ||
	    sl->gen == 0 || sl->gen == UINT64_MAX)
		return 0;
	gs_data_name(sl->gen, &name);
	int fd = gs_open_in(l->store, GS_SEGMENT_DIR, name.s, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	int ok = gs_check_file(fd, &st) == 0 && (uint64_t)st.st_size == gs_round_pages(sl->segsz);
	close(fd);
	return ok;
}

static void forget_slot(struct gs_locked *l, unsigned idx)
{
	l->state[idx] = GS_FREE;
	l->keys[idx] = 0;
	gs_slot_wipe(gs_slot_at(l, idx));
	l->hdr->repaired_slots++;
}

/* Of two live segments with one key, the one made later (higher gen). */
static void settle_duplicate_keys(struct gs_locked *l, unsigned hi)
{
	for (unsigned i = 0; i < hi; i++) {
		struct gs_slot *a = gs_slot_at(l, i);
		if (l->state[i] != GS_LIVE || a->key == IPC_PRIVATE || (a->mode & SHM_DEST))
			continue;
		for (unsigned j = i + 1; j < hi; j++) {
			struct gs_slot *b = gs_slot_at(l, j);
			if (l->state[j] != GS_LIVE || b->key != a->key || (b->mode & SHM_DEST))
				continue;
			struct gs_slot *older = a->gen < b->gen ? a : b;
			older->mode |= SHM_DEST;
			older->key = IPC_PRIVATE;
			if (older == a)
				break;
		}
	}
}

struct strays {
	struct gs_locked *l;
};

/* Files of segments/ no live slot's data file is named by. */
static int remove_stray(int dfd, const char *name, void *arg)
{
	struct strays *s = arg;
	struct gs_name want;
	for (int i = gs_next_live(s->l, 0); i >= 0; i = gs_next_live(s->l, (unsigned)i + 1)) {
		gs_data_name(gs_slot_at(s->l, (unsigned)i)->gen, &want);
		if (!strcmp(want.s, name))
			return 0;
	}
	if (!strncmp(name, ".doctor-", 8))
		return 0;
	if (unlinkat(dfd, name, 0) == 0)
		s->l->hdr->repaired_files++;
	return 0;
}

void gs_repair_after_boot(struct gs_locked *l)
{
	struct gs_header *h = l->hdr;
	unsigned hi = GS_SHMMNI, top = 0;
	uint64_t max_gen = 0;
	gs_write(l);
	h->repaired_slots = 0;
	h->repaired_files = 0;
	for (unsigned i = 0; i < hi; i++) {
		if (l->state[i] == GS_FREE)
			continue;
		if (l->state[i] > GS_DYING || !whole(l, i)) {
			forget_slot(l, i);
			continue;
		}
		struct gs_slot *sl = gs_slot_at(l, i);
		l->state[i] = GS_LIVE;
		memset(sl->ns, 0, sizeof sl->ns);
		for (unsigned k = 0; k < GS_NS_SLOTS; k++) {
			sl->ns[k].native_id = -1;
			gs_pub_clear(sl, k);
		}
		if (sl->gen > max_gen)
			max_gen = sl->gen;
		top = i + 1;
	}
	settle_duplicate_keys(l, top);
	/* What the rest of the engine derives from the slots. */
	h->hi_water = top;
	h->dest_count = 0;
	for (unsigned i = 0; i < GS_SHMMNI; i++) {
		struct gs_slot *sl = gs_slot_at(l, i);
		int live = l->state[i] == GS_LIVE;
		l->keys[i] = live && !(sl->mode & SHM_DEST) ? sl->key : 0;
		h->dest_count += live && (sl->mode & SHM_DEST);
	}
	if (h->next_gen <= max_gen)
		h->next_gen = max_gen + 1;
	if (h->last_idx >= (int32_t)GS_SHMMNI || h->last_idx < (int32_t)top - 1)
		h->last_idx = (int32_t)top - 1;
	if (h->idr_next > GS_SHMMNI)
		h->idr_next = top;
	h->pending_gen = 0;
	h->ntomb = 0;
	h->redo_set.idx_plus1 = 0;

	gs_oldpool_drain(l);
	int dfd = gs_open_dir(l->store, GS_SEGMENT_DIR);
	if (dfd >= 0) {
		struct strays st = {l};
		gs_each_file(dfd, remove_stray, &st);
		close(dfd);
	}
	/* Nothing is attached anywhere: removed segments go now. */
	gs_reap_all(l);
	h->repairs++;
	h->repaired_at = time(NULL);
	fsync(l->fd);
}
