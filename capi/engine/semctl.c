/*
 * semctl.c - semctl on the store's sets, after the kernel's ksys_semctl(),
 * semctl_info(), semctl_stat(), semctl_setval(), semctl_main() and
 * semctl_down() (ipc/sem.c), in their order of checks.
 *
 * arg is the union semun's pointer (buf, array, __buf) and val its int;
 * exports.c reads the variadic argument as glibc does.
 */
#include "sem.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif

static int info(struct goshm_store *s, int cmd, struct seminfo *out)
{
	struct seminfo si;
	memset(&si, 0, sizeof si);
	si.semmni = (int)GS_SEMMNI;
	si.semmns = (int)(GS_SEMMNS > INT32_MAX ? 1024000000 : GS_SEMMNS);
	si.semmsl = GS_SEMMSL;
	si.semopm = GS_SEMOPM;
	si.semvmx = GS_SEMVMX;
	si.semmnu = si.semmns;
	si.semmap = si.semmns;
	si.semume = GS_SEMOPM;
	si.semusz = GS_SEMUSZ;
	si.semaem = GS_SEMAEM;
	int max_idx = -1;
	struct gs_semreg r;
	int e = gs_semreg_lock(s, &r, 0);
	if (e < 0 && e != -ENOENT)
		return e;
	if (e == 0) {
		if (cmd == SEM_INFO) {
			si.semusz = (int)r.hdr->in_use;
			si.semaem = (int)r.hdr->used_sems;
		}
		for (unsigned i = 0; i < r.hdr->hi_water; i++)
			if (r.slots[i].state == GS_SEM_LIVE)
				max_idx = (int)(i + r.slots[i].id_base);
		gs_semreg_unlock(&r);
	} else if (cmd == SEM_INFO) {
		si.semusz = 0;
		si.semaem = 0;
	}
	if (!out)
		return -EFAULT;
	*out = si;
	return max_idx < 0 ? 0 : max_idx;
}

static int64_t now(void)
{
	return (int64_t)time(NULL);
}

static void fill_ds(struct gs_semset *m, struct semid_ds *d)
{
	memset(d, 0, sizeof *d);
	d->sem_perm.__key = m->key;
	d->sem_perm.uid = m->uid;
	d->sem_perm.gid = m->gid;
	d->sem_perm.cuid = m->cuid;
	d->sem_perm.cgid = m->cgid;
	d->sem_perm.mode = (unsigned short)m->mode;
	d->sem_perm.__seq = (unsigned short)((unsigned)m->id >> GS_IPCMNI_SHIFT);
	d->sem_otime = (time_t)m->otime;
	d->sem_ctime = (time_t)m->ctime;
	d->sem_nsems = m->nsems;
}

/* SEM_STAT and SEM_STAT_ANY take an index: the kernel's
 * sem_obtain_object() keeps its low 15 bits (ipcid_to_idx), so an index
 * of 32768 or more names the set at index & 32767, as a full id does.
 * (A negative one never gets here: semctl refuses semid < 0.) */
static int stat_index(struct goshm_store *s, int index, int cmd, struct semid_ds *buf)
{
	unsigned base;
	unsigned idx = gs_idx_of(index, &base);
	struct gs_semreg r;
	int e = gs_semreg_lock_live(s, &r, idx, base, -1);
	if (e < 0)
		return e;
	struct gs_pin p;
	e = gs_semset_of_slot(&r, idx, &p);
	gs_semreg_unlock(&r);
	if (e < 0)
		return e;
	struct gs_semset *m = p.set;
	int id = m->id;
	e = cmd == SEM_STAT && gs_sem_perms(m, S_IRUGO) < 0 ? -EACCES : 0;
	struct semid_ds d;
	if (e == 0) {
		/* As IPC_STAT: the exits of SEM_UNDO holders (otime) first. */
		gs_set_lock(m);
		if (m->nundo)
			gs_undo_reap(m, 0);
		fill_ds(m, &d);
		gs_set_unlock(m);
	}
	gs_semset_put(&p);
	if (e < 0)
		return e;
	if (!buf)
		return -EFAULT;
	*buf = d;
	return id;
}

/* ipcctl_obtain_check() for IPC_RMID and IPC_SET: owner, creator, or
 * CAP_SYS_ADMIN. */
static int owner_or_admin(const struct gs_semset *m)
{
	uid_t euid = gs_euid();
	return euid == m->uid || euid == m->cuid || gs_has_cap(CAP_SYS_ADMIN);
}

static int rmid(struct goshm_store *s, int semid)
{
	unsigned base;
	unsigned idx = gs_idx_of(semid, &base);
	struct gs_semreg r;
	struct gs_pin p;
	int e = gs_semreg_lock_live(s, &r, idx, base, semid);
	if (e < 0)
		return e;
	if ((e = gs_semset_of_slot(&r, idx, &p)) == 0) {
		if (!owner_or_admin(p.set))
			e = -EPERM;
		else
			gs_semset_destroy(&r, idx);
		gs_semset_put(&p);
	} else if (e == -EIO && gs_has_cap(CAP_SYS_ADMIN)) {
		/* A damaged set (its file missing, or not the one its slot
		 * names): its owner cannot be read, so only an administrator
		 * may remove it -- and must be able to (goshm rm --sem), or its
		 * key and id stay taken until the store is repaired. */
		gs_semset_destroy(&r, idx);
		e = 0;
	}
	gs_semreg_unlock(&r);
	return e;
}

static int ipc_set(struct gs_semset *m, const struct semid_ds *in)
{
	if (!owner_or_admin(m))
		return -EPERM;
	if (in->sem_perm.uid == (uid_t)-1 || in->sem_perm.gid == (gid_t)-1)
		return -EINVAL;
	gs_set_lock(m);
	if (m->removed) {
		gs_set_unlock(m);
		return -EIDRM;
	}
	m->uid = in->sem_perm.uid;
	m->gid = in->sem_perm.gid;
	m->mode = (m->mode & ~(uint32_t)S_IRWXUGO) | (in->sem_perm.mode & S_IRWXUGO);
	m->ctime = now();
	gs_set_unlock(m);
	return 0;
}

/* The set's lock, on a set not removed meanwhile (-EIDRM, unlocked),
 * with the adjustments of processes that died applied first, as the
 * kernel applied them at their exit. */
static int lock_current(struct gs_semset *m)
{
	gs_set_lock(m);
	if (m->removed) {
		gs_set_unlock(m);
		return -EIDRM;
	}
	if (m->nundo)
		gs_undo_reap(m, 0);
	return 0;
}

static int setval(struct gs_semset *m, int semnum, int val)
{
	int e;
	if (semnum < 0 || (unsigned)semnum >= m->nsems)
		return -EINVAL;
	if (gs_sem_perms(m, S_IWUGO) < 0)
		return -EACCES;
	e = lock_current(m);
	if (e < 0)
		return e;
	gs_undo_clear_sem(m, semnum);
	gs_j_begin(m);
	gs_j_put(m, &gs_sems(m)[semnum].semval, val);
	gs_j_put(m, &gs_sems(m)[semnum].sempid, gs_pid());
	gs_j_commit(m);
	m->ctime = now();
	gs_sem_update_queue(m);
	gs_set_unlock(m);
	return 0;
}

static int main_cmds(struct gs_semset *m, int semnum, int cmd, void *arg)
{
	int e;
	unsigned nsems = m->nsems;
	if (gs_sem_perms(m, cmd == SETALL ? S_IWUGO : S_IRUGO) < 0)
		return -EACCES;
	unsigned short *arr = arg;
	if (cmd == GETALL || cmd == SETALL) {
		if (!arr)
			return -EFAULT;
		if (cmd == SETALL)
			for (unsigned i = 0; i < nsems; i++)
				if (arr[i] > GS_SEMVMX)
					return -ERANGE;
		e = lock_current(m);
		if (e < 0)
			return e;
		if (cmd == GETALL) {
			for (unsigned i = 0; i < nsems; i++)
				arr[i] = (unsigned short)gs_sems(m)[i].semval;
		} else {
			gs_undo_clear_sem(m, -1);
			int32_t pid = gs_pid();
			gs_j_begin(m);
			for (unsigned i = 0; i < nsems; i++) {
				gs_j_put(m, &gs_sems(m)[i].semval, arr[i]);
				gs_j_put(m, &gs_sems(m)[i].sempid, pid);
			}
			gs_j_commit(m);
			m->ctime = now();
			gs_sem_update_queue(m);
		}
		gs_set_unlock(m);
		return 0;
	}
	if (semnum < 0 || (unsigned)semnum >= nsems)
		return -EINVAL;
	e = lock_current(m);
	if (e < 0)
		return e;
	struct gs_sem *sem = &gs_sems(m)[semnum];
	switch (cmd) {
	case GETVAL:
		e = sem->semval;
		break;
	case GETPID:
		e = sem->sempid;
		break;
	case GETNCNT:
		e = gs_sem_count(m, (unsigned)semnum, 0);
		break;
	default: /* GETZCNT */
		e = gs_sem_count(m, (unsigned)semnum, 1);
		break;
	}
	gs_set_unlock(m);
	return e;
}

static int ipc_stat(struct gs_semset *m, void *arg)
{
	if (gs_sem_perms(m, S_IRUGO) < 0)
		return -EACCES;
	struct semid_ds d;
	gs_set_lock(m);
	if (m->nundo)
		gs_undo_reap(m, 0);
	fill_ds(m, &d);
	gs_set_unlock(m);
	if (!arg)
		return -EFAULT;
	memcpy(arg, &d, sizeof d);
	return 0;
}

/* The commands on one set (all but the info, index and IPC_RMID ones)
 * run with its mapping pinned. */
int gs_semctl(struct goshm_store *s, int semid, int semnum, int cmd, void *arg, int val)
{
	if (semid < 0)
		return -EINVAL;
	switch (cmd) {
	case IPC_INFO:
	case SEM_INFO:
		return info(s, cmd, arg);
	case SEM_STAT:
	case SEM_STAT_ANY:
		return stat_index(s, semid, cmd, arg);
	case IPC_RMID:
		return rmid(s, semid);
	case IPC_STAT:
	case GETALL:
	case GETVAL:
	case GETPID:
	case GETNCNT:
	case GETZCNT:
	case SETALL:
	case SETVAL:
	case IPC_SET:
		break;
	default:
		return -EINVAL;
	}
	if (cmd == SETVAL && (val > GS_SEMVMX || val < 0))
		return -ERANGE;
	if (cmd == IPC_SET && !arg)
		return -EFAULT;
	struct gs_pin p;
	int e = gs_semset_get(s, semid, &p);
	if (e < 0)
		return e;
	if (cmd == IPC_STAT)
		e = ipc_stat(p.set, arg);
	else if (cmd == SETVAL)
		e = setval(p.set, semnum, val);
	else if (cmd == IPC_SET)
		e = ipc_set(p.set, arg);
	else
		e = main_cmds(p.set, semnum, cmd, arg);
	gs_semset_put(&p);
	return e;
}
