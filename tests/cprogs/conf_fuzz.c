/*
 * conf_fuzz SEED [ROUNDS [remap|syscall]] - random System V shm calls,
 * every one logged in the scenario runner's normalized form (conf/out.h).
 * "syscall" mode makes the same calls through syscall(2) with their
 * numbers (conf/calls.h).
 *
 * Ids, keys, sizes, flags, commands and addresses are drawn from a seeded
 * generator, mixing valid and invalid values, so the same seed makes the
 * same calls natively and under goshm, and the test compares the two runs
 * line by line: bad input must give the kernel's error, never a crash.
 *
 * What is left out on purpose: pointers that are neither NULL nor valid
 * (the kernel returns EFAULT, goshm faults: docs/DIFFERENCES.md, "Bad
 * pointers"), attaches at page 0, and layouts that differ between the
 * runs -- fixed addresses
 * are slots of a region far from where the kernel places mappings, four
 * pages apart, and segments are at most one page, so attaches never cut
 * one another into pieces (VMA fragments are a documented difference).
 *
 * "remap" mode (issue 14, defect 13) cuts them on purpose: segments of up
 * to three pages, attached at any page of the slots, SHM_REMAP over parts
 * of other attaches, shmdt at any page.  Return values and what stays
 * mapped must still be the kernel's; nattch may not be (the kernel counts
 * pieces), and the test compares everything but nattch.  One thing is
 * left out: a SHM_REMAP that would take away the last piece of an attach
 * it does not wholly cover -- for the kernel that is the end of the attach
 * (as a munmap() of a whole attach is, a documented difference), for goshm
 * not until the next shmdt().  Such a call is made without SHM_REMAP
 * (the same in both runs, since the layouts are the same).  The program
 * also unmaps pages of the region and maps its own there, through the C
 * library and syscall(), where no piece of an attach is mapped.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conf/out.h"
#include "conf/calls.h"
#include "conf/proc.h"
#include "conf/rng.h"

#define SLOTS 32
#define SLOT_PAGES 4
#define HOLE ((uintptr_t)0x100000000000ull)
#define MAX_ATTACHES 256

static int remap_mode;
static int ids[64], nids;
static char *attaches[MAX_ATTACHES];
static int nattaches;

static int any_id(void)
{
	static const int bogus[] = {-1, INT_MIN, 0, 1, 4095, 4096, 32767, 32768, INT_MAX, 5 << 15};
	if (nids && pick(5))
		return ids[pick(nids)];
	return bogus[pick((int)(sizeof bogus / sizeof bogus[0]))];
}

static char *slot(int k) { return (char *)(HOLE + (uintptr_t)k * SLOT_PAGES * 4096); }

static void op_shmget(void)
{
	static const key_t keys[] = {IPC_PRIVATE, 0x100, 0x101, 0x102, 0x103, -7};
	static const size_t sizes[] = {0, 1, 100, 4095, 4096, 1ul << 62, SIZE_MAX, 1ul << 63};
	static const size_t remap_sizes[] = {0, 1, 4096, 4097, 8192, 12288, 10000, SIZE_MAX};
	static const int how[] = {0, IPC_CREAT, IPC_CREAT | IPC_EXCL, IPC_EXCL};
	/* Huge pages now and then: the default size, 2 MiB, 1 GiB, and 4 MiB,
	 * which x86-64 has no pool of.  Never SHM_NORESERVE: the kernel would
	 * make a segment whose pages an empty pool cannot back (SIGBUS at the
	 * first touch), where goshm's are normal pages. */
	static const int huge[] = {0, 21 << SHM_HUGE_SHIFT, 30 << SHM_HUGE_SHIFT, 22 << SHM_HUGE_SHIFT};
	int flg = how[pick(4)] | (int)(rnd() & 0777);
	if (pick(8) == 0)
		flg |= SHM_HUGETLB | huge[pick(4)];
	key_t key = keys[pick(6)];
	size_t size = (remap_mode ? remap_sizes : sizes)[pick(8)];
	int id = G(key, size, flg);
	if (id >= 0 && nids < 64)
		ids[nids++] = id;
}

/* ---- remap mode: what is mapped in the slots' region ---- */

struct piece {
	uintptr_t start, end, base; /* base: where its attach starts */
	unsigned long long ino;
	unsigned dev;
};

/* The shared file mappings in the slots' region (and just above it): the
 * attaches and their pieces. */
static int region_pieces(struct piece *out, int max)
{
	uintptr_t lo = HOLE, hi = HOLE + (SLOTS * SLOT_PAGES + 8) * 4096ul;
	char line[4096];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "re");
	while (f && n < max && fgets(line, sizeof line, f)) {
		unsigned long long start, end, off, ino;
		unsigned maj, min;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &off,
		           &maj, &min, &ino) != 7 || perms[3] != 's' || end <= lo || start >= hi)
			continue;
		out[n++] = (struct piece){(uintptr_t)start, (uintptr_t)end,
		                          (uintptr_t)(start - off), ino, maj << 20 | min};
	}
	if (f)
		fclose(f);
	return n;
}

/* Each segment's size in whole pages, by the identity of its mappings,
 * noted at its attaches. */
struct seg_len {
	unsigned long long ino;
	unsigned dev;
	size_t len;
};
static struct seg_len seg_len[256];
static int nseg_len;

static void note_attach(const char *p)
{
	struct piece v[256];
	int n = region_pieces(v, 256);
	for (int i = 0; i < n; i++) {
		if (v[i].start != (uintptr_t)p)
			continue;
		/* The latest attach names the segment: a file system may give a
		 * destroyed segment's inode number to a new one (goshm's data
		 * files on ext4 do). */
		for (int j = 0; j < nseg_len; j++)
			if (seg_len[j].ino == v[i].ino && seg_len[j].dev == v[i].dev) {
				seg_len[j].len = v[i].end - v[i].start;
				return;
			}
		if (nseg_len < 256)
			seg_len[nseg_len++] = (struct seg_len){v[i].ino, v[i].dev,
			                                     v[i].end - v[i].start};
		return;
	}
}

static size_t len_of(const struct piece *v)
{
	for (int j = 0; j < nseg_len; j++)
		if (seg_len[j].ino == v->ino && seg_len[j].dev == v->dev)
			return seg_len[j].len;
	return SIZE_MAX; /* unknown: never "wholly covered" */
}

/*
 * Would a SHM_REMAP attach of id at addr take away the last piece of an
 * attach that it does not wholly cover?  The pieces of one attach are
 * those of one file with one base.  (An unlogged IPC_STAT gives the new
 * attach's size; an id it fails for is one shmat fails for too.)
 */
static int remap_cuts_off(int id, uintptr_t addr, int flg)
{
	struct shmid_ds d;
	if (shmctl(id, IPC_STAT, &d) < 0)
		return 0;
	if (addr & 4095) {
		if (!(flg & SHM_RND))
			return 0;
		addr &= ~(uintptr_t)4095;
	}
	uintptr_t lo = addr, hi = addr + ((d.shm_segsz + 4095) & ~(size_t)4095);
	struct piece v[256];
	int n = region_pieces(v, 256);
	for (int i = 0; i < n; i++) {
		if (v[i].end <= lo || v[i].start >= hi)
			continue;
		int all_inside = 1;
		for (int j = 0; j < n; j++)
			if (v[j].ino == v[i].ino && v[j].dev == v[i].dev && v[j].base == v[i].base &&
			    (v[j].start < lo || v[j].end > hi))
				all_inside = 0;
		size_t len = len_of(&v[i]);
		int wholly = v[i].base >= lo && len != SIZE_MAX && v[i].base + len <= hi;
		if (all_inside && !wholly)
			return 1;
	}
	return 0;
}

/* Which pages of the region are mapped, one character each. */
static void region_map(void)
{
	char m[SLOTS * SLOT_PAGES + 8 + 1];
	size_t i;
	for (i = 0; i < sizeof m - 1; i++) {
		unsigned char v;
		m[i] = mincore(slot(0) + i * 4096, 4096, &v) == 0 ? '1' : '.';
	}
	m[i] = 0;
	out("region = %s", m);
}

static char *page_in_slot(void) { return slot(pick(SLOTS)) + pick(SLOT_PAGES) * 4096; }

/* Is any piece of an attach mapped in [lo, hi)?  The kernel's munmap of a
 * piece updates the segment's shm_lpid and shm_dtime (shm_close), and
 * ends the attach with its last piece; goshm sees neither until the next
 * shmdt (docs/DIFFERENCES.md, VMA fragments). */
static int touches_attach(uintptr_t lo, uintptr_t hi)
{
	struct piece v[256];
	int n = region_pieces(v, 256);
	for (int i = 0; i < n; i++)
		if (v[i].end > lo && v[i].start < hi)
			return 1;
	return 0;
}

/*
 * remap mode: the program changes the region itself -- munmap of a few
 * pages, or an anonymous mapping over them, through the C library or
 * syscall(), where no attach is mapped (the holes that shmdt and
 * SHM_REMAP left, and its own earlier mappings) -- and later shmdt calls
 * must still detach exactly what the kernel's do, past the program's
 * mappings (goshm trusts its attach table only while no such call was
 * made: capi/engine/mapwatch.c).
 */
static void op_unmap(void)
{
	char *at = page_in_slot();
	size_t pages = 1 + (size_t)pick(3);
	uintptr_t end = (uintptr_t)slot(SLOTS);
	if ((uintptr_t)at + pages * 4096 > end)
		pages = (end - (uintptr_t)at) / 4096;
	size_t len = pages * 4096;
	int how = pick(4);
	if (touches_attach((uintptr_t)at, (uintptr_t)at + len))
		return;
	static const char *const what[] = {"munmap", "syscall(SYS_munmap)", "mmap(MAP_FIXED)",
	                                   "syscall(SYS_mmap, MAP_FIXED)"};
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	long r;
	switch (how) {
	case 0: r = munmap(at, len); break;
	case 1: r = syscall(SYS_munmap, at, len); break;
	case 2: r = mmap(at, len, PROT_READ, flags, -1, 0) == MAP_FAILED ? -1 : 0; break;
	default: r = (void *)syscall(SYS_mmap, at, len, PROT_READ, flags, -1, 0) == MAP_FAILED ? -1 : 0;
	}
	out("%s(%s, %zu pages) = %s", what[how], addr_name(at), pages, r < 0 ? fail(errno) : "0");
	region_map();
}

static void op_shmat(void)
{
	int flg = 0;
	char *addr = NULL;
	if (pick(3) == 0)
		flg |= SHM_RDONLY;
	if (pick(4) == 0)
		flg |= SHM_RND;
	if (pick(5) == 0)
		flg |= SHM_REMAP;
	if (pick(6) == 0)
		flg |= SHM_EXEC;
	if (remap_mode && pick(3) == 0)
		flg |= SHM_REMAP;
	switch (pick(6)) {
	case 0:
	case 1:
		break;
	case 2:
	case 3:
		addr = remap_mode ? page_in_slot() : slot(pick(SLOTS));
		break;
	case 4:
		addr = (remap_mode ? page_in_slot() : slot(pick(SLOTS))) + 1 + pick(4095);
		break;
	default:
		addr = pick(2) ? (char *)1 : (char *)(uintptr_t)0xfffffffffffff000ull;
		/* Not SHM_RND with 1: root may then map page 0, where the kernel
		 * takes a NULL buffer for a valid one and goshm does not. */
		if (addr == (char *)1)
			flg &= ~SHM_RND;
	}
	int id = any_id();
	if (remap_mode && (flg & SHM_REMAP) && addr && remap_cuts_off(id, (uintptr_t)addr, flg))
		flg &= ~SHM_REMAP;
	char *p = A(id, addr, flg);
	if (p != (char *)-1 && remap_mode) {
		note_attach(p);
		region_map();
	}
	if (p != (char *)-1 && nattaches < MAX_ATTACHES)
		attaches[nattaches++] = p;
}

/* After a detach at p, nothing is attached there any more.  Addresses of
 * attaches that are gone are never passed again: the kernel may have
 * placed a later attach there in one run and not in the other. */
static void forget(const char *p)
{
	int k = 0;
	for (int i = 0; i < nattaches; i++)
		if (attaches[i] != p)
			attaches[k++] = attaches[i];
	nattaches = k;
}

static void op_shmdt(void)
{
	char *addr;
	int k = nattaches ? pick(nattaches) : 0;
	switch (pick(5)) {
	case 0:
	case 1:
		addr = nattaches ? attaches[k] : NULL;
		break;
	case 2:
		/* inside a slot attach, never another attach's start (in remap
		 * mode: any page) */
		addr = remap_mode ? page_in_slot() : slot(pick(SLOTS)) + 4096;
		break;
	case 3:
		addr = slot(pick(SLOTS));
		break;
	default:
		addr = nattaches ? attaches[k] + 1 + pick(100) : NULL;
	}
	if (D(addr) == 0 && remap_mode)
		region_map();
	forget(addr);
}

static void op_shmctl(void)
{
	static const int cmds[] = {IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, SHM_INFO, SHM_STAT,
	                           SHM_STAT_ANY, SHM_LOCK, SHM_UNLOCK, -1, 4, 10, 16, 99,
	                           0x100 | IPC_STAT, 0x100 | IPC_RMID};
	static const unsigned uids[] = {0, 1000, 12345, (unsigned)-1};
	int cmd = cmds[pick((int)(sizeof cmds / sizeof cmds[0]))];
	int id = any_id();
	int null = pick(10) == 0;
	switch (cmd) {
	case IPC_STAT:
		if (null)
			C(id, cmd, NULL);
		else
			ST(id, NULL);
		return;
	case IPC_SET:
		if (null)
			C(id, cmd, NULL);
		else
			SET(id, uids[pick(4)], uids[pick(4)], (unsigned)(rnd() & 07777));
		return;
	case IPC_INFO:
		if (null)
			C(id, cmd, NULL);
		else
			IINFO();
		return;
	case SHM_INFO:
		if (null)
			C(id, cmd, NULL);
		else
			SINFO();
		return;
	case SHM_STAT:
	case SHM_STAT_ANY:
		if (null)
			C(pick(8), cmd, NULL);
		else
			SSTAT(pick(3) ? pick(8) : id, cmd);
		return;
	default: {
		struct shmid_ds d;
		memset(&d, 0, sizeof d);
		C(id, cmd, null ? NULL : &d);
	}
	}
}

/*
 * madvise(MADV_DONTFORK) or MADV_DOFORK on an attach, through the C
 * library or syscall(): later children inherit it or not (goshm mirrors
 * the advice on the attach's presence attach and keeps a child's table
 * true: capi/engine/attach_table.c gs_table_fork_advice_locked).  Not in
 * remap mode: an advice on part of an attach cuts it, and the kernel's records
 * of the pieces (shm_nattch, and the shm_lpid of a merge) are a documented
 * difference; conf_scenarios at_dontfork_part covers that case.
 */
static void op_fork_advice(void)
{
	if (!nattaches)
		return;
	char *p = attaches[pick(nattaches)];
	int advice = pick(2) ? MADV_DONTFORK : MADV_DOFORK;
	int by_syscall = pick(2);
	const char *at = addr_name(p);
	long r = by_syscall ? syscall(SYS_madvise, p, 4096, advice) : madvise(p, 4096, advice);
	out("%s(%s, 1 page, %s) = %s", by_syscall ? "syscall(SYS_madvise)" : "madvise", at,
	    advice == MADV_DONTFORK ? "DONTFORK" : "DOFORK", r < 0 ? fail(errno) : "0");
}

/*
 * A child inherits every attach, makes a call or two, and ends by exit or
 * SIGKILL.  It attaches nothing of its own: an attach whose end is the
 * last one of its segment and an exit has a documented difference
 * (shm_dtime), which the scenarios show on their own.
 */
static void op_fork(void)
{
	pid_t c = child();
	if (c == 0) {
		if (pick(2))
			op_shmctl();
		else
			op_shmdt();
		NAT(any_id());
		if (pick(2))
			child_exit();
		kill(getpid(), SIGKILL);
	}
	reap(c);
	NAT(any_id());
}

int main(int argc, char **argv)
{
	if (argc < 2 || (argc > 3 && strcmp(argv[3], "remap") && strcmp(argv[3], "syscall"))) {
		fprintf(stderr, "usage: conf_fuzz SEED [ROUNDS [remap|syscall]]\n");
		return 64;
	}
	rng_seed(argv[1]);
	int rounds = argc > 2 ? atoi(argv[2]) : 1500;
	remap_mode = argc > 3 && !strcmp(argv[3], "remap");
	conf_via_syscall = argc > 3 && !strcmp(argv[3], "syscall");
	conf_init(remap_mode ? "fuzz-remap" : conf_via_syscall ? "fuzz-syscall" : "fuzz");
	/* the region of fixed addresses: nothing is mapped there */
	char *hole = mmap((void *)HOLE, SLOTS * SLOT_PAGES * 4096, PROT_NONE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	out("slots at a free region = %s", hole == (char *)HOLE ? "yes" : fail(errno));
	munmap(hole, SLOTS * SLOT_PAGES * 4096);
	label_new(HOLE, 'R');
	for (int i = 0; i < rounds; i++) {
		int op = pick(remap_mode ? 22 : 21);
		if (op < 5)
			op_shmget();
		else if (op < 10)
			op_shmat();
		else if (op < 13)
			op_shmdt();
		else if (op < 19)
			op_shmctl();
		else if (op == 20 && !remap_mode)
			op_fork_advice();
		else if (op >= 20)
			op_unmap();
		else if (sh->nchildren < CONF_MAX_CHILDREN)
			op_fork();
	}
	/* Clean up, through the same calls. */
	for (int i = 0; i < nattaches; i++)
		D(attaches[i]);
	for (int i = 0; i < nids; i++)
		RM(ids[i]);
	SINFO();
	out("end");
	return 0;
}
