/*
 * shmctl.c - control operations, in the order of checks of the kernel's
 * ksys_shmctl() and its helpers (ipc/shm.c).  Results are built in a
 * zeroed temporary and copied to the caller only on success.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* struct shmid_ds from a slot (a copy is fine), nattch and the times;
 * native is the record of the presence segment of the caller's namespace
 * slot k, or NULL. */
static void fill_from(const struct gs_slot *sl, const struct shmid_ds *native, int k,
                      unsigned long nattch, struct shmid_ds *d)
{
	int64_t atime, dtime;
	int32_t lpid;
	memset(d, 0, sizeof *d);
	d->shm_perm.__key = sl->key;
	d->shm_perm.uid = sl->uid;
	d->shm_perm.gid = sl->gid;
	d->shm_perm.cuid = sl->cuid;
	d->shm_perm.cgid = sl->cgid;
	d->shm_perm.mode = sl->mode;
	d->shm_perm.__seq = (unsigned short)sl->seq;
	d->shm_segsz = sl->segsz;
	gs_merge_times(sl, native, k, &atime, &dtime, &lpid);
	d->shm_atime = atime;
	d->shm_dtime = dtime;
	d->shm_ctime = sl->ctime;
	d->shm_cpid = sl->cpid;
	d->shm_lpid = lpid;
	d->shm_nattch = nattch;
}

static void fill_stat(struct gs_locked *l, unsigned idx, struct shmid_ds *d)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	unsigned long nattch = gs_nattch(l, idx);
	struct shmid_ds native;
	int k = gs_my_ns_slot(sl);
	fill_from(sl, gs_native_record(sl, k, &native) == 0 ? &native : NULL, k, nattch, d);
}

/*
 * IPC_STAT without the lock: a snapshot of the slot and one IPC_STAT of
 * our presence segment, which is the whole count when no other namespace
 * has attached the segment.  Other namespaces need their tokens probed,
 * and a removed segment with no attach must be destroyed: locked path.
 * d is written last, and only on success.
 */
static int stat_fast(struct goshm_store *s, int shmid, struct shmid_ds *d)
{
	struct gs_view v;
	struct gs_snap sn;
	struct shmid_ds native;
	int r = gs_view(s, &v);
	if (r != 0)
		return r == -ENOENT ? -EINVAL : GS_SNAP_RETRY;
	r = gs_snap_id(&v, shmid, &sn);
	if (r != 0)
		return r;
	int alone, k = gs_my_ns_slot_alone(&sn.slot, &alone);
	if (!alone || gs_ipcperms_fast(&sn.slot, S_IRUGO) != 0)
		return GS_SNAP_RETRY;
	int have = gs_native_record(&sn.slot, k, &native) == 0;
	unsigned long nattch = have ? native.shm_nattch : 0;
	if ((sn.slot.mode & SHM_DEST) && nattch == 0)
		return GS_SNAP_RETRY;
	fill_from(&sn.slot, have ? &native : NULL, k, nattch, d);
	return 0;
}

static void fill_limits(struct shminfo *out)
{
	memset(out, 0, sizeof *out);
	out->shmmax = GS_SHMMAX;
	out->shmmin = GS_SHMMIN;
	out->shmmni = GS_SHMMNI;
	out->shmseg = GS_SHMMNI;
	out->shmall = GS_SHMALL;
}

/* IPC_INFO, SHM_INFO and SHM_STAT look at every segment: destroy first
 * those whose last attach ended without a detach. */
static int ipc_info(struct gs_locked *l, struct shminfo *out)
{
	gs_reap_all(l);
	fill_limits(out);
	int max = gs_max_index(l);
	return max < 0 ? 0 : max;
}

static int shm_info(struct gs_locked *l, struct shm_info *out)
{
	uint64_t page = (uint64_t)gs_page_size();
	struct gs_name name;
	struct stat st;
	gs_reap_all(l);
	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < GS_SHMMNI; i++) {
		if (l->state[i] != GS_LIVE)
			continue;
		struct gs_slot *sl = gs_slot_at(l, i);
		out->used_ids++;
		out->shm_tot += (sl->segsz + page - 1) / page;
		/* Resident means "has its blocks on disk" for a file-backed
		 * segment; nothing of it is ever in swap. */
		gs_data_name(sl->gen, &name);
		int fd = gs_open_in(l->store, GS_SEGMENT_DIR, name.s, O_PATH, 0);
		if (fd >= 0 && fstat(fd, &st) == 0)
			out->shm_rss += (unsigned long)st.st_blocks * 512 / page;
		if (fd >= 0)
			close(fd);
	}
	int max = gs_max_index(l);
	return max < 0 ? 0 : max;
}

static int set_perm(struct gs_locked *l, int shmid, const struct shmid_ds *in)
{
	unsigned idx;
	int r = gs_find_id(l, shmid, &idx);
	if (r < 0)
		return r;
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (!gs_is_owner_or_cap(sl, CAP_SYS_ADMIN))
		return -EPERM;
	if (in->shm_perm.uid == (uid_t)-1 || in->shm_perm.gid == (gid_t)-1)
		return -EINVAL;
	struct gs_redo_set *redo = &l->hdr->redo_set;
	gs_write(l);
	redo->uid = in->shm_perm.uid;
	redo->gid = in->shm_perm.gid;
	redo->mode = (sl->mode & ~(uint32_t)S_IRWXUGO) | (in->shm_perm.mode & S_IRWXUGO);
	redo->ctime = time(NULL);
	__atomic_store_n(&redo->idx_plus1, idx + 1, __ATOMIC_RELEASE);
	gs_apply_set(l);
	return 0;
}

static int remove_id(struct gs_locked *l, int shmid)
{
	unsigned idx;
	int r = gs_find_id(l, shmid, &idx);
	if (r < 0)
		return r;
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (!gs_is_owner_or_cap(sl, CAP_SYS_ADMIN))
		return -EPERM;
	gs_mark_dest(l, idx);
	gs_destroy_if_unused(l, idx);
	return 0;
}

/* shmctl_do_lock(): the SHM_LOCKED bit.  Pages of a file-backed segment
 * are not pinned (docs/DIFFERENCES.md).  A segment made with SHM_HUGETLB
 * passes the permission checks and is left as it is, as the kernel leaves
 * a huge page segment. */
static int lock_segment(struct gs_locked *l, int shmid, int cmd)
{
	unsigned idx;
	struct rlimit rl;
	int r = gs_find_id(l, shmid, &idx);
	if (r < 0)
		return r;
	struct gs_slot *sl = gs_slot_at(l, idx);
	int cap = gs_has_cap(CAP_IPC_LOCK);
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		rl.rlim_cur = 0;
	if (!cap) {
		uid_t euid = gs_euid();
		if (euid != sl->uid && euid != sl->cuid)
			return -EPERM;
		if (cmd == SHM_LOCK && rl.rlim_cur == 0)
			return -EPERM;
	}
	if (sl->flags & GS_SLOT_HUGETLB)
		return 0;
	gs_write(l);
	if (cmd == SHM_UNLOCK) {
		sl->mode &= ~(uint32_t)SHM_LOCKED;
		return 0;
	}
	if (!(sl->mode & SHM_LOCKED)) {
		/* user_shm_lock(): the segment must fit under RLIMIT_MEMLOCK. */
		if (!cap && rl.rlim_cur != RLIM_INFINITY &&
		    gs_round_pages(sl->segsz) > rl.rlim_cur)
			return -ENOMEM;
		sl->mode |= SHM_LOCKED;
	}
	return 0;
}

static int stat_id(struct gs_locked *l, int shmid, int cmd, struct shmid_ds *d)
{
	unsigned idx;
	int r = cmd == IPC_STAT ? gs_find_id(l, shmid, &idx)
	                        : gs_find_index(l, shmid, &idx);
	if (r < 0)
		return r;
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (cmd != SHM_STAT_ANY && gs_ipcperms(sl, S_IRUGO) < 0)
		return -EACCES;
	fill_stat(l, idx, d);
	return cmd == IPC_STAT ? 0 : gs_id_of(l, idx);
}

/* A store that does not exist yet holds no segment: the calls answer as
 * for an empty one, without creating it. */
static int no_store(int cmd, struct shmid_ds *buf)
{
	struct shminfo ipc;
	if (cmd == IPC_INFO || cmd == SHM_INFO) {
		if (!buf)
			return -EFAULT;
		if (cmd == IPC_INFO) {
			fill_limits(&ipc);
			memcpy(buf, &ipc, sizeof ipc);
		} else {
			memset(buf, 0, sizeof(struct shm_info));
		}
		return 0;
	}
	return -EINVAL;
}

int gs_shmctl(struct goshm_store *s, int shmid, int cmd, struct shmid_ds *buf)
{
	struct gs_locked l;
	struct shmid_ds tmp;
	union {
		struct shminfo ipc;
		struct shm_info shm;
	} info;
	int r;

	if (cmd < 0 || shmid < 0)
		return -EINVAL;
	switch (cmd) {
	case IPC_INFO:
	case SHM_INFO:
	case IPC_STAT:
	case SHM_STAT:
	case SHM_STAT_ANY:
	case IPC_RMID:
	case SHM_LOCK:
	case SHM_UNLOCK:
		break;
	case IPC_SET:
		/* The kernel copies the buffer in before it looks anything up. */
		if (!buf)
			return -EFAULT;
		tmp = *buf;
		break;
	default:
		return -EINVAL;
	}

	if (cmd == IPC_STAT && buf) {
		/* Into buf itself: stat_fast writes it only once it succeeded. */
		r = stat_fast(s, shmid, buf);
		if (r != GS_SNAP_RETRY)
			return r;
	}
	r = gs_lock(s, &l, GS_EXISTING);
	if (r == -ENOENT)
		return no_store(cmd, buf);
	if (r < 0)
		return r;
	switch (cmd) {
	case IPC_INFO:
		r = ipc_info(&l, &info.ipc);
		break;
	case SHM_INFO:
		r = shm_info(&l, &info.shm);
		break;
	case IPC_STAT:
	case SHM_STAT:
	case SHM_STAT_ANY:
		r = stat_id(&l, shmid, cmd, &tmp);
		break;
	case IPC_SET:
		r = set_perm(&l, shmid, &tmp);
		break;
	case IPC_RMID:
		r = remove_id(&l, shmid);
		break;
	default:
		r = lock_segment(&l, shmid, cmd);
		break;
	}
	gs_unlock(&l);
	if (r < 0)
		return r;

	/* Copy out last, as the kernel's copy_to_user() comes last. */
	switch (cmd) {
	case IPC_INFO:
		if (!buf)
			return -EFAULT;
		memcpy(buf, &info.ipc, sizeof info.ipc);
		break;
	case SHM_INFO:
		if (!buf)
			return -EFAULT;
		memcpy(buf, &info.shm, sizeof info.shm);
		break;
	case IPC_STAT:
	case SHM_STAT:
	case SHM_STAT_ANY:
		if (!buf)
			return -EFAULT;
		*buf = tmp;
		break;
	}
	return r;
}
