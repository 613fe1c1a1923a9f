/*
 * shmget.c - find or create a segment, in the kernel's order of checks
 * (ipc/util.c ipcget(), ipc/shm.c newseg()).
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Pages held by every segment of the store (the kernel's shm_tot). */
static uint64_t total_pages(struct gs_locked *l)
{
	uint64_t pages = 0, page = (uint64_t)gs_page_size();
	for (int i = gs_next_live_used(l, 0); i >= 0; i = gs_next_live_used(l, (unsigned)i + 1))
		pages += (gs_slot_at(l, (unsigned)i)->segsz + page - 1) / page;
	return pages;
}

/*
 * A store this process cannot use is EPERM from shmget, not the EACCES of
 * the other calls: programs that pick keys by trial (PostgreSQL among
 * them) take EACCES for "a key of another user's" and try the next key,
 * forever.  EPERM, which shmget also gives for a refused SHM_HUGETLB, is
 * taken as the failure it is.
 */
int gs_shmget_unusable(int r)
{
	return r == -EACCES ? -EPERM : r;
}

/* Every generation a live slot names is below next_gen: a header whose
 * counter went back (damage) would make a new segment's files collide
 * with a live one's. */
static int next_gen_sane(struct gs_locked *l)
{
	unsigned hi = l->hdr->hi_water;
	for (unsigned i = 0; i < hi; i++)
		if (l->state[i] != GS_FREE && gs_slot_at(l, i)->gen >= l->hdr->next_gen) {
			gs_warn_store(l->store, "the registry's generation counter is behind "
			              "a segment's", EIO, "move the store away and see docs/FORMAT.md");
			return -EIO;
		}
	return 0;
}

/* A new data file: a generation whose file is somehow there already (a
 * stray no pending_gen covered) is skipped, never written over.  Files an
 * earlier engine kept for reuse go first (oldpool.c). */
static int new_data_file(struct gs_locked *l, uint64_t size, uint64_t *gen)
{
	gs_oldpool_drain(l);
	for (int tries = 0; tries < 16; tries++) {
		gs_write(l);
		*gen = l->hdr->next_gen++;
		l->hdr->pending_gen = *gen; /* until a slot names the file */
		gs_write_done(l);
		int r = gs_create_data(l, *gen, size);
		if (r != -EEXIST)
			return r;
	}
	gs_warn_store(l->store, "data files of new generations exist already", EIO,
	              "run goshm gc, or move the store away (docs/FORMAT.md)");
	return -EIO;
}

static int newseg(struct gs_locked *l, key_t key, size_t size, int shmflg)
{
	uint64_t page = (uint64_t)gs_page_size();
	uint64_t numpages = (size + page - 1) / page;
	uint64_t gen;
	unsigned idx;
	int r;

	/* What the kernel would have destroyed at the last detach -- an exit
	 * or a kill, where no code of ours ran -- goes first: its slot, its
	 * pages and its place in the id sequence. */
	gs_reap_all(l);
	if (size < GS_SHMMIN || size > GS_SHMMAX)
		return -EINVAL;
	if (numpages * page < size)
		return -ENOSPC;
	uint64_t tot = total_pages(l);
	if (tot + numpages < tot || tot + numpages > GS_SHMALL)
		return -ENOSPC;
	unsigned huge_log;
	r = gs_hugetlb_check(shmflg, size, &huge_log);
	if (r < 0)
		return r;
	/* shmem_kernel_file_setup() takes the size as a loff_t and refuses
	 * one above MAX_LFS_FILESIZE (LLONG_MAX) with EINVAL; below it, a
	 * size that cannot be backed is ENOMEM (gs_create_data). */
	if (size > (uint64_t)INT64_MAX)
		return -EINVAL;
	r = next_gen_sane(l);
	if (r < 0)
		return r;

	/* The file first, as the kernel sets up its shmem file before it
	 * allocates the id: an impossible size is ENOMEM even in a full table. */
	r = new_data_file(l, size, &gen);
	if (r < 0) {
		l->hdr->pending_gen = 0;
		return gs_shmget_unusable(r);
	}
	r = gs_alloc_index(l, &idx);
	if (r < 0) {
		struct gs_name name;
		gs_data_name(gen, &name);
		gs_unlink_in(l->store, name.s);
		l->hdr->pending_gen = 0;
		return r;
	}

	struct gs_slot *sl = gs_slot_at(l, idx);
	gs_slot_wipe(sl); /* the pub words keep their change counters */
	sl->seq = (uint32_t)l->hdr->seq;
	sl->key = key;
	sl->mode = (uint32_t)shmflg & S_IRWXUGO;
	sl->uid = sl->cuid = gs_euid();
	sl->gid = sl->cgid = gs_egid();
	sl->cpid = gs_pid();
	sl->segsz = size;
	sl->id_base = gs_routing_active() ? GS_ROUTED_BASE : 0;
	sl->ctime = time(NULL);
	sl->gen = gen;
	sl->flags = (shmflg & SHM_HUGETLB) ? GS_SLOT_HUGETLB | GS_SLOT_HUGE_LOG_SET(huge_log) : 0;
	for (unsigned k = 0; k < GS_NS_SLOTS; k++)
		sl->ns[k].native_id = -1;
	gs_publish(l, idx);
	l->hdr->pending_gen = 0;
	return gs_id_of(l, idx);
}

/* shmget of an existing key without the lock (snapshot.c): 0 with the id
 * in *id, or GS_SNAP_RETRY when the locked path must answer (a new
 * segment, a permission question about groups or capabilities). */
static int find_fast(struct goshm_store *s, key_t key, size_t size, int shmflg, int *id)
{
	struct gs_view v;
	struct gs_snap sn;
	int r = gs_view(s, &v);
	if (r == -ENOENT)
		return (shmflg & IPC_CREAT) ? GS_SNAP_RETRY : -ENOENT;
	if (r != 0)
		return GS_SNAP_RETRY;
	r = gs_snap_key(&v, key, &sn);
	if (r == -ENOENT)
		return (shmflg & IPC_CREAT) ? GS_SNAP_RETRY : -ENOENT;
	if (r != 0)
		return r;
	if (size > sn.slot.segsz)
		return -EINVAL;
	if (gs_ipcperms_fast(&sn.slot, shmflg) != 0)
		return GS_SNAP_RETRY;
	*id = sn.id;
	return 0;
}

int gs_shmget(struct goshm_store *s, key_t key, size_t size, int shmflg)
{
	struct gs_locked l;
	unsigned idx;
	int create = key == IPC_PRIVATE || (shmflg & IPC_CREAT);
	int r, id = -1;
	if (key != IPC_PRIVATE && (shmflg & (IPC_CREAT | IPC_EXCL)) != (IPC_CREAT | IPC_EXCL)) {
		r = find_fast(s, key, size, shmflg, &id);
		if (r != GS_SNAP_RETRY)
			return r < 0 ? r : id;
	}
	r = gs_lock(s, &l, create ? GS_CREATE : GS_EXISTING);
	if (r < 0)
		return gs_shmget_unusable(r);
	if (key == IPC_PRIVATE) {
		r = newseg(&l, key, size, shmflg);
	} else {
		r = gs_find_key(&l, key, &idx);
		if (r == -ENOENT)
			r = (shmflg & IPC_CREAT) ? newseg(&l, key, size, shmflg) : -ENOENT;
		else if (r == 0) {
			struct gs_slot *sl = gs_slot_at(&l, idx);
			if ((shmflg & IPC_CREAT) && (shmflg & IPC_EXCL))
				r = -EEXIST;
			else if (size > sl->segsz)
				r = -EINVAL;
			else if (gs_ipcperms(sl, shmflg) < 0)
				r = -EACCES;
			else
				r = gs_id_of(&l, idx);
		}
	}
	gs_unlock(&l);
	return r;
}
