/*
 * sc_get.h - shmget scenarios (LTP shmget01-06 and more): keys,
 * IPC_PRIVATE, IPC_CREAT/IPC_EXCL, sizes, the order of errors,
 * permissions by class, and the id sequence of a fresh namespace.
 */
#ifndef CONF_SC_GET_H
#define CONF_SC_GET_H

#include "calls.h"
#include "proc.h"

/* A key: create, find again with and without IPC_CREAT, IPC_EXCL. */
static void sc_get_key(void)
{
	int id = G(0x1001, 4096, IPC_CREAT | 0640);
	ST(id, NULL);
	G(0x1001, 4096, 0);
	G(0x1001, 0, 0);
	G(0x1001, 4096, IPC_CREAT | 0600);
	G(0x1001, 4096, IPC_CREAT | IPC_EXCL | 0600);
	G(0x1001, 4096, IPC_EXCL);              /* IPC_EXCL alone is ignored */
	ST(id, NULL);                           /* the mode is the creator's */
	G(0x1002, 100, IPC_CREAT | IPC_EXCL | 0600);
	G((key_t)-5, 1, IPC_CREAT | 0666);      /* a negative key is a key */
	G((key_t)-5, 1, 0);
	G(0x7fffffff, 1, IPC_CREAT | 0600);
	RM(id);
	G(0x1001, 0, 0);
}

/* IPC_PRIVATE always makes a new segment, with or without IPC_CREAT. */
static void sc_get_private(void)
{
	int a = G(IPC_PRIVATE, 4096, 0600);
	G(IPC_PRIVATE, 4096, 0600);
	G(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	G(IPC_PRIVATE, 4096, IPC_CREAT | IPC_EXCL | 0600);
	G(IPC_PRIVATE, 4096, 0);
	ST(a, NULL);
	SINFO();
}

static void sc_get_enoent(void)
{
	G(0x2001, 4096, 0);
	G(0x2001, 4096, 0600);
	G(0x2001, 4096, IPC_EXCL | 0600);
	G(0x2001, 0, 0);
	G(0x2001, 4096, IPC_CREAT | 0600);
	G(0x2001, 4096, 0);
}

/* Size 0 creates nothing, but finds an existing key; a larger size than
 * the segment's is EINVAL, and EEXIST comes before it. */
static void sc_get_sizes(void)
{
	G(IPC_PRIVATE, 0, IPC_CREAT | 0600);
	G(0x3001, 0, IPC_CREAT | 0600);
	G(0x3001, 0, IPC_CREAT | IPC_EXCL | 0600);
	G(0x3001, 4096, IPC_CREAT | 0600);
	G(0x3001, 0, 0);
	G(0x3001, 0, IPC_CREAT | 0600);
	G(0x3001, 1, 0);
	G(0x3001, 4096, 0);
	G(0x3001, 4097, 0);
	G(0x3001, 8192, IPC_CREAT | 0600);
	G(0x3001, 8192, IPC_CREAT | IPC_EXCL | 0600);
	G(0x3001, SIZE_MAX, 0);
	int odd = G(0x3002, 4097, IPC_CREAT | 0600);
	ST(odd, NULL);
	G(0x3002, 4097, 0);
	G(0x3002, 4098, 0);
	G(0x3002, 8192, 0);
	G(IPC_PRIVATE, 1, 0600);
}

/* Sizes the kernel refuses: above SHMMAX (EINVAL), more than it can back
 * (ENOMEM), and around the limits of file offsets. */
static void sc_get_huge(void)
{
	const size_t shmmax = ULONG_MAX - (1ul << 24);
	G(IPC_PRIVATE, SIZE_MAX, IPC_CREAT | 0600);
	G(IPC_PRIVATE, shmmax + 1, IPC_CREAT | 0600);
	G(IPC_PRIVATE, shmmax, IPC_CREAT | 0600);
	G(IPC_PRIVATE, 1ul << 63, IPC_CREAT | 0600);
	G(IPC_PRIVATE, (size_t)LLONG_MAX, IPC_CREAT | 0600);
	G(IPC_PRIVATE, 1ul << 62, IPC_CREAT | 0600);
	G(IPC_PRIVATE, 1ul << 50, IPC_CREAT | 0600);
	G(0x3101, 1ul << 62, IPC_CREAT | 0600);
	G(0x3101, 4096, 0);
	SINFO();
}

/* The mode is shmflg & 0777; other bits of shmflg are not kept. */
static void sc_get_mode(void)
{
	int a = G(0x4001, 4096, IPC_CREAT | 0777);
	int b = G(0x4002, 4096, IPC_CREAT);
	int c = G(0x4003, 4096, IPC_CREAT | IPC_EXCL | 0421);
	int d = G(0x4004, 4096, IPC_CREAT | SHM_NORESERVE | 0604);
	int e = G(IPC_PRIVATE, 4096, 0x7fff0000 | 0644);
	ST(a, NULL);
	ST(b, NULL);
	ST(c, NULL);
	ST(d, NULL);
	ST(e, NULL);
}

/*
 * Permissions asked in shmflg of an existing key are checked against the
 * segment's mode (ipcperms): the owner of a mode 0400 segment may ask for
 * read, not for write -- unless it has CAP_IPC_OWNER (root).
 */
static void sc_get_requested_perms(void)
{
	int id = G(0x5001, 4096, IPC_CREAT | 0400);
	G(0x5001, 0, 0);
	G(0x5001, 0, 0400);
	G(0x5001, 0, 0200);
	G(0x5001, 0, 0600);
	G(0x5001, 0, 0040);
	G(0x5001, 0, 0004);
	G(0x5001, 0, 0002);
	G(0x5001, 0, 0100);
	G(0x5001, 0, IPC_CREAT | 0600);
	G(0x5001, 4096, IPC_CREAT | 0700);
	int z = G(0x5002, 4096, IPC_CREAT | 0);
	G(0x5002, 0, 0);
	G(0x5002, 0, 0400);
	A(z, NULL, SHM_RDONLY);
	ST(z, NULL);
	RM(id);
	RM(z);
}

/*
 * The order of errors for an existing key: EEXIST, then EINVAL (size),
 * then EACCES (permissions).  Created by root with mode 0600, tried as
 * uid 1000.
 */
static void sc_get_error_order(void)
{
	G(0x5101, 4096, IPC_CREAT | 0600);
	pid_t c = child_as(1000, 1000);
	if (c == 0) {
		G(0x5101, 8192, IPC_CREAT | IPC_EXCL | 0600);
		G(0x5101, 4096, IPC_CREAT | IPC_EXCL);
		G(0x5101, 8192, 0600);
		G(0x5101, 8192, 0);
		G(0x5101, 4096, 0600);
		G(0x5101, 4096, 0400);
		G(0x5101, 4096, 0);
		G(0x5101, 0, IPC_CREAT | 0600);
		child_exit();
	}
	reap(c);
}

/* Which class of the mode applies: owner (uid or cuid), group (gid or
 * cgid), other.  Root creates, sets owner and group, uid 1000 tries. */
static void sc_get_perm_classes(void)
{
	int own = G(0x5201, 4096, IPC_CREAT | 0600);
	int grp = G(0x5202, 4096, IPC_CREAT | 0600);
	int oth = G(0x5203, 4096, IPC_CREAT | 0600);
	int own_nog = G(0x5204, 4096, IPC_CREAT | 0600);
	SET(own, 1000, 0, 0400);
	SET(grp, 0, 1000, 0060);
	SET(oth, 0, 0, 0004);
	SET(own_nog, 1000, 1000, 0066);   /* owner class has nothing */
	pid_t c = child_as(1000, 1000);
	if (c == 0) {
		G(0x5201, 0, 0400);
		G(0x5201, 0, 0600);
		A(own, NULL, SHM_RDONLY);
		A(own, NULL, 0);
		G(0x5202, 0, 0600);
		G(0x5202, 0, 0700);
		A(grp, NULL, 0);
		G(0x5203, 0, 0400);
		G(0x5203, 0, 0600);
		A(oth, NULL, SHM_RDONLY);
		A(oth, NULL, 0);
		G(0x5204, 0, 0400);
		G(0x5204, 0, 0);
		A(own_nog, NULL, SHM_RDONLY);
		ST(own_nog, NULL);
		ST(own, NULL);
		ST(grp, NULL);
		child_exit();
	}
	reap(c);
}

/* The creator's uid and gid count like the owner's, even after the owner
 * was changed. */
static void sc_get_creator_class(void)
{
	int id;
	pid_t c = child();
	if (c == 0) {
		/* root with egid 1000: cgid 1000 */
		int r = setresgid(1000, 1000, 1000);
		out("setresgid(1000) = %s", r < 0 ? fail(errno) : "0");
		id = G(0x5301, 4096, IPC_CREAT | 0060);
		ST(id, NULL);
		child_exit();
	}
	reap(c);
	id = G(0x5301, 0, 0);
	SET(id, 0, 0, 0060);                 /* gid 0, cgid still 1000 */
	int u = child_as(1000, 1000);
	if (u == 0) {
		int uid = G(0x5302, 4096, IPC_CREAT | 0600);
		SET(uid, 0, 0, 0600);            /* give it away: still the creator */
		ST(uid, NULL);
		G(0x5302, 0, 0600);
		SET(uid, 0, 0, 0066);
		G(0x5302, 0, 0400);              /* cuid: owner class, no read */
		G(0x5301, 0, 0600);              /* cgid 1000: group class */
		A(id, NULL, 0);
		child_exit();
	}
	reap(u);
}

/* Supplementary groups count; the kernel's in_group_p() also looks at
 * the fsgid. */
static void sc_get_groups(void)
{
	int id = G(0x5401, 4096, IPC_CREAT | 0040);
	SET(id, 0, 2000, 0040);
	pid_t c = child();
	if (c == 0) {
		gid_t g = 2000;
		become(1000, 1000, 1, &g);
		G(0x5401, 0, 0400);
		G(0x5401, 0, 0600);
		A(id, NULL, SHM_RDONLY);
		child_exit();
	}
	reap(c);
	c = child();
	if (c == 0) {
		become(1000, 1000, 0, NULL);
		G(0x5401, 0, 0400);
		child_exit();
	}
	reap(c);
	c = child();
	if (c == 0) {
		/* fsgid 2000, egid 1000 */
		int r = setgroups(0, NULL);
		if (r == 0)
			r = setresgid(1000, 1000, 1000);
		if (r == 0)
			r = setfsgid(2000) < 0 ? -1 : 0;
		if (r == 0)
			r = setresuid(1000, 1000, 1000);
		out("uid 1000, egid 1000, fsgid %d = %s", setfsgid((gid_t)-1), r < 0 ? fail(errno) : "0");
		G(0x5401, 0, 0400);
		child_exit();
	}
	reap(c);
}

/*
 * Root passes every permission check through CAP_IPC_OWNER and may change
 * or remove any segment through CAP_SYS_ADMIN; without them it is judged
 * by its uid like anyone else.
 */
static void sc_get_root_caps(void)
{
	int id;
	pid_t u = child_as(1000, 1000);
	if (u == 0) {
		G(0x5501, 4096, IPC_CREAT | 0600);
		child_exit();
	}
	reap(u);
	id = G(0x5501, 0, 0600);
	A(id, NULL, 0);
	ST(id, NULL);
	pid_t c = child();
	if (c == 0) {
		drop_cap(CAP_IPC_OWNER, "CAP_IPC_OWNER");
		G(0x5501, 0, 0600);
		G(0x5501, 0, 0);
		A(id, NULL, SHM_RDONLY);
		ST(id, NULL);
		SSTAT(id & 0x7fff, SHM_STAT);
		SSTAT(id & 0x7fff, SHM_STAT_ANY);
		SET(id, 1000, 1000, 0666);       /* CAP_SYS_ADMIN still there */
		G(0x5501, 0, 0600);
		drop_cap(CAP_SYS_ADMIN, "CAP_SYS_ADMIN");
		SET(id, 0, 0, 0666);
		RM(id);
		drop_cap(CAP_IPC_LOCK, "CAP_IPC_LOCK");
		C(id, SHM_LOCK, NULL);
		child_exit();
	}
	reap(c);
	ST(id, NULL);
}

/*
 * Ids of a fresh namespace: index 0 upwards, cyclic (a freed index is not
 * reused until the cycle wraps, below max(64, in_use * 3/2)), and the
 * sequence number grows when it wraps.  Printed raw: a fresh store must
 * hand out exactly these.
 */
static void sc_get_id_sequence(void)
{
	int ids[80];
	for (int i = 0; i < 5; i++) {
		ids[i] = shmget(IPC_PRIVATE, 4096, 0600);
		out("raw id %d = %d", i, ids[i]);
	}
	shmctl(ids[1], IPC_RMID, NULL);
	shmctl(ids[3], IPC_RMID, NULL);
	out("removed raw ids %d and %d", ids[1], ids[3]);
	for (int i = 5; i < 75; i++)
		ids[i] = shmget(IPC_PRIVATE, 4096, 0600);
	out("raw ids 5..74 = %d %d %d ... %d %d %d %d", ids[5], ids[6], ids[7], ids[71],
	    ids[72], ids[73], ids[74]);
	for (int i = 0; i < 75; i++)
		if (i != 1 && i != 3)
			shmctl(ids[i], IPC_RMID, NULL);
	for (int i = 0; i < 3; i++) {
		ids[i] = shmget(0x6000 + i, 4096, IPC_CREAT | 0600);
		out("raw id after removing all = %d", ids[i]);
	}
	struct shmid_ds d;
	shmctl(ids[0], IPC_STAT, &d);
	out("IPC_STAT(raw %d).seq = %u", ids[0], (unsigned)d.shm_perm.__seq);
	/* A removed segment that is still attached keeps its index. */
	void *p = shmat(ids[1], NULL, 0);
	shmctl(ids[1], IPC_RMID, NULL);
	int n = shmget(IPC_PRIVATE, 4096, 0600);
	out("raw id while a removed one is attached = %d", n);
	shmdt(p);
	n = shmget(IPC_PRIVATE, 4096, 0600);
	out("raw id after its last detach = %d", n);
}

/* Many segments: the highest index in use, used_ids, shm_tot. */
static void sc_get_many(void)
{
	int ids[200];
	int fails = 0;
	for (int i = 0; i < 200; i++) {
		ids[i] = shmget(IPC_PRIVATE, (size_t)(i + 1) * 100, 0600);
		fails += ids[i] < 0;
	}
	out("200 x shmget: %d failed, last %s", fails, id_new(ids[199]));
	IINFO();
	SINFO();
	for (int i = 0; i < 200; i += 2)
		shmctl(ids[i], IPC_RMID, NULL);
	out("removed every other one");
	IINFO();
	SINFO();
	for (int i = 199; i >= 150; i--)
		if (i & 1)
			shmctl(ids[i], IPC_RMID, NULL);
	out("removed the top 25");
	IINFO();
	SINFO();
	for (int i = 0; i < 10; i++)
		out("new raw id = %d", shmget(IPC_PRIVATE, 1, 0600));
}

/* A free range of 4 MiB that starts at a multiple of 2 MiB, named like
 * reserve()'s: huge page attaches must start at such an address. */
static char *reserve_huge_aligned(void)
{
	const uintptr_t huge = 2ul << 20;
	char *p = free_range(3 * huge);
	p = (char *)(((uintptr_t)p + huge - 1) & ~(huge - 1));
	out("reserve(2 MiB aligned) = %s", label_new((uintptr_t)p, 'R'));
	return p;
}

/* Attaches of a 2 MiB huge page segment: at an address one page past a
 * multiple of 2 MiB, which hugetlbfs refuses, at the multiple, and where
 * the kernel chooses, which is a multiple too (a program may pass that
 * address on for another process to attach at). */
static void attach_huge(int id)
{
	char *r = reserve_huge_aligned();
	A(id, r + PAGE, 0);
	void *p = A(id, r, 0);
	if (p != (void *)-1)
		D(p);
	p = A(id, NULL, 0);
	if (p != (void *)-1) {
		out("the address chosen is a multiple of 2 MiB: %s",
		    ((uintptr_t)p & ((2ul << 20) - 1)) ? "no" : "yes");
		D(p);
	}
}

/* SHM_HUGETLB and SHM_NORESERVE at creation.  What SHM_HUGETLB gets
 * depends on the machine's huge page pools (hugetlb.c): the default size,
 * 2 MiB and 1 GiB by name, a size the machine has no pool of (4 MiB), a
 * size below a page, and no reservation at all. */
static void sc_get_flags(void)
{
	int n = G(IPC_PRIVATE, 8192, IPC_CREAT | SHM_NORESERVE | 0600);
	ST(n, NULL);
	A(n, NULL, 0);
	G(IPC_PRIVATE, 2ul << 20, IPC_CREAT | SHM_HUGETLB | 0600);
	G(IPC_PRIVATE, 2ul << 20, IPC_CREAT | SHM_HUGETLB | (21 << SHM_HUGE_SHIFT) | 0600);
	G(IPC_PRIVATE, 2ul << 20, IPC_CREAT | SHM_HUGETLB | (30 << SHM_HUGE_SHIFT) | 0600);
	G(IPC_PRIVATE, 2ul << 20, IPC_CREAT | SHM_HUGETLB | (22 << SHM_HUGE_SHIFT) | 0600);
	G(IPC_PRIVATE, 2ul << 20, IPC_CREAT | SHM_HUGETLB | (9 << SHM_HUGE_SHIFT) | 0600);
	int h = G(IPC_PRIVATE, 3ul << 20, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | 0600);
	if (h >= 0) {
		attach_huge(h);
		/* A huge page segment: SHM_LOCK checks, and changes nothing. */
		C(h, SHM_LOCK, NULL);
		ST(h, NULL);
		C(h, SHM_UNLOCK, NULL);
		RM(h);
	}
}

/* SHM_HUGETLB against a pool of huge pages.  Without one (the machine's
 * usual state, and TestScenarios') every reservation fails;
 * TestHugetlbFollowsThePool runs it again with two pages free, with two
 * surplus pages allowed, and with the user in vm.hugetlb_shm_group.  The
 * kernel reserves the pages of a segment it accepts and gives them back
 * when it is destroyed; goshm reserves none (docs/DIFFERENCES.md), so
 * each accepted segment is removed before the next is asked for. */
static void sc_get_hugetlb_pool(void)
{
	G(IPC_PRIVATE, 6ul << 20, IPC_CREAT | SHM_HUGETLB | 0600);
	int id = G(IPC_PRIVATE, 4ul << 20, IPC_CREAT | SHM_HUGETLB | 0600);
	if (id >= 0) {
		attach_huge(id);
		C(id, SHM_LOCK, NULL);
		ST(id, NULL);
		RM(id);
	}
	id = G(IPC_PRIVATE, (4ul << 20) + 1, IPC_CREAT | SHM_HUGETLB | (21 << SHM_HUGE_SHIFT) | 0600);
	if (id >= 0)
		RM(id);
	id = G(IPC_PRIVATE, 1, IPC_CREAT | SHM_HUGETLB | (21 << SHM_HUGE_SHIFT) | 0600);
	if (id >= 0)
		RM(id);
	id = G(IPC_PRIVATE, 64ul << 20, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | 0600);
	if (id >= 0)
		RM(id);
}

/* A full table: SHMMNI (4096) segments, then ENOSPC -- after the checks
 * that come before the id is allocated. */
static void sc_get_table_full(void)
{
	static int ids[4096];
	int fails = 0, first = 0;
	for (int i = 0; i < 4096; i++) {
		ids[i] = shmget(IPC_PRIVATE, 1, 0600);
		if (ids[i] < 0 && !fails++)
			first = errno;
	}
	out("4096 x shmget: %d failed (%s)", fails, fails ? err_name(first) : "-");
	G(IPC_PRIVATE, 1, 0600);
	G(0xa001, 1, IPC_CREAT | 0600);
	G(IPC_PRIVATE, 0, 0600);
	G(IPC_PRIVATE, 1ul << 62, 0600);
	G(IPC_PRIVATE, SIZE_MAX, 0600);
	IINFO();
	SINFO();
	shmctl(ids[100], IPC_RMID, NULL);
	out("removed raw id %d", ids[100]);
	out("new raw id = %d", shmget(IPC_PRIVATE, 1, 0600));
	G(IPC_PRIVATE, 1, 0600);
	fails = 0;
	for (int i = 0; i < 4096; i++)
		if (i != 100)
			fails += shmctl(ids[i], IPC_RMID, NULL) < 0;
	out("removed the rest: %d failed", fails);
	IINFO();
}

/* The cyclic allocator when the cycle shrinks: with fewer segments in
 * use, max(64, in_use * 3/2) drops below the cursor and allocation wraps
 * to the lowest free index with a new sequence number. */
static void sc_get_id_cycle_shrink(void)
{
	static int ids[100];
	for (int i = 0; i < 100; i++)
		ids[i] = shmget(IPC_PRIVATE, 1, 0600);
	out("100 raw ids, last = %d", ids[99]);
	for (int i = 0; i < 95; i++)
		if (i % 10)
			shmctl(ids[i], IPC_RMID, NULL);
	out("removed all but every tenth of the first 95");
	for (int i = 0; i < 5; i++)
		out("new raw id = %d", shmget(IPC_PRIVATE, 1, 0600));
	for (int i = 95; i < 100; i++)
		shmctl(ids[i], IPC_RMID, NULL);
	for (int i = 0; i < 70; i++)
		ids[i] = shmget(IPC_PRIVATE, 1, 0600);
	out("70 more raw ids: %d %d ... %d %d", ids[0], ids[1], ids[68], ids[69]);
	IINFO();
}

/* The RLIMIT_NOFILE that leaves exactly n descriptor numbers free (a new
 * descriptor takes the lowest free number below the limit). */
static int limit_leaving(int n)
{
	int fd = 0;
	for (;; fd++)
		if (fcntl(fd, F_GETFD) < 0 && --n == 0)
			return fd + 1;
}

/*
 * A process with two descriptors, then one, left under RLIMIT_NOFILE: the
 * kernel's calls need none.  goshm holds the registry and a data file open
 * during a call, so with one left its shmget fails (a known difference;
 * GOSHM_QUIET keeps its diagnostic line out of the comparison).
 */
static void sc_get_fd_limit(void)
{
	setenv("GOSHM_QUIET", "1", 1);
	for (int spare = 2; spare >= 1; spare--) {
		pid_t c = child();
		if (c == 0) {
			struct rlimit rl = {0, 0};
			getrlimit(RLIMIT_NOFILE, &rl);
			rl.rlim_cur = (rlim_t)limit_leaving(spare);
			int r = setrlimit(RLIMIT_NOFILE, &rl);
			out("RLIMIT_NOFILE leaving %d descriptors free: %s", spare, r < 0 ? fail(errno) : "0");
			int id = G(IPC_PRIVATE, 4096, 0600);
			if (spare == 1) {
				shmctl(id, IPC_RMID, NULL); /* unlogged: may have failed */
				child_exit();
			}
			void *p = A(id, NULL, 0);
			NAT(id);
			D(p);
			RM(id);
			child_exit();
		}
		reap(c);
	}
}

/*
 * kernel.shm_next_id (checkpoint/restore, LTP shmget05/06): the next
 * shmget of the namespace gets that id.  A namespace's sysctls do not
 * reach goshm's store (docs/DIFFERENCES.md): a known difference.  Needs
 * root to write the sysctl.
 */
static void sc_get_next_id(void)
{
	FILE *f = fopen("/proc/sys/kernel/shm_next_id", "we");
	int r = f && fprintf(f, "12345\n") > 0 ? 0 : -1;
	if (f && fclose(f) != 0)
		r = -1;
	out("echo 12345 > /proc/sys/kernel/shm_next_id = %s", r < 0 ? fail(errno) : "0");
	out("raw id after setting shm_next_id = %d", shmget(IPC_PRIVATE, 4096, 0600));
	out("raw id after that = %d", shmget(IPC_PRIVATE, 4096, 0600));
}

#endif /* CONF_SC_GET_H */
