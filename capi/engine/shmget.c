/*
 * shmget.c - find or create a segment, in the kernel's order of checks
 * (ipc/util.c ipcget(), ipc/shm.c newseg()).
 */
#include "engine.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Pages held by every segment of the store (the kernel's shm_tot). */
static uint64_t total_pages(struct gs_locked *l)
{
	uint64_t pages = 0, page = (uint64_t)gs_page_size();
	for (unsigned i = 0; i < GS_SHMMNI; i++)
		if (l->state[i] == GS_LIVE)
			pages += (gs_slot_at(l, i)->segsz + page - 1) / page;
	return pages;
}

static int newseg(struct gs_locked *l, key_t key, size_t size, int shmflg)
{
	uint64_t page = (uint64_t)gs_page_size();
	uint64_t numpages = (size + page - 1) / page;
	unsigned idx;
	int r;

	if (size < GS_SHMMIN || size > GS_SHMMAX)
		return -EINVAL;
	if (numpages * page < size)
		return -ENOSPC;
	uint64_t tot = total_pages(l);
	if (tot + numpages < tot || tot + numpages > GS_SHMALL)
		return -ENOSPC;

	/* The file first, as the kernel sets up its shmem file before it
	 * allocates the id: an impossible size is ENOMEM even in a full table. */
	uint64_t gen = l->hdr->next_gen++;
	r = gs_create_data(l, gen, size);
	if (r < 0)
		return r;
	r = gs_alloc_index(l, &idx);
	if (r < 0) {
		char path[PATH_MAX];
		if (gs_data_path(l->store, gen, path, sizeof path) == 0)
			unlink(path);
		return r;
	}

	struct gs_slot *sl = gs_slot_at(l, idx);
	memset(sl, 0, sizeof *sl);
	sl->seq = (uint32_t)l->hdr->seq;
	sl->key = key;
	sl->mode = (uint32_t)shmflg & S_IRWXUGO;
	sl->uid = sl->cuid = geteuid();
	sl->gid = sl->cgid = getegid();
	sl->cpid = getpid();
	sl->segsz = size;
	sl->ctime = time(NULL);
	sl->gen = gen;
	for (unsigned k = 0; k < GS_NS_SLOTS; k++)
		sl->ns[k].native_id = -1;
	gs_publish(l, idx);
	return gs_id_of(l, idx);
}

int gs_shmget(struct goshm_store *s, key_t key, size_t size, int shmflg)
{
	struct gs_locked l;
	unsigned idx;
	int r = gs_lock(s, &l);
	if (r < 0)
		return r;
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
