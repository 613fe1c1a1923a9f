/*
 * shmat.c - map a segment's data file, in the order of checks of the
 * kernel's do_shmat() (ipc/shm.c).
 */
#include "engine.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Attaches that a SHM_REMAP attach replaced wholly are gone, as the
 * kernel's would be: uncount them, and record the detach as its
 * shm_close() does (shm_dtime, shm_lpid) when the segment is in the store
 * we hold locked.  A removed segment left unattached is destroyed at its
 * next lookup (gs_reap_if_unused), not here: it may be the one we attach. */
static void drop_replaced(struct gs_locked *l, uintptr_t lo, uintptr_t hi)
{
	struct gs_attach old;
	while (gs_table_take_covered(lo, hi, &old) == 0) {
		gs_presence_detach(old.presence);
		if (old.token && !gs_table_token_used(old.token))
			munmap(old.token, (size_t)gs_page_size());
		unsigned idx = (unsigned)old.shmid & (GS_IPCMNI - 1);
		if (old.store != l->store || idx >= GS_SHMMNI || l->state[idx] != GS_LIVE ||
		    gs_slot_at(l, idx)->gen != old.gen)
			continue;
		gs_slot_at(l, idx)->dtime = time(NULL);
		gs_slot_at(l, idx)->lpid = getpid();
		gs_publish_local(l, idx);
	}
}

/* Whether fd's file system is mounted noexec, where mmap(PROT_EXEC) gives
 * EPERM: an EPERM that would read as "below mmap_min_addr". */
static int on_noexec_mount(int fd)
{
	struct statvfs sv;
	return fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_NOEXEC);
}

/* A caller-given address (even one SHM_RND rounded down to 0) is fixed. */
static long map_data(int fd, int fixed, uintptr_t *addr, size_t len, int prot,
                     int shmflg)
{
	int flags = MAP_SHARED;
	if (fixed)
		flags |= (shmflg & SHM_REMAP) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
	void *p = mmap((void *)*addr, len, prot, flags, fd, 0);
	if (p == MAP_FAILED) {
		switch (errno) {
		case EEXIST: return -EINVAL; /* find_vma_intersection() */
		case ENOMEM: return -ENOMEM;
		case EPERM:
			/* PROT_EXEC on a noexec mount: the documented EACCES. */
			if ((prot & PROT_EXEC) && on_noexec_mount(fd))
				return -EACCES;
			return -EPERM; /* below mmap_min_addr, as the kernel */
		case EACCES: return -EACCES;
		default: return -EINVAL;
		}
	}
	if (fixed && (uintptr_t)p != *addr) {
		/* A kernel older than 4.17 took NOREPLACE as a hint. */
		munmap(p, len);
		return -EINVAL;
	}
	*addr = (uintptr_t)p;
	return 0;
}

/*
 * How the kernel names the mapping's file, for shmdt (vma.c).  A file
 * system on a block device maps the file it opened: the name is the
 * file's own device and inode.  On the others (device major 0: overlayfs,
 * whose mappings are of the file underneath, FUSE, NFS, btrfs
 * subvolumes...) the kernel is asked.
 */
static void identify(struct gs_attach *a, const struct stat *st)
{
	struct gs_vma v;
	if (major(st->st_dev) != 0) {
		a->vma_ino = st->st_ino;
		a->vma_dev_major = major(st->st_dev);
		a->vma_dev_minor = minor(st->st_dev);
	} else if (gs_vma_identify(a->addr, &v) == 0) {
		a->vma_ino = v.ino;
		a->vma_dev_major = v.dev_major;
		a->vma_dev_minor = v.dev_minor;
	}
}

static long attach_locked(struct gs_locked *l, int shmid, int fixed,
                          uintptr_t addr, int shmflg, uintptr_t *out)
{
	unsigned idx;
	int rdonly = (shmflg & SHM_RDONLY) != 0;
	int prot = rdonly ? PROT_READ : PROT_READ | PROT_WRITE;
	int acc = rdonly ? S_IRUGO : S_IRUGO | S_IWUGO;
	if (shmflg & SHM_EXEC) {
		prot |= PROT_EXEC;
		acc |= S_IXUGO;
	}
	long r = gs_find_id(l, shmid, &idx);
	if (r < 0)
		return r;
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (gs_ipcperms(sl, acc) < 0)
		return -EACCES;

	/* do_shmat() checks the size asked for, not whole pages; an address
	 * that passes but cannot be mapped is mmap's ENOMEM. */
	size_t len = gs_round_pages(sl->segsz);
	if (addr && !(shmflg & SHM_REMAP) && addr + sl->segsz < addr)
		return -EINVAL;
	struct stat st;
	int fd = gs_open_data(l, idx, rdonly, &st);
	if (fd < 0)
		return fd;
	r = map_data(fd, fixed, &addr, len, prot, shmflg);
	close(fd);
	if (r < 0)
		return r;
	if (shmflg & SHM_REMAP)
		drop_replaced(l, addr, addr + len);

	struct gs_attach a;
	memset(&a, 0, sizeof a);
	a.addr = addr;
	a.len = len;
	a.store = l->store;
	a.shmid = shmid;
	a.gen = sl->gen;
	identify(&a, &st);
	int nsk;
	r = gs_presence_attach(l, idx, &a.presence, &nsk);
	if (r == 0) {
		r = gs_token_map(l, idx, nsk, &a.token);
		if (r == 0) {
			r = gs_table_add(&a);
			if (r < 0 && !gs_table_token_used(a.token))
				munmap(a.token, (size_t)gs_page_size());
		}
		if (r < 0)
			gs_presence_detach(a.presence);
	}
	if (r < 0) {
		munmap((void *)addr, len);
		return r;
	}
	sl->atime = time(NULL);
	sl->lpid = getpid();
	gs_publish_local(l, idx);
	*out = addr;
	return 0;
}

long gs_shmat(struct goshm_store *s, int shmid, const void *shmaddr, int shmflg,
              uintptr_t *out)
{
	uintptr_t addr = (uintptr_t)shmaddr;
	uintptr_t shmlba = (uintptr_t)gs_page_size(); /* SHMLBA on x86 */
	struct gs_locked l;

	if (shmid < 0)
		return -EINVAL;
	if (addr) {
		if (addr & (shmlba - 1)) {
			if (!(shmflg & SHM_RND))
				return -EINVAL;
			addr &= ~(shmlba - 1);
			if (!addr && (shmflg & SHM_REMAP))
				return -EINVAL;
		}
	} else if (shmflg & SHM_REMAP) {
		return -EINVAL;
	}
	long r = gs_lock(s, &l, GS_EXISTING);
	if (r == -ENOENT)
		return -EINVAL; /* no store yet: no such id */
	if (r < 0)
		return r;
	r = attach_locked(&l, shmid, shmaddr != NULL, addr, shmflg, out);
	gs_unlock(&l);
	return r;
}
