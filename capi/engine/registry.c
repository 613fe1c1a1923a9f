/*
 * registry.c - the slot table under the lock: ids, keys, allocation,
 * removal and destruction.
 *
 * Ids are allocated exactly like the kernel's ipc_idr_alloc(): a cyclic
 * index below max(in_use * 3/2, 64), a sequence number that grows each
 * time the index wraps, and id = seq << 15 | index.  A fresh store hands
 * out the same ids as a fresh IPC namespace.
 *
 * Every function here runs with the registry locked (gs_lock) and opens a
 * write section (gs_write) before it changes anything, so that lock-free
 * readers (snapshot.c) never act on a half-made change.
 */
#include "engine.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

struct gs_slot *gs_slot_at(struct gs_locked *l, unsigned idx)
{
	return (struct gs_slot *)(void *)(l->slots + (size_t)idx * GS_SLOT_SIZE);
}

int gs_id_of(struct gs_locked *l, unsigned idx)
{
	const struct gs_slot *sl = gs_slot_at(l, idx);
	return (int)((sl->seq << GS_IPCMNI_SHIFT) | (idx + sl->id_base));
}

/* A live slot's numbers must be ones goshm can have written: a seq beyond
 * GS_SEQ_MAX would make a negative id, a size beyond SHMMAX would round to
 * 0 pages and match an empty file, a gen at or above next_gen could name
 * the file of a segment made later. */
int gs_slot_damaged(struct gs_locked *l, unsigned idx)
{
	uint8_t st = __atomic_load_n(&l->state[idx], __ATOMIC_ACQUIRE);
	const struct gs_slot *sl = gs_slot_at(l, idx);
	if (st > GS_DYING ||
	    (st != GS_FREE && (sl->seq > GS_SEQ_MAX || sl->segsz < GS_SHMMIN ||
	                       (sl->id_base != 0 && sl->id_base != GS_ROUTED_BASE) ||
	                       sl->segsz > GS_SHMMAX || sl->gen == 0 ||
	                       sl->gen >= l->hdr->next_gen))) {
		gs_warn_store(l->store, "the registry has a damaged slot", EIO,
		              "move the store away and see docs/FORMAT.md");
		return -EIO;
	}
	return st;
}

/* Look up a live segment by the index part of an id (SHM_STAT). */
int gs_find_index(struct gs_locked *l, int index, unsigned *idx)
{
	unsigned base, i = gs_idx_of(index, &base);
	if (index < 0 || i >= GS_SHMMNI)
		return -EINVAL;
	int st = gs_slot_damaged(l, i);
	if (st < 0)
		return st;
	if (st != GS_LIVE || gs_slot_at(l, i)->id_base != base || gs_destroy_if_unused(l, i))
		return -EINVAL;
	*idx = i;
	return 0;
}

int gs_find_id(struct gs_locked *l, int shmid, unsigned *idx)
{
	unsigned base, i = gs_idx_of(shmid, &base);
	if (shmid < 0 || i >= GS_SHMMNI)
		return -EINVAL;
	int st = gs_slot_damaged(l, i);
	if (st < 0)
		return st;
	const struct gs_slot *sl = gs_slot_at(l, i);
	if (st != GS_LIVE || sl->seq != ((unsigned)shmid >> GS_IPCMNI_SHIFT) || sl->id_base != base)
		return -EINVAL;
	/* The last attach may have ended in an exit or a SIGKILL, where no
	 * code of ours ran: a removed segment nobody attaches is gone. */
	if (gs_destroy_if_unused(l, i))
		return -EINVAL;
	*idx = i;
	return 0;
}

int gs_find_key(struct gs_locked *l, key_t key, unsigned *idx)
{
	unsigned hi = l->hdr->hi_water;
	for (unsigned i = 0; i < hi; i++) {
		if (l->keys[i] != key)
			continue;
		int st = gs_slot_damaged(l, i);
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

/* The first live slot in [from, end), or -1. */
static int next_live_in(struct gs_locked *l, unsigned from, unsigned end)
{
	unsigned i = from;
	if (end > GS_SHMMNI)
		end = GS_SHMMNI;
	while (i < end && (i & 7))
		if (l->state[i++] == GS_LIVE)
			return (int)i - 1;
	for (; i < end; i += 8) {
		if (!state_word(l, i))
			continue;
		for (unsigned j = i; j < i + 8 && j < end; j++)
			if (l->state[j] == GS_LIVE)
				return (int)j;
	}
	return -1;
}

/* Every slot, whatever hi_water says: for gc, sync and repair, which must
 * also find what a damaged header would hide. */
int gs_next_live(struct gs_locked *l, unsigned from)
{
	return next_live_in(l, from, GS_SHMMNI);
}

/* Below hi_water only, where gs_publish puts every live slot (repair.c
 * recomputes it): the scans every creation makes stop there instead of
 * reading the 4096 states of a mostly empty store. */
int gs_next_live_used(struct gs_locked *l, unsigned from)
{
	return next_live_in(l, from, l->hdr->hi_water);
}

static unsigned in_use(struct gs_locked *l)
{
	unsigned n = 0;
	for (int i = gs_next_live_used(l, 0); i >= 0; i = gs_next_live_used(l, (unsigned)i + 1))
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
	gs_write(l);
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
	gs_write(l);
	l->keys[idx] = gs_slot_at(l, idx)->key;
	if (l->hdr->hi_water < idx + 1)
		l->hdr->hi_water = idx + 1;
	__atomic_store_n(&l->state[idx], GS_LIVE, __ATOMIC_RELEASE);
}

static void free_slot(struct gs_locked *l, unsigned idx)
{
	gs_write(l);
	__atomic_store_n(&l->state[idx], GS_FREE, __ATOMIC_RELEASE);
	l->keys[idx] = 0;
	gs_slot_wipe(gs_slot_at(l, idx));
}

/* The highest index in use, as SHM_STAT takes it (with its base). */
int gs_max_index(struct gs_locked *l)
{
	int max = -1;
	for (int i = gs_next_live(l, 0); i >= 0; i = gs_next_live(l, (unsigned)i + 1)) {
		int index = i + (int)gs_slot_at(l, (unsigned)i)->id_base;
		if (index > max)
			max = index;
	}
	return max;
}

/* Apply IPC_SET's record (shmctl.c set_perm), also one that a killed
 * holder left half applied. */
void gs_apply_set(struct gs_locked *l)
{
	struct gs_redo_set *redo = &l->hdr->redo_set;
	unsigned idx = __atomic_load_n(&redo->idx_plus1, __ATOMIC_ACQUIRE);
	if (!idx--)
		return;
	gs_write(l);
	if (idx < GS_SHMMNI && l->state[idx] == GS_LIVE) {
		struct gs_slot *sl = gs_slot_at(l, idx);
		sl->uid = redo->uid;
		sl->gid = redo->gid;
		sl->mode = (sl->mode & ~(uint32_t)S_IRWXUGO) | (redo->mode & S_IRWXUGO);
		sl->ctime = redo->ctime;
	}
	__atomic_store_n(&redo->idx_plus1, 0, __ATOMIC_RELEASE);
}

/* IPC_RMID: out of the key space at once; the id lives until the last
 * detach, and the store keeps count of such segments so that creation
 * can reap the ones whose last attach ended without a shmdt. */
void gs_mark_dest(struct gs_locked *l, unsigned idx)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	gs_write(l);
	if (!(sl->mode & SHM_DEST))
		l->hdr->dest_count++;
	sl->mode |= SHM_DEST;
	sl->key = IPC_PRIVATE;
	l->keys[idx] = IPC_PRIVATE;
}

/* Free the slot first, then the files: a crash in between leaves files
 * that no slot names, which the next locker (pending_gen) or gc removes;
 * never a slot without its file. */
static void destroy(struct gs_locked *l, unsigned idx)
{
	struct gs_name name;
	struct gs_slot copy = *gs_slot_at(l, idx);
	struct gs_segkey key = {l->store, l->hdr->store_id, gs_id_of(l, idx), copy.gen};
	gs_write(l);
	l->hdr->pending_gen = copy.gen; /* until its files are gone */
	if (l->hdr->dest_count)
		l->hdr->dest_count--;
	free_slot(l, idx);
	gs_presence_release(l, &copy);
	gs_write_done(l); /* readers see it gone; pending_gen covers the files */
	gs_data_name(copy.gen, &name);
	gs_unlink_in(l->store, name.s);
	for (unsigned k = 0; k < GS_NS_SLOTS; k++)
		if (copy.ns[k].token_gen)
			gs_token_unlink(l, &copy, k);
	gs_write(l);
	l->hdr->pending_gen = 0;
	gs_table_forget_segment(&key);
}

/*
 * Destroy segment idx if it is removed (SHM_DEST) and nobody attaches it
 * any more; returns whether it did.
 *
 * A lock-free shmat (shmat.c) attaches the presence segment first and
 * then checks the state; here the state becomes DYING first and nattch is
 * read after.  With both orders sequentially consistent, either the
 * attach is counted here, or the attacher sees DYING and waits for the
 * verdict: the segment is never destroyed under an attach.
 */
int gs_destroy_if_unused(struct gs_locked *l, unsigned idx)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (!(sl->mode & SHM_DEST))
		return 0;
	gs_write(l);
	l->hdr->pending_gen = sl->gen; /* a kill here: recover() decides again */
	__atomic_store_n(&l->state[idx], GS_DYING, __ATOMIC_SEQ_CST);
	if (gs_nattch(l, idx) != 0) {
		__atomic_store_n(&l->state[idx], GS_LIVE, __ATOMIC_SEQ_CST);
		l->hdr->pending_gen = 0;
		return 0;
	}
	destroy(l, idx);
	return 1;
}

/* Destroy every removed segment that nobody attaches any more: the
 * IPC_RMID-then-exit idiom leaves them behind, and they hold slots, disk
 * space and the ids the kernel would reuse.  Free when none is removed. */
void gs_reap_all(struct gs_locked *l)
{
	if (!l->hdr->dest_count)
		return;
	unsigned hi = l->hdr->hi_water;
	for (unsigned i = 0; i < hi; i++)
		if (l->state[i] == GS_LIVE && (gs_slot_at(l, i)->mode & SHM_DEST))
			gs_destroy_if_unused(l, i);
}
