/*
 * registry.c - the slot table: ids, keys, allocation and destruction.
 *
 * Ids are allocated exactly like the kernel's ipc_idr_alloc(): a cyclic
 * index below max(in_use * 3/2, 64), a sequence number that grows each
 * time the index wraps, and id = seq << 15 | index.  A fresh store hands
 * out the same ids as a fresh IPC namespace.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct gs_slot *gs_slot_at(struct gs_locked *l, unsigned idx)
{
	return (struct gs_slot *)(l->slots + (size_t)idx * GS_SLOT_SIZE);
}

int gs_id_of(struct gs_locked *l, unsigned idx)
{
	return (int)((gs_slot_at(l, idx)->seq << GS_IPCMNI_SHIFT) | idx);
}

static int slot_state(struct gs_locked *l, unsigned idx)
{
	uint8_t st = __atomic_load_n(&l->state[idx], __ATOMIC_ACQUIRE);
	const struct gs_slot *sl = gs_slot_at(l, idx);
	/* A live slot's numbers must be ones goshm can have written: a seq
	 * beyond GS_SEQ_MAX would make a negative id, a size beyond SHMMAX
	 * would round to 0 pages and match an empty file. */
	if (st > GS_LIVE ||
	    (st == GS_LIVE && (sl->seq > GS_SEQ_MAX || sl->segsz < GS_SHMMIN ||
	                       sl->segsz > GS_SHMMAX || sl->gen == 0))) {
		gs_warn_store(l->store, "the registry has a damaged slot", EIO,
		              "move the store away and see docs/FORMAT.md");
		return -EIO;
	}
	return st;
}

/* Segments marked for removal that nobody has attached any more are
 * destroyed when they are next looked at: the last detach may have been an
 * exit or a SIGKILL, where no code of ours ran. */
int gs_reap_if_unused(struct gs_locked *l, unsigned idx)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (!(sl->mode & SHM_DEST) || gs_nattch(l, idx) != 0)
		return 0;
	gs_destroy(l, idx);
	return 1;
}

/* Look up a live segment by the index part of an id (SHM_STAT). */
int gs_find_index(struct gs_locked *l, int index, unsigned *idx)
{
	unsigned i = (unsigned)index & (GS_IPCMNI - 1);
	if (index < 0 || i >= GS_SHMMNI)
		return -EINVAL;
	int st = slot_state(l, i);
	if (st < 0)
		return st;
	if (st != GS_LIVE || gs_reap_if_unused(l, i))
		return -EINVAL;
	*idx = i;
	return 0;
}

int gs_find_id(struct gs_locked *l, int shmid, unsigned *idx)
{
	unsigned i = (unsigned)shmid & (GS_IPCMNI - 1);
	if (shmid < 0 || i >= GS_SHMMNI)
		return -EINVAL;
	int st = slot_state(l, i);
	if (st < 0)
		return st;
	if (st != GS_LIVE || gs_slot_at(l, i)->seq != ((unsigned)shmid >> GS_IPCMNI_SHIFT))
		return -EINVAL;
	if (gs_reap_if_unused(l, i))
		return -EINVAL;
	*idx = i;
	return 0;
}

int gs_find_key(struct gs_locked *l, key_t key, unsigned *idx)
{
	for (unsigned i = 0; i < GS_SHMMNI; i++) {
		if (l->keys[i] != key)
			continue;
		int st = slot_state(l, i);
		if (st < 0)
			return st;
		if (st == GS_LIVE && !(gs_slot_at(l, i)->mode & SHM_DEST)) {
			*idx = i;
			return 0;
		}
	}
	return -ENOENT;
}

/* The state array is scanned a word at a time: a store is mostly free
 * slots, and these scans run in every shmget that creates. */
static uint64_t state_word(struct gs_locked *l, unsigned i)
{
	uint64_t w;
	memcpy(&w, l->state + i, sizeof w);
	return w;
}

int gs_next_live(struct gs_locked *l, unsigned from)
{
	unsigned i = from;
	while (i < GS_SHMMNI && (i & 7))
		if (l->state[i++] == GS_LIVE)
			return (int)i - 1;
	for (; i < GS_SHMMNI; i += 8) {
		if (!state_word(l, i))
			continue;
		for (unsigned j = i; j < i + 8; j++)
			if (l->state[j] == GS_LIVE)
				return (int)j;
	}
	return -1;
}

static unsigned in_use(struct gs_locked *l)
{
	unsigned n = 0;
	for (int i = gs_next_live(l, 0); i >= 0; i = gs_next_live(l, (unsigned)i + 1))
		n++;
	return n;
}

static int lowest_free(struct gs_locked *l, unsigned from, unsigned max)
{
	if (from > max || from >= GS_SHMMNI)
		return -1;
	if (max >= GS_SHMMNI)
		max = GS_SHMMNI - 1;
	const uint8_t *p = memchr(l->state + from, GS_FREE, max - from + 1);
	return p ? (int)(p - l->state) : -1;
}

/* ipc_idr_alloc() with idr_alloc_cyclic(), see ipc/util.c. */
int gs_alloc_index(struct gs_locked *l, unsigned *idx)
{
	struct gs_header *h = l->hdr;
	unsigned used = in_use(l);
	if (used >= GS_SHMMNI)
		return -ENOSPC;
	unsigned max_idx = used * 3 / 2;
	if (max_idx < GS_MIN_CYCLE)
		max_idx = GS_MIN_CYCLE;
	if (max_idx > GS_SHMMNI)
		max_idx = GS_SHMMNI;
	unsigned start = h->idr_next;
	int i = lowest_free(l, start, max_idx - 1);
	if (i < 0 && start > 0)
		i = lowest_free(l, 0, max_idx - 1);
	if (i < 0)
		return -ENOSPC;
	h->idr_next = (uint32_t)i + 1;
	if (i <= h->last_idx) {
		h->seq++;
		if (h->seq >= GS_SEQ_MAX)
			h->seq = 0;
	}
	h->last_idx = i;
	*idx = (unsigned)i;
	return 0;
}

/* Make a fully written slot visible: the state byte goes last, so a
 * process killed while writing the slot leaves it free. */
void gs_publish(struct gs_locked *l, unsigned idx)
{
	l->keys[idx] = gs_slot_at(l, idx)->key;
	__atomic_store_n(&l->state[idx], GS_LIVE, __ATOMIC_RELEASE);
}

void gs_free_slot(struct gs_locked *l, unsigned idx)
{
	__atomic_store_n(&l->state[idx], GS_FREE, __ATOMIC_RELEASE);
	l->keys[idx] = 0;
	memset(gs_slot_at(l, idx), 0, sizeof(struct gs_slot));
}

int gs_max_index(struct gs_locked *l)
{
	int max = -1;
	for (int i = gs_next_live(l, 0); i >= 0; i = gs_next_live(l, (unsigned)i + 1))
		max = i;
	return max;
}

/* Free the slot first, then the files: a crash in between leaves files
 * that no slot names, which gc removes; never a slot without its file. */
void gs_destroy(struct gs_locked *l, unsigned idx)
{
	char path[PATH_MAX];
	struct gs_slot copy = *gs_slot_at(l, idx);
	l->hdr->pending_gen = copy.gen; /* until its files are gone */
	gs_free_slot(l, idx);
	if (gs_data_path(l->store, copy.gen, path, sizeof path) == 0)
		unlink(path);
	for (unsigned k = 0; k < GS_NS_SLOTS; k++) {
		if (!copy.ns[k].token_gen)
			continue;
		if (gs_token_path(l->store, copy.gen, k, copy.ns[k].token_gen,
		                  path, sizeof path) == 0)
			unlink(path);
	}
	l->hdr->pending_gen = 0;
}
