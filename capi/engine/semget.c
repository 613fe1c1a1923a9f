/*
 * semget.c - find or create a semaphore set, in the order of checks of
 * the kernel's ksys_semget(), ipcget() and newary() (ipc/sem.c,
 * ipc/util.c).
 */
#include "sem.h"

#include <errno.h>
#include <linux/capability.h>
#include <unistd.h>

/* ipcperms() on a set.  Modes that grant the request to every class need
 * no credentials; the owner is recognised by the thread's euid (creds.c:
 * no system call); the rest (groups, capabilities) asks the kernel. */
int gs_sem_perms(const struct gs_semset *s, int flag)
{
	int requested = ((flag >> 6) | (flag >> 3) | flag) & 7;
	uint32_t mode = __atomic_load_n(&s->mode, __ATOMIC_RELAXED);
	if (!(requested & ~(int)(mode >> 6) & 7) && !(requested & ~(int)(mode >> 3) & 7) &&
	    !(requested & ~(int)mode & 7))
		return 0;
	uint32_t euid = gs_euid();
	if ((euid == s->uid || euid == s->cuid) && !(requested & ~(int)(mode >> 6) & 7))
		return 0;
	return gs_ipcperms_ids(s->uid, s->gid, s->cuid, s->cgid, mode, flag);
}

/* ipc_idr_alloc(): the lowest free index from where the last allocation
 * stopped, below max(in_use * 3/2, 64); the sequence number grows when
 * the index wraps. */
static int alloc_index(struct gs_semreg *r, unsigned *idx)
{
	struct gs_sem_header *h = r->hdr;
	if (h->in_use >= GS_SEMMNI)
		return -ENOSPC;
	unsigned max_idx = h->in_use * 3 / 2;
	if (max_idx < GS_MIN_CYCLE)
		max_idx = GS_MIN_CYCLE;
	if (max_idx > GS_SEMMNI)
		max_idx = GS_SEMMNI;
	int found = -1;
	for (unsigned i = h->idr_next; i < max_idx && found < 0; i++)
		if (r->slots[i].state == GS_SEM_FREE)
			found = (int)i;
	for (unsigned i = 0; i < h->idr_next && i < max_idx && found < 0; i++)
		if (r->slots[i].state == GS_SEM_FREE)
			found = (int)i;
	if (found < 0)
		return -ENOSPC;
	h->idr_next = (uint32_t)found + 1;
	if (found <= h->last_idx) {
		h->seq++;
		if (h->seq >= GS_SEQ_MAX)
			h->seq = 0;
	}
	h->last_idx = found;
	*idx = (unsigned)found;
	return 0;
}

static int newary(struct gs_semreg *r, key_t key, int nsems, int semflg)
{
	if (!nsems)
		return -EINVAL;
	if (r->hdr->used_sems + (uint64_t)nsems > GS_SEMMNS)
		return -ENOSPC;
	unsigned idx;
	int e = alloc_index(r, &idx);
	if (e < 0)
		return e;
	int id;
	e = gs_semset_create(r, idx, key, nsems, semflg, &id);
	return e < 0 ? e : id;
}

int gs_semget(struct goshm_store *s, key_t key, int nsems, int semflg)
{
	if (nsems < 0 || nsems > GS_SEMMSL)
		return -EINVAL;
	struct gs_semreg r;
	int create = key == IPC_PRIVATE || (semflg & IPC_CREAT);
	int e = gs_semreg_lock(s, &r, create);
	if (e == -ENOENT)
		return -ENOENT;
	if (e < 0)
		return e == -EACCES ? -EPERM : e;
	if (key == IPC_PRIVATE) {
		e = newary(&r, key, nsems, semflg);
		gs_semreg_unlock(&r);
		return e;
	}
	int found = -1;
	for (unsigned i = 0; i < r.hdr->hi_water && found < 0; i++)
		if (r.slots[i].state == GS_SEM_LIVE && r.slots[i].key == key)
			found = (int)i;
	if (found < 0) {
		e = (semflg & IPC_CREAT) ? newary(&r, key, nsems, semflg) : -ENOENT;
	} else if ((semflg & IPC_CREAT) && (semflg & IPC_EXCL)) {
		e = -EEXIST;
	} else if ((uint32_t)nsems > r.slots[found].nsems) {
		e = -EINVAL;
	} else {
		struct gs_pin p;
		e = gs_semset_of_slot(&r, (unsigned)found, &p);
		if (e == 0) {
			e = gs_sem_perms(p.set, semflg) < 0 ? -EACCES : p.set->id;
			gs_semset_put(&p);
		} else if (e == -EIO && gs_has_cap(CAP_IPC_OWNER)) {
			/* A damaged set (its file missing, or not the one the
			 * slot names): the permission bits are in the file, but a
			 * caller the kernel would not ask them of gets the id the
			 * slot gives -- so that goshm rm --sem-key can remove it
			 * (semctl.c rmid); every use of the set still fails. */
			e = gs_sem_id_of(&r.slots[found], (unsigned)found);
		}
	}
	gs_semreg_unlock(&r);
	return e;
}
