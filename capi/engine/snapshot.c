/*
 * snapshot.c - reading the registry without the lock.
 *
 * shmget of an existing key, IPC_STAT and shmat only read the registry, and
 * they run far more often than the calls that change it.  They copy what
 * they need from the mapping each process keeps (store.c gs_view) under a
 * sequence counter, the kernel's seqlock (include/linux/seqlock.h): a
 * locked call makes hdr->wseq odd before it changes anything and even
 * again after (store.c gs_write); a reader that saw it odd, or saw it
 * change, copies again.  A copy that passes is a state the registry was
 * in between two locked calls: never a key found after its IPC_RMID
 * returned, never half a mode or a size, never the id of a destroyed
 * segment.
 *
 * On any doubt the reader says GS_SNAP_RETRY and the call takes the
 * locked path: a counter that stays odd (a writer is slow, or was killed
 * in the middle: the next locker repairs it), a slot that looks damaged
 * (the locked path reports the damage), a segment being destroyed.
 */
#include "engine.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#define GS_SNAP_TRIES 100

static int snap_begin(const struct gs_view *v, uint32_t *seq)
{
	*seq = __atomic_load_n(&v->hdr->wseq, __ATOMIC_ACQUIRE);
	return !(*seq & 1);
}

static int snap_valid(const struct gs_view *v, uint32_t seq)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&v->hdr->wseq, __ATOMIC_RELAXED) == seq;
}

static void snap_pause(int tries)
{
	if (tries > 10)
		sched_yield();
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#elif defined(__aarch64__)
	else
		__asm__ volatile("yield");
#endif
}

/* What the locked path would call damage (registry.c gs_slot_damaged)
 * is left for it to report. */
static int plausible(const struct gs_snap *s, uint64_t next_gen)
{
	const struct gs_slot *sl = &s->slot;
	return sl->seq <= GS_SEQ_MAX && sl->segsz >= GS_SHMMIN &&
	       (sl->id_base == 0 || sl->id_base == GS_ROUTED_BASE) &&
	       sl->segsz <= GS_SHMMAX && sl->gen != 0 && sl->gen < next_gen;
}

/* The live, not removed segment with key.  0, -ENOENT or GS_SNAP_RETRY. */
int gs_snap_key(struct gs_view *v, key_t key, struct gs_snap *out)
{
	for (int tries = 0; tries < GS_SNAP_TRIES; tries++) {
		uint32_t seq;
		if (!snap_begin(v, &seq)) {
			snap_pause(tries);
			continue;
		}
		unsigned hi = __atomic_load_n(&v->hdr->hi_water, __ATOMIC_RELAXED);
		int found = -1;
		if (hi > GS_SHMMNI)
			hi = GS_SHMMNI;
		int damaged = 0;
		for (unsigned i = 0; i < hi; i++) {
			if (v->keys[i] != key)
				continue;
			uint8_t st = v->state[i];
			damaged |= st > GS_DYING;
			if (st != GS_LIVE || (gs_view_slot(v, i)->mode & SHM_DEST))
				continue;
			found = (int)i;
			break;
		}
		uint64_t next_gen = v->hdr->next_gen;
		if (found >= 0) {
			memcpy(&out->slot, gs_view_slot(v, (unsigned)found), sizeof out->slot);
			out->store_id = v->hdr->store_id;
		}
		if (!snap_valid(v, seq))
			continue;
		if (damaged)
			return GS_SNAP_RETRY; /* the locked path reports it */
		if (found < 0)
			return -ENOENT;
		out->idx = (unsigned)found;
		out->id = (int)((out->slot.seq << GS_IPCMNI_SHIFT) | (out->idx + out->slot.id_base));
		return plausible(out, next_gen) ? 0 : GS_SNAP_RETRY;
	}
	return GS_SNAP_RETRY;
}

/* The live segment shmid.  0, -EINVAL (no such id) or GS_SNAP_RETRY. */
int gs_snap_id(struct gs_view *v, int shmid, struct gs_snap *out)
{
	unsigned base, idx = gs_idx_of(shmid, &base);
	if (shmid < 0 || idx >= GS_SHMMNI)
		return -EINVAL;
	for (int tries = 0; tries < GS_SNAP_TRIES; tries++) {
		uint32_t seq;
		if (!snap_begin(v, &seq)) {
			snap_pause(tries);
			continue;
		}
		uint8_t st = v->state[idx];
		uint64_t next_gen = v->hdr->next_gen;
		memcpy(&out->slot, gs_view_slot(v, idx), sizeof out->slot);
		out->store_id = v->hdr->store_id;
		if (!snap_valid(v, seq))
			continue;
		if (st == GS_FREE)
			return -EINVAL;
		if (st != GS_LIVE)
			return GS_SNAP_RETRY;
		if (out->slot.seq != ((unsigned)shmid >> GS_IPCMNI_SHIFT) || out->slot.id_base != base)
			return -EINVAL;
		out->idx = idx;
		out->id = shmid;
		return plausible(out, next_gen) ? 0 : GS_SNAP_RETRY;
	}
	return GS_SNAP_RETRY;
}

/* The state byte of idx now, and whether it still holds generation gen
 * (shmat.c checks this after its lock-free attach). */
int gs_snap_state(struct gs_view *v, unsigned idx, uint64_t gen, int *same)
{
	uint8_t st = __atomic_load_n(&v->state[idx], __ATOMIC_SEQ_CST);
	*same = __atomic_load_n(&gs_view_slot(v, idx)->gen, __ATOMIC_RELAXED) == gen;
	return st;
}
