/*
 * conf_fuzz SEED [ROUNDS] - random System V shm calls, every one logged in
 * the scenario runner's normalized form (conf/out.h).
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
 */
#define _GNU_SOURCE
#include <limits.h>

#include "conf/out.h"
#include "conf/calls.h"
#include "conf/proc.h"

#define SLOTS 32
#define SLOT_PAGES 4
#define HOLE ((uintptr_t)0x100000000000ull)
#define MAX_ATTACHES 256

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int pick(int n) { return (int)(rnd() % (uint64_t)n); }

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
	static const int how[] = {0, IPC_CREAT, IPC_CREAT | IPC_EXCL, IPC_EXCL};
	int flg = how[pick(4)] | (int)(rnd() & 0777);
	int id = G(keys[pick(6)], sizes[pick(8)], flg);
	if (id >= 0 && nids < 64)
		ids[nids++] = id;
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
	switch (pick(6)) {
	case 0:
	case 1:
		break;
	case 2:
	case 3:
		addr = slot(pick(SLOTS));
		break;
	case 4:
		addr = slot(pick(SLOTS)) + 1 + pick(4095);
		break;
	default:
		addr = pick(2) ? (char *)1 : (char *)(uintptr_t)0xfffffffffffff000ull;
		/* Not SHM_RND with 1: root may then map page 0, where the kernel
		 * takes a NULL buffer for a valid one and goshm does not. */
		if (addr == (char *)1)
			flg &= ~SHM_RND;
	}
	char *p = A(any_id(), addr, flg);
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
		/* inside a slot attach, never another attach's start */
		addr = slot(pick(SLOTS)) + 4096;
		break;
	case 3:
		addr = slot(pick(SLOTS));
		break;
	default:
		addr = nattaches ? attaches[k] + 1 + pick(100) : NULL;
	}
	D(addr);
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
	if (argc < 2) {
		fprintf(stderr, "usage: conf_fuzz SEED [ROUNDS]\n");
		return 64;
	}
	rng = strtoull(argv[1], NULL, 0) * 0x9e3779b97f4a7c15ull + 1;
	int rounds = argc > 2 ? atoi(argv[2]) : 1500;
	conf_init("fuzz");
	/* the region of fixed addresses: nothing is mapped there */
	char *hole = mmap((void *)HOLE, SLOTS * SLOT_PAGES * 4096, PROT_NONE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	out("slots at a free region = %s", hole == (char *)HOLE ? "yes" : fail(errno));
	munmap(hole, SLOTS * SLOT_PAGES * 4096);
	label_new(HOLE, 'R');
	for (int i = 0; i < rounds; i++) {
		int op = pick(20);
		if (op < 5)
			op_shmget();
		else if (op < 10)
			op_shmat();
		else if (op < 13)
			op_shmdt();
		else if (op < 19)
			op_shmctl();
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
