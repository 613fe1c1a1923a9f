/*
 * shmdt.c - detach, by the kernel's rule (ipc/shm.c ksys_shmdt): shmdt(addr)
 * detaches the first shm mapping at or above addr whose file offset equals
 * its distance from addr, and every later piece of the same segment within
 * its size.  So the whole attach goes, also after a partial munmap() or
 * mprotect(), an attach cut in two by a SHM_REMAP detaches piece by piece,
 * and nothing the program mapped into a hole is touched.
 *
 * The common case -- addr is an attach this process made and it is mapped
 * whole, as shmat made it -- costs no question to the kernel when nothing
 * was unmapped or mapped over since the attach (mapwatch.c), one
 * otherwise (vma.c).
 * Every attach whose mappings are all gone afterwards is uncounted: its
 * presence attach is dropped (presence.c) and the detach recorded.  So is
 * an attach the program unmapped whole itself, right after its munmap
 * (gs_attaches_unmapped, called by mapwatch.c).
 */
#include "engine.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Attaches looked at on the stack by the kernel's rule; more are copied
 * into a temporary mapping. */
#define GS_RULE_STACK 32

/*
 * The detach of a, on the registry: lock-free when nothing else is to be
 * done, under the lock when the segment is removed (it may have to be
 * destroyed now) or the store cannot be read without it.
 *
 * The lock-free part is in two steps around the presence detach.  Before
 * it, while our attach still counts and the segment cannot be destroyed,
 * shm_dtime, shm_lpid and the last namespace are written: after it, the
 * slot may already be another segment's.  After it, the namespace's
 * count is published for the generation we detached and the token we
 * attached with (presence.c gs_publish_exact), which writes nothing once
 * the slot or the namespace slot has moved on.
 * Returns the slot to publish in, or NULL for the locked path.
 */
static struct gs_slot *note_detach(const struct gs_attach *a)
{
	struct gs_view v;
	struct gs_snap sn;
	if (gs_view(a->seg.store, &v) != 0 || gs_snap_id(&v, a->seg.shmid, &sn) != 0 ||
	    sn.store_id != a->seg.store_id || sn.slot.gen != a->seg.gen ||
	    (sn.slot.mode & SHM_DEST) || a->nsk >= GS_NS_SLOTS || !sn.slot.ns[a->nsk].token_gen)
		return NULL;
	struct gs_slot *sl = gs_view_slot(&v, sn.idx);
	uint64_t dev, ino;
	gs_ipc_ns(&dev, &ino, 0);
	__atomic_store_n(&sl->dtime, (int64_t)time(NULL), __ATOMIC_RELAXED);
	__atomic_store_n(&sl->lpid, (int32_t)gs_pid(), __ATOMIC_RELAXED);
	__atomic_store_n(&sl->last_ns_dev, dev, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->last_ns_ino, ino, __ATOMIC_RELAXED);
	return sl;
}

static void account_detach_locked(const struct gs_attach *a)
{
	struct gs_locked l;
	unsigned base, idx = gs_idx_of(a->seg.shmid, &base);
	if (gs_lock(a->seg.store, &l, GS_EXISTING) < 0)
		return;
	struct gs_slot *sl = gs_slot_at(&l, idx);
	if (idx < GS_SHMMNI && l.hdr->store_id == a->seg.store_id &&
	    l.state[idx] == GS_LIVE && sl->gen == a->seg.gen) {
		gs_write(&l);
		sl->dtime = time(NULL);
		sl->lpid = gs_pid();
		gs_publish_local(&l, idx);
		gs_destroy_if_unused(&l, idx);
	}
	gs_unlock(&l);
}

static void uncount(const struct gs_attach *a)
{
	struct gs_slot *sl = note_detach(a);
	gs_presence_detach(a->presence);
	if (sl)
		gs_publish_exact(sl, a->nsk, a->seg.gen, a->tgen);
	else
		account_detach_locked(a);
	if (gs_sync_mode() == GS_SYNC_DETACH)
		gs_sync(a->seg.store, a->seg.shmid);
}

static int same_file(const struct gs_attach *a, const struct gs_attach *b)
{
	return a->vma_ino == b->vma_ino && a->vma_dev_major == b->vma_dev_major &&
	       a->vma_dev_minor == b->vma_dev_minor;
}

/* The general case: the kernel's rule over every mapping above addr. */
static int detach_by_rule(uintptr_t addr)
{
	struct gs_attach small[GS_RULE_STACK], *all = small, first;
	size_t n = gs_table_snapshot(small, GS_RULE_STACK), len = 0;
	while (n > GS_RULE_STACK && all == small) {
		len = (n + 16) * sizeof *all;
		all = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (all == MAP_FAILED)
			return -ENOMEM;
		size_t now = gs_table_snapshot(all, n + 16);
		if (now > n + 16) {
			munmap(all, len);
			all = small;
		}
		n = now;
	}
	/* Without an attach of ours, no mapping is of one of our files: the
	 * rule cannot match, and a bad address costs no system call. */
	if (n == 0)
		return -EINVAL;
	int r = gs_vma_detach_rule(addr, all, n, &first);
	for (size_t i = 0; i < n; i++) {
		/* The attaches of the segment detached, and one at addr that the
		 * program unmapped whole itself (munmap, mmap MAP_FIXED): the
		 * kernel uncounted that one already -- unless it was moved
		 * (mremap), and its file is still mapped elsewhere. */
		int dead = r == 0 ? same_file(&all[i], &first) && gs_vma_has_fragment(&all[i]) <= 0
		                  : all[i].addr == addr && gs_vma_has_fragment(&all[i]) <= 0 &&
		                            !gs_vma_file_mapped(&all[i]);
		if (dead && gs_table_take_exact(&all[i]) == 0)
			uncount(&all[i]);
	}
	if (all != small)
		munmap(all, len);
	return r;
}

/*
 * The program unmapped [lo, hi), or mapped its own memory over it, with a
 * call the library watches (mapwatch.c).  The kernel ends an attach at once
 * when its last piece goes that way: so does goshm, for each attach there
 * of which nothing is left where it was, and whose file the process maps
 * nowhere else -- an attach that mremap() moved is still one, and the
 * table keeps its old address.  (The same segment attached twice leaves
 * both counted until the next shmdt, as before: counting one too many
 * only delays a destruction, one too few could make it early.)
 */
void gs_attaches_unmapped(uintptr_t lo, uintptr_t hi)
{
	struct gs_attach hit[GS_RULE_STACK];
	if (hi <= lo || gs_in_call())
		return; /* the engine's own unmapping, or a thread inside a call */
	size_t n = gs_table_overlapping(lo, hi, hit, GS_RULE_STACK);
	if (!n)
		return;
	int e = errno;
	gs_signals_hold();
	for (size_t i = 0; i < n && i < GS_RULE_STACK; i++)
		if (gs_vma_has_fragment(&hit[i]) <= 0 && !gs_vma_file_mapped(&hit[i]) &&
		    gs_table_take_exact(&hit[i]) == 0)
			uncount(&hit[i]);
	gs_signals_release();
	errno = e;
}

static int shmdt_signals_held(uintptr_t addr)
{
	struct gs_attach a;
	if (gs_table_find(addr, &a) == 0) {
		/* Nothing was unmapped, moved or mapped over since the attach
		 * (mapwatch.c), or /proc says it is whole; without /proc (-1),
		 * the table is trusted: docs/DIFFERENCES.md. */
		if (gs_maps_unchanged(a.maps_stamp) || gs_vma_intact(&a) != 0) {
			if (gs_table_take_exact(&a) < 0)
				return -EINVAL; /* another thread detached it first */
			gs_unmap_whole_attach(addr, a.len);
			uncount(&a);
			return 0;
		}
	}
	return detach_by_rule(addr);
}

/* The program's signals wait while the call takes the attach table's
 * mutex, as they would for the kernel's shmdt (siglock.c). */
int gs_shmdt(const void *shmaddr)
{
	uintptr_t addr = (uintptr_t)shmaddr;
	if (addr & ((uintptr_t)gs_page_size() - 1))
		return -EINVAL;
	gs_signals_hold();
	int r = shmdt_signals_held(addr);
	gs_signals_release();
	return r;
}
