/*
 * shmat.c - map a segment's data file, in the order of checks of the
 * kernel's do_shmat() (ipc/shm.c).
 *
 * Two paths.  The lock-free one serves the common attach: a segment this
 * namespace has attached before (its presence segment exists) and this
 * process has attached before (it maps the namespace's token).  It reads
 * the slot from a snapshot (snapshot.c), maps the data file, attaches the
 * presence segment and only then checks that the segment was not being
 * destroyed meanwhile (registry.c gs_destroy_if_unused explains why that
 * order is safe).  Everything else -- a first attach, SHM_REMAP, a
 * permission question about groups or capabilities, a store on a network
 * file system, any doubt -- takes the lock.
 *
 * Either path maps the data file, or, when the process holds an attach of
 * the segment in the same mode that nothing has changed, duplicates that
 * attach's mapping (map_twin).
 */
#include "engine.h"

#include <errno.h>
#include <sched.h>
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

/* How long a lock-free attach waits for a destroyer's verdict (DYING)
 * before it asks under the lock. */
#define GS_DYING_SPINS 1000

/* What an attach asks of the segment's mode, and the mapping it makes. */
struct want {
	int rdonly, prot, acc;
};

static struct want want_of(int shmflg)
{
	struct want w;
	w.rdonly = (shmflg & SHM_RDONLY) != 0;
	w.prot = w.rdonly ? PROT_READ : PROT_READ | PROT_WRITE;
	w.acc = w.rdonly ? S_IRUGO : S_IRUGO | S_IWUGO;
	if (shmflg & SHM_EXEC) {
		w.prot |= PROT_EXEC;
		w.acc |= S_IXUGO;
	}
	return w;
}

/* Whether fd's file system is mounted noexec, where mmap(PROT_EXEC) gives
 * EPERM: an EPERM that would read as "below mmap_min_addr". */
static int on_noexec_mount(int fd)
{
	struct statvfs sv;
	return fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_NOEXEC);
}

/* What shmat() answers for mmap's errno e. */
static long mmap_failure(int e, int fd, int prot)
{
	switch (e) {
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

/*
 * A huge page segment attached where the program named no address: the
 * kernel's hugetlbfs puts it at a multiple of the huge page size, and a
 * program may hand that address to another process to attach at, which
 * goshm then requires (map_segment).  So the mapping goes into a
 * reservation of len + align bytes, at its first multiple of align, and
 * the rest of the reservation is given back.
 */
static long map_data_aligned(int fd, uintptr_t *addr, size_t len, uintptr_t align, int prot)
{
	size_t span = len + align;
	char *area = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return -ENOMEM;
	uintptr_t start = ((uintptr_t)area + align - 1) & ~(align - 1);
	uintptr_t end = start + len, area_end = (uintptr_t)area + span;
	if (mmap((void *)start, len, prot, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		long r = mmap_failure(errno, fd, prot);
		munmap(area, span);
		return r;
	}
	if (start > (uintptr_t)area)
		munmap(area, start - (uintptr_t)area);
	if (area_end > end)
		munmap((void *)end, area_end - end);
	*addr = start;
	return 0;
}

/* A caller-given address (even one SHM_RND rounded down to 0) is fixed. */
static long map_data(int fd, int fixed, uintptr_t *addr, size_t len, int prot,
                     int shmflg)
{
	int flags = MAP_SHARED;
	if (fixed)
		flags |= (shmflg & SHM_REMAP) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
	void *p = mmap((void *)*addr, len, prot, flags, fd, 0);
	if (p == MAP_FAILED)
		return mmap_failure(errno, fd, prot);
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

/*
 * A second attach of a segment the process holds attached whole, in the
 * same mode: a duplicate of the held attach's mapping (one mremap()), in
 * place of opening and mapping the data file (openat2, fstat, mmap,
 * close).  Only while the program has unmapped, moved or mapped over
 * nothing (mapwatch.c) and changed no mapping's protection, lock or
 * advice (attrwatch.c) since the held attach was made: the duplicate is
 * then what a new mapping would be.  Not for an executable attach (a
 * later prctl(PR_SET_MDWE) refuses new ones), a huge page segment (its
 * alignment) or an address the caller gave.
 *
 * Another thread may detach the held attach meanwhile, and something else
 * may then be mapped at its place: the engine counts its own unmappings
 * of attaches (gs_own_unmaps), and a duplicate made while that count or a
 * generation moved is undone.  Returns 0 with *addr and *a, or -1 for the
 * data file.
 */
static int map_twin(const struct gs_segkey *key, size_t len, int prot, uintptr_t *addr,
                    struct gs_attach *a)
{
	struct gs_attach held;
	uint64_t unmaps = gs_own_unmaps();
	if (!gs_maps_stamp() || !gs_attrs_stamp()) /* not watching: never */
		return -1;
	if (gs_table_twin(key, prot, &held) < 0 || held.len != len ||
	    !gs_maps_unchanged(held.maps_stamp) || !gs_attrs_unchanged(held.attrs_stamp))
		return -1;
	void *p = gs_duplicate_mapping(held.addr, len);
	if (p == MAP_FAILED)
		return -1;
	if (!gs_maps_unchanged(held.maps_stamp) || !gs_attrs_unchanged(held.attrs_stamp) ||
	    gs_own_unmaps() != unmaps) {
		gs_unmap_whole_attach((uintptr_t)p, len);
		return -1;
	}
	memset(a, 0, sizeof *a);
	a->addr = *addr = (uintptr_t)p;
	a->len = len;
	a->prot = prot;
	a->maps_stamp = held.maps_stamp;
	a->attrs_stamp = held.attrs_stamp;
	a->vma_ino = held.vma_ino;
	a->vma_dev_major = held.vma_dev_major;
	a->vma_dev_minor = held.vma_dev_minor;
	return 0;
}

/* Map the data file of sl (segment key) at *addr: 0, or -errno
 * (GS_SNAP_RETRY for a lock-free caller, quiet) with nothing left
 * mapped. */
static long map_segment(struct goshm_store *s, const struct gs_slot *sl,
                        const struct gs_segkey *key, int fixed, uintptr_t *addr, int shmflg,
                        struct want w, struct gs_attach *a, int quiet)
{
	struct stat st;
	/* do_shmat() checks the size asked for, not whole pages; an address
	 * that passes but cannot be mapped is mmap's ENOMEM. */
	size_t len = gs_round_pages(sl->segsz);
	if (*addr && !(shmflg & SHM_REMAP) && *addr + sl->segsz < *addr)
		return -EINVAL;
	/* hugetlbfs maps only at a multiple of its page size; given no
	 * address, it finds one. */
	unsigned huge_log = GS_SLOT_HUGE_LOG(sl->flags);
	if (fixed && huge_log && (*addr & ((1ull << huge_log) - 1)))
		return -EINVAL;
	if (!fixed && !huge_log && !(w.prot & PROT_EXEC) && map_twin(key, len, w.prot, addr, a) == 0)
		return 0;
	/* Read before the mapping is made (mapwatch.c, attrwatch.c). */
	uint64_t stamp = gs_maps_stamp(), attrs = gs_attrs_stamp();
	int fd = gs_open_data(s, sl, (w.rdonly ? GS_RDONLY : 0) | (quiet ? GS_QUIET : 0), &st);
	if (fd == -EAGAIN && quiet)
		return GS_SNAP_RETRY;
	if (fd < 0)
		return fd;
	long r = !fixed && huge_log ? map_data_aligned(fd, addr, len, (uintptr_t)1 << huge_log, w.prot)
	                            : map_data(fd, fixed, addr, len, w.prot, shmflg);
	close(fd);
	if (r < 0)
		return r;
	memset(a, 0, sizeof *a);
	a->addr = *addr;
	a->len = len;
	a->maps_stamp = stamp;
	a->attrs_stamp = attrs;
	a->prot = w.prot;
	identify(a, &st);
	return 0;
}

/* ---- The lock-free path. ---- */

/*
 * Record an attach in the slot with single stores: shm_atime, shm_lpid and
 * the last namespace are, with the published count (publish_one), the
 * registry's only fields written without the lock (docs/FORMAT.md).
 */
static void note_attach(struct gs_view *v, unsigned idx)
{
	struct gs_slot *sl = gs_view_slot(v, idx);
	uint64_t dev, ino;
	gs_ipc_ns(&dev, &ino, 0);
	__atomic_store_n(&sl->atime, (int64_t)time(NULL), __ATOMIC_RELAXED);
	__atomic_store_n(&sl->lpid, (int32_t)gs_pid(), __ATOMIC_RELAXED);
	__atomic_store_n(&sl->last_ns_dev, dev, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->last_ns_ino, ino, __ATOMIC_RELAXED);
}

/* The namespace's published count goes up by one (-1: back down, for an
 * attach undone), before the attach checks that the segment is still live:
 * a destroyer in another namespace reads it after it marked the segment
 * dying, so it either sees this attach counted or is seen by it.  The
 * detach (shmdt.c) sets it to the kernel's exact count again, forks and
 * exits included.  Both name the segment's and the namespace's token
 * generations: the segment may have been destroyed meanwhile and its slot
 * made another's (publish.c).  Returns whether the slot still held them.
 *
 * An undone attach goes back down *before* its presence detach.  The
 * other order lets a detach in between (gs_publish_exact) publish the
 * kernel's count without our attach, which our -1 then takes below the
 * truth: another namespace would count one attach too few and could
 * destroy a segment still attached here. */
static int publish_one(struct gs_view *v, const struct gs_snap *sn, int nsk, int delta)
{
	struct gs_slot *sl = gs_view_slot(v, sn->idx);
	uint32_t tgen = sn->slot.ns[nsk].token_gen;
	if (delta > 0)
		return gs_pub_add(sl, (unsigned)nsk, sn->slot.gen, tgen);
	gs_pub_undo(sl, (unsigned)nsk, sn->slot.gen, tgen);
	return 1;
}

/* After the presence attach: is the segment still there, and not being
 * destroyed?  1 yes, 0 gone, GS_SNAP_RETRY undecided. */
static int still_live(struct gs_view *v, const struct gs_snap *sn)
{
	for (int spins = 0; spins < GS_DYING_SPINS; spins++) {
		int same;
		int st = gs_snap_state(v, sn->idx, sn->slot.gen, &same);
		if (st == GS_LIVE)
			return same;
		if (st != GS_DYING || !same)
			return 0;
		sched_yield(); /* a destroyer is reading nattch */
	}
	return GS_SNAP_RETRY;
}

static long attach_fast(struct gs_view *v, int shmid, int fixed, uintptr_t addr,
                        int shmflg, uintptr_t *out)
{
	struct gs_snap sn;
	struct want w = want_of(shmflg);
	long r = gs_snap_id(v, shmid, &sn);
	if (r != 0)
		return r;
	/* A removed segment may have lost its last attach to an exit: only
	 * the locked path can tell it from one still attached. */
	if ((sn.slot.mode & SHM_DEST) || gs_ipcperms_fast(&sn.slot, w.acc) != 0)
		return GS_SNAP_RETRY;
	int k = gs_my_ns_slot(&sn.slot);
	if (k < 0)
		return GS_SNAP_RETRY;
	struct gs_segkey key = {v->store, sn.store_id, shmid, sn.slot.gen};
	uint32_t tgen = sn.slot.ns[k].token_gen;
	if (!gs_table_pin_token(&key, (unsigned)k, tgen))
		return GS_SNAP_RETRY;

	struct gs_attach a;
	void *presence = NULL;
	int nsk;
	r = map_segment(v->store, &sn.slot, &key, fixed, &addr, shmflg, w, &a, 1);
	if (r == 0 && gs_presence_fast(&sn.slot, &nsk, &presence) != 0) {
		munmap((void *)addr, a.len);
		r = GS_SNAP_RETRY;
	}
	if (r == 0) {
		/* Not added: the segment is gone, and so is its slot's count. */
		int live = publish_one(v, &sn, nsk, 1) ? still_live(v, &sn) : 0;
		if (live != 1) {
			if (live != 0)
				publish_one(v, &sn, nsk, -1);
			gs_presence_detach(presence);
			munmap((void *)addr, a.len);
			r = live == 0 ? -EINVAL : GS_SNAP_RETRY;
		}
	}
	if (r == 0) {
		a.seg = key;
		a.nsk = (unsigned)nsk;
		a.tgen = tgen;
		a.presence = presence;
		if (gs_table_add(&a) < 0) {
			publish_one(v, &sn, nsk, -1);
			gs_presence_detach(presence);
			munmap((void *)addr, a.len);
			r = -ENOMEM;
		}
	}
	if (r != 0) {
		gs_table_unpin(&key, (unsigned)k, tgen);
		return r;
	}
	note_attach(v, sn.idx);
	*out = addr;
	return 0;
}

/* ---- The locked path. ---- */

/* The kernel's shm_close() of a piece of an attach: shm_dtime and
 * shm_lpid, when the segment is in the store we hold locked. */
static void note_closed(struct gs_locked *l, const struct gs_attach *a)
{
	unsigned base, idx = gs_idx_of(a->seg.shmid, &base);
	if (a->seg.store != l->store || a->seg.store_id != l->hdr->store_id ||
	    idx >= GS_SHMMNI || l->state[idx] != GS_LIVE ||
	    gs_slot_at(l, idx)->gen != a->seg.gen)
		return;
	gs_write(l);
	gs_slot_at(l, idx)->dtime = time(NULL);
	gs_slot_at(l, idx)->lpid = gs_pid();
	gs_publish_local(l, idx);
}

/* The kernel records a cut piece of an attach in the segment's shm_lpid
 * and shm_dtime; our namespace's presence segment, whose record IPC_STAT
 * prefers, must say so too: attach it once more and detach. */
static void note_cut(struct gs_locked *l, const struct gs_attach *a)
{
	unsigned base, idx = gs_idx_of(a->seg.shmid, &base);
	note_closed(l, a);
	if (a->seg.store != l->store || idx >= GS_SHMMNI || a->nsk >= GS_NS_SLOTS ||
	    l->state[idx] != GS_LIVE)
		return;
	long p = gs_sys_shmat(gs_slot_at(l, idx)->ns[a->nsk].native_id, NULL, SHM_RDONLY);
	if (!(p < 0 && p > -4096))
		gs_sys_shmdt((void *)p);
}

/* A SHM_REMAP attach over [lo, hi): attaches it replaced wholly are gone,
 * as the kernel's would be, and are uncounted; attaches it cut lose a
 * piece, which the kernel records as a detach of their segment.  A removed
 * segment left unattached is destroyed at its next lookup (gs_find_id),
 * not here: it may be the one we attach. */
static void drop_replaced(struct gs_locked *l, uintptr_t lo, uintptr_t hi)
{
	struct gs_attach old, all[32];
	while (gs_table_take_covered(lo, hi, &old) == 0) {
		gs_presence_detach(old.presence);
		note_closed(l, &old);
	}
	size_t n = gs_table_snapshot(all, 32);
	for (size_t i = 0; i < n && i < 32; i++)
		if (all[i].addr < hi && all[i].addr + all[i].len > lo)
			note_cut(l, &all[i]);
}

/* This process's token for namespace slot nsk of segment idx, referenced. */
static int pin_token(struct gs_locked *l, unsigned idx, int nsk,
                     const struct gs_segkey *key, uint32_t *tgen)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	*tgen = sl->ns[nsk].token_gen;
	if (gs_table_pin_token(key, (unsigned)nsk, *tgen))
		return 0;
	void *t;
	int r = gs_token_map(l, idx, nsk, &t);
	if (r < 0)
		return r;
	*tgen = sl->ns[nsk].token_gen; /* made again if it was deleted */
	void *kept = gs_table_add_token(key, (unsigned)nsk, *tgen, t);
	if (kept != t)
		munmap(t, (size_t)gs_page_size());
	return kept ? 0 : -ENOMEM;
}

static long attach_locked(struct gs_locked *l, int shmid, int fixed,
                          uintptr_t addr, int shmflg, uintptr_t *out)
{
	unsigned idx;
	struct want w = want_of(shmflg);
	long r = gs_find_id(l, shmid, &idx);
	if (r < 0)
		return r;
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (gs_ipcperms(sl, w.acc) < 0)
		return -EACCES;

	struct gs_attach a;
	struct gs_segkey key = {l->store, l->hdr->store_id, shmid, sl->gen};
	r = map_segment(l->store, sl, &key, fixed, &addr, shmflg, w, &a, 0);
	if (r < 0)
		return r;
	if (shmflg & SHM_REMAP)
		drop_replaced(l, addr, addr + a.len);

	int nsk;
	uint32_t tgen;
	r = gs_presence_attach(l, idx, &a.presence, &nsk);
	if (r == 0) {
		r = pin_token(l, idx, nsk, &key, &tgen);
		if (r == 0) {
			a.seg = key;
			a.nsk = (unsigned)nsk;
			a.tgen = tgen;
			r = gs_table_add(&a);
			if (r < 0)
				gs_table_unpin(&key, (unsigned)nsk, tgen);
		}
		if (r < 0)
			gs_presence_detach(a.presence);
	}
	if (r < 0) {
		munmap((void *)addr, a.len);
		return r;
	}
	gs_write(l);
	sl->atime = time(NULL);
	sl->lpid = gs_pid();
	gs_publish_local(l, idx);
	*out = addr;
	return 0;
}

static long shmat_signals_held(struct goshm_store *s, int shmid, const void *shmaddr,
                               int shmflg, uintptr_t *out)
{
	uintptr_t addr = (uintptr_t)shmaddr;
	uintptr_t shmlba = (uintptr_t)gs_page_size(); /* SHMLBA on x86 */
	struct gs_locked l;
	struct gs_view v;

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
	long r = gs_view(s, &v);
	if (r == -ENOENT)
		return -EINVAL; /* no store yet: no such id */
	if (r == 0 && !(shmflg & SHM_REMAP)) {
		r = attach_fast(&v, shmid, shmaddr != NULL, addr, shmflg, out);
		if (r != GS_SNAP_RETRY)
			return r;
	}
	r = gs_lock(s, &l, GS_EXISTING);
	if (r == -ENOENT)
		return -EINVAL;
	if (r < 0)
		return r;
	r = attach_locked(&l, shmid, shmaddr != NULL, addr, shmflg, out);
	gs_unlock(&l);
	return r;
}

/* The program's signals wait while the call takes the attach table's
 * mutex, as they would for the kernel's shmat (siglock.c). */
long gs_shmat(struct goshm_store *s, int shmid, const void *shmaddr, int shmflg,
              uintptr_t *out)
{
	gs_signals_hold();
	long r = shmat_signals_held(s, shmid, shmaddr, shmflg, out);
	gs_signals_release();
	return r;
}
