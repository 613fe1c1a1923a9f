/*
 * sc_ctl.h - shmctl scenarios (LTP shmctl01-08 and more): IPC_STAT over a
 * segment's life, IPC_SET, IPC_RMID, IPC_INFO, SHM_INFO, SHM_STAT(_ANY),
 * SHM_LOCK/SHM_UNLOCK, bad buffers, bad commands, bad ids.
 */
#ifndef CONF_SC_CTL_H
#define CONF_SC_CTL_H

#include "calls.h"
#include "mem.h"
#include "proc.h"
#include "worker.h"

/* Every field after create, attach, detach, IPC_SET. */
static void sc_ctl_stat_life(void)
{
	struct shmid_ds d0, d1;
	int id = G(0x8001, 5000, IPC_CREAT | 0640);
	ST(id, &d0);
	char *a = A(id, NULL, 0);
	ST(id, NULL);
	char *b = A(id, NULL, SHM_RDONLY);
	ST(id, NULL);
	D(a);
	ST(id, NULL);
	D(b);
	ST(id, &d1);
	out("ctime unchanged by attach/detach = %s",
	    d1.shm_ctime == d0.shm_ctime ? "yes" : "no");
	SET(id, 0, 0, 0604);
	ST(id, NULL);
}

/* IPC_SET changes ctime, attach and detach do not; does SHM_LOCK?  Seen
 * across second boundaries. */
static void sc_ctl_set_ctime(void)
{
	struct shmid_ds d0, d1, d2;
	int id = G(IPC_PRIVATE, 4096, 0600);
	ST(id, &d0);
	sleep_ms(1100);
	char *a = A(id, NULL, 0);
	D(a);
	ST(id, &d1);
	out("attach/detach changed ctime = %s", d1.shm_ctime != d0.shm_ctime ? "yes" : "no");
	out("atime, dtime after ctime = %s",
	    d1.shm_atime > d0.shm_ctime && d1.shm_dtime > d0.shm_ctime ? "yes" : "no");
	SET(id, 0, 0, 0600);
	ST(id, &d2);
	out("IPC_SET changed ctime = %s", d2.shm_ctime > d0.shm_ctime ? "yes" : "no");
	sleep_ms(1100);
	C(id, SHM_LOCK, NULL);
	C(id, SHM_UNLOCK, NULL);
	ST(id, &d1);
	out("SHM_LOCK/SHM_UNLOCK changed ctime = %s", d1.shm_ctime != d2.shm_ctime ? "yes" : "no");
	RM(id);
}

/* What IPC_SET takes from the buffer, and what it refuses. */
static void sc_ctl_set_fields(void)
{
	int id = G(0x8101, 4096, IPC_CREAT | 0600);
	char *a = A(id, NULL, 0);
	SET(id, 0, 0, 07777 | SHM_DEST | SHM_LOCKED);
	ST(id, NULL);
	SET(id, 0, 0, 0);
	ST(id, NULL);
	SET(id, (unsigned)-1, 0, 0600);
	SET(id, 0, (unsigned)-1, 0600);
	SET(id, 123456, 654321, 0640);
	ST(id, NULL);
	SET(id, 0, 0, 0600);
	RM(id);
	SET(id, 0, 0, 0666);         /* a removed segment keeps SHM_DEST */
	ST(id, NULL);
	struct shmid_ds d;
	memset(&d, 0, sizeof d);
	d.shm_perm.mode = 0644;
	d.shm_segsz = 1;
	d.shm_perm.__key = 77;
	d.shm_perm.cuid = 5;
	d.shm_nattch = 9;
	d.shm_atime = 1;
	out("IPC_SET with other fields set = %s",
	    shmctl(id, IPC_SET, &d) < 0 ? fail(errno) : "0");
	ST(id, NULL);
	D(a);
	ST(id, NULL);
}

/* IPC_SET reads its buffer before it looks the id up: EFAULT first. */
static void sc_ctl_set_efault(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	C(id, IPC_SET, NULL);
	C(12345, IPC_SET, NULL);
	C(-1, IPC_SET, NULL);
	C(id, IPC_STAT, NULL);
	C(12345, IPC_STAT, NULL);
	C(-1, IPC_STAT, NULL);
	C(id, IPC_INFO, NULL);
	C(id, SHM_INFO, NULL);
	C(0, SHM_STAT, NULL);
	C(5, SHM_STAT, NULL);
	C(0, SHM_STAT_ANY, NULL);
	C(5, SHM_STAT_ANY, NULL);
	C(id, IPC_RMID, NULL);
	C(id, IPC_STAT, NULL);
	C(id, IPC_INFO, NULL);
}

/* Who may IPC_SET and IPC_RMID: owner, creator, CAP_SYS_ADMIN. */
static void sc_ctl_set_perm(void)
{
	int id = G(0x8201, 4096, IPC_CREAT | 0666);
	pid_t c = child_as(1000, 1000);
	if (c == 0) {
		SET(id, 1000, 1000, 0600);
		SET(id, (unsigned)-1, 1000, 0600); /* EPERM before EINVAL */
		RM(id);
		C(id, SHM_LOCK, NULL);
		C(id, SHM_UNLOCK, NULL);
		ST(id, NULL);
		child_exit();
	}
	reap(c);
	SET(id, 1000, 0, 0600);
	c = child_as(1000, 1000);
	if (c == 0) {
		SET(id, 1000, 1000, 0640);       /* the owner may */
		SET(id, 0, 0, 0640);             /* and give it away */
		SET(id, 1000, 1000, 0640);       /* not the creator: EPERM */
		ST(id, NULL);
		child_exit();
	}
	reap(c);
	ST(id, NULL);
	c = child_as(1000, 1000);
	if (c == 0) {
		int mine = G(0x8202, 4096, IPC_CREAT | 0600);
		SET(mine, 0, 0, 0600);           /* creator: still may */
		SET(mine, 0, 0, 0640);
		ST(mine, NULL);
		RM(mine);
		child_exit();
	}
	reap(c);
	RM(id);
}

/* IPC_RMID of a detached segment: gone at once, with its key. */
static void sc_ctl_rmid(void)
{
	int id = G(0x8301, 4096, IPC_CREAT | 0600);
	RM(id);
	ST(id, NULL);
	RM(id);
	G(0x8301, 0, 0);
	A(id, NULL, 0);
	SSTAT(id & 0x7fff, SHM_STAT);
	IINFO();
	int n = G(0x8301, 4096, IPC_CREAT | 0600);
	ST(n, NULL);
}

/*
 * IPC_RMID while attached: the key is free at once (the same key makes a
 * new segment), the old one has key 0 and SHM_DEST, stays usable and even
 * attachable by id, and is destroyed at its last detach.
 */
static void sc_ctl_rmid_attached(void)
{
	int id = G(0x8401, 4096, IPC_CREAT | 0600);
	char *a = A(id, NULL, 0);
	strcpy(a, "old");
	RM(id);
	ST(id, NULL);
	G(0x8401, 0, 0);
	int n = G(0x8401, 4096, IPC_CREAT | 0600);
	char *b = A(n, NULL, 0);
	out("new segment is zeroed = %s", b[0] == 0 ? "yes" : "no");
	G(0x8401, 0, 0);
	char *c = A(id, NULL, SHM_RDONLY);
	out("removed segment attached again reads \"%s\"", c == (void *)-1 ? "-" : c);
	NAT(id);
	RM(id);                      /* again: fine */
	SET(id, 0, 0, 0644);
	C(id, SHM_LOCK, NULL);
	ST(id, NULL);
	SSTAT(id & 0x7fff, SHM_STAT);
	SINFO();
	D(a);
	ST(id, NULL);
	D(c);
	ST(id, NULL);
	A(id, NULL, 0);
	RM(id);
	SINFO();
	ST(n, NULL);
	D(b);
}

/* IPC_RMID by another user: EPERM, also with write permission. */
static void sc_ctl_rmid_perm(void)
{
	int id = G(0x8501, 4096, IPC_CREAT | 0666);
	pid_t c = child_as(1000, 1000);
	if (c == 0) {
		RM(id);
		char *p = A(id, NULL, 0);
		POKE(p, 3);
		D(p);
		child_exit();
	}
	reap(c);
	ST(id, NULL);
	SET(id, 0, 1000, 0666);      /* group does not make an owner */
	c = child_as(1000, 1000);
	if (c == 0) {
		RM(id);
		child_exit();
	}
	reap(c);
	RM(id);
}

/* IPC_INFO: the limits, and the highest index in use as the result. */
static void sc_ctl_info(void)
{
	IINFO();
	SINFO();
	int a = G(IPC_PRIVATE, 4096, 0600);
	int b = G(IPC_PRIVATE, 3 * 4096 + 1, 0600);
	int c = G(IPC_PRIVATE, 100, 0600);
	IINFO();
	SINFO();
	char *p = A(b, NULL, 0);
	memset(p, 1, 3 * 4096);
	SINFO();
	D(p);
	RM(c);
	IINFO();
	SINFO();
	RM(a);
	IINFO();
	RM(b);
	IINFO();
	SINFO();
	C(12345, IPC_INFO, &(struct shmid_ds){0});
	C(-1, IPC_INFO, &(struct shmid_ds){0});
	C(-1, SHM_INFO, &(struct shmid_ds){0});
}

/* SHM_STAT and SHM_STAT_ANY take an index and return the id. */
static void sc_ctl_shm_stat(void)
{
	SSTAT(0, SHM_STAT);
	int a = G(0x8601, 4096, IPC_CREAT | 0600);
	int b = G(0x8602, 4096, IPC_CREAT | 0000);
	SSTAT(0, SHM_STAT);
	SSTAT(1, SHM_STAT);
	SSTAT(1, SHM_STAT_ANY);
	SSTAT(2, SHM_STAT);
	SSTAT(-1, SHM_STAT);
	SSTAT(4095, SHM_STAT);
	SSTAT(4096, SHM_STAT);
	SSTAT(a, SHM_STAT);
	SSTAT(b, SHM_STAT_ANY);
	SSTAT(b + (5 << 15), SHM_STAT_ANY);
	RM(a);
	SSTAT(0, SHM_STAT);
	SSTAT(0, SHM_STAT_ANY);
	C(b, SHM_STAT, &(struct shmid_ds){0});
}

/* SHM_STAT checks read permission, SHM_STAT_ANY does not. */
static void sc_ctl_shm_stat_perm(void)
{
	int id = G(0x8701, 4096, IPC_CREAT | 0600);
	int pub = G(0x8702, 4096, IPC_CREAT | 0604);
	pid_t c = child_as(1000, 1000);
	if (c == 0) {
		SSTAT(id & 0x7fff, SHM_STAT);
		SSTAT(id & 0x7fff, SHM_STAT_ANY);
		SSTAT(pub & 0x7fff, SHM_STAT);
		ST(id, NULL);
		ST(pub, NULL);
		IINFO();
		SINFO();
		child_exit();
	}
	reap(c);
}

/* SHM_LOCK / SHM_UNLOCK by the owner, with the SHM_LOCKED mode bit. */
static void sc_ctl_lock(void)
{
	int id = G(IPC_PRIVATE, 8192, 0600);
	C(id, SHM_LOCK, NULL);
	ST(id, NULL);
	C(id, SHM_LOCK, NULL);
	char *a = A(id, NULL, 0);
	a[0] = 1;
	ST(id, NULL);
	C(id, SHM_UNLOCK, NULL);
	ST(id, NULL);
	C(id, SHM_UNLOCK, NULL);
	C(id, SHM_LOCK, NULL);
	SET(id, 0, 0, 0644);         /* keeps SHM_LOCKED */
	ST(id, NULL);
	SET(id, 0, 0, 0600);
	RM(id);
	ST(id, NULL);
	C(id, SHM_UNLOCK, NULL);
	D(a);
	C(id, SHM_LOCK, NULL);
	C(-1, SHM_LOCK, NULL);
	C(12345, SHM_UNLOCK, NULL);
}

/* RLIMIT_MEMLOCK: 0 forbids SHM_LOCK (not SHM_UNLOCK) without
 * CAP_IPC_LOCK; a segment larger than the limit cannot be locked. */
static void sc_ctl_lock_rlimit(void)
{
	int small = G(IPC_PRIVATE, 4096, 0600);
	int big = G(IPC_PRIVATE, 3 * 4096, 0600);
	pid_t c = child();
	if (c == 0) {
		set_memlock(0);
		C(small, SHM_LOCK, NULL);
		C(small, SHM_UNLOCK, NULL);
		set_memlock(2 * 4096);
		C(big, SHM_LOCK, NULL);
		C(small, SHM_LOCK, NULL);
		ST(small, NULL);
		set_memlock(0);
		C(small, SHM_LOCK, NULL);    /* already locked: still EPERM */
		C(small, SHM_UNLOCK, NULL);
		ST(small, NULL);
		child_exit();
	}
	reap(c);
}

/* The kernel charges locked segments to the user together; goshm checks
 * each one alone (docs/DIFFERENCES.md, "Memory behaviour"). */
static void sc_ctl_lock_sum(void)
{
	int a = G(IPC_PRIVATE, 60 * 4096, 0600);
	int b = G(IPC_PRIVATE, 60 * 4096, 0600);
	pid_t c = child();
	if (c == 0) {
		set_memlock(100 * 4096);
		C(a, SHM_LOCK, NULL);
		C(b, SHM_LOCK, NULL);
		C(a, SHM_UNLOCK, NULL);
		C(b, SHM_UNLOCK, NULL);
		child_exit();
	}
	reap(c);
}

/* SHM_LOCK by someone else: EPERM without CAP_IPC_LOCK. */
static void sc_ctl_lock_perm(void)
{
	int id = G(0x8801, 4096, IPC_CREAT | 0666);
	pid_t c = child_as(1000, 1000);
	if (c == 0) {
		C(id, SHM_LOCK, NULL);
		C(id, SHM_UNLOCK, NULL);
		child_exit();
	}
	reap(c);
	C(id, SHM_LOCK, NULL);
	c = child_as(1000, 1000);
	if (c == 0) {
		C(id, SHM_UNLOCK, NULL);
		ST(id, NULL);
		child_exit();
	}
	reap(c);
	SET(id, 1000, 1000, 0600);
	c = child_as(1000, 1000);
	if (c == 0) {
		C(id, SHM_UNLOCK, NULL);       /* now the owner */
		ST(id, NULL);
		child_exit();
	}
	reap(c);
}

/*
 * A call is judged by the calling thread's effective uid at that moment:
 * after seteuid(), which the C library applies to every thread; after a
 * raw setresuid system call, which changes the calling thread's only;
 * after each way back; in a thread made while the ids were changed.
 * Segment a is root's 0600, b is uid 1000's 0600.  Each probe makes the
 * calls that goshm answers without its lock: IPC_STAT, shmget of the key
 * with a mode, shmat.
 */
struct creds_probe {
	const char *who;
	int a, b;
};

static void creds_probe(void *arg)
{
	const struct creds_probe *p = arg;
	struct shmid_ds d;
	out("%s: euid %u", p->who, (unsigned)geteuid());
	C(p->a, IPC_STAT, &d);
	C(p->b, IPC_STAT, &d);
	G(0x8901, 0, 0600);
	char *at = A(p->a, NULL, SHM_RDONLY);
	if (at != (char *)-1)
		D(at);
}

static void creds_raw_euid(void *arg)
{
	unsigned euid = *(const unsigned *)arg;
	long r = syscall(SYS_setresuid, -1, euid, -1);
	out("raw setresuid(-1, %u, -1) on this thread = %s", euid, r < 0 ? fail(errno) : "0");
}

static void creds_seteuid(void *arg)
{
	unsigned euid = *(const unsigned *)arg;
	int r = seteuid(euid);
	out("seteuid(%u) = %s", euid, r < 0 ? fail(errno) : "0");
}

static void sc_ctl_creds(void)
{
	static const unsigned root = 0, user = 1000;
	int a = G(0x8901, 4096, IPC_CREAT | 0600);
	int b = G(0x8902, 4096, IPC_CREAT | 0600);
	SET(b, 1000, 1000, 0600);
	pid_t c = child();
	if (c == 0) {
		struct worker w, w2;
		struct creds_probe main_thread = {"main", a, b}, other = {"worker", a, b},
		                   newer = {"thread made as 1000", a, b};
		worker_start(&w);
		creds_probe(&main_thread);
		worker_run(&w, creds_probe, &other);

		creds_seteuid((void *)&user); /* every thread */
		creds_probe(&main_thread);
		worker_run(&w, creds_probe, &other);
		creds_seteuid((void *)&root);
		creds_probe(&main_thread);
		worker_run(&w, creds_probe, &other);

		creds_raw_euid((void *)&user); /* this thread only */
		creds_probe(&main_thread);
		worker_run(&w, creds_probe, &other);
		worker_start(&w2);
		worker_run(&w2, creds_probe, &newer);
		worker_stop(&w2);
		creds_raw_euid((void *)&root);
		creds_probe(&main_thread);

		worker_run(&w, creds_raw_euid, (void *)&user); /* the other thread only */
		creds_probe(&main_thread);
		worker_run(&w, creds_probe, &other);
		worker_run(&w, creds_raw_euid, (void *)&root);
		worker_run(&w, creds_probe, &other);

		worker_run(&w, creds_seteuid, (void *)&user); /* from the other thread: every thread */
		creds_probe(&main_thread);
		worker_run(&w, creds_seteuid, (void *)&root);
		creds_probe(&main_thread);
		worker_stop(&w);
		child_exit();
	}
	reap(c);
	RM(a);
	RM(b);
}

/*
 * A process made in a new user namespace reads the overflow uid (65534)
 * until a uid map is written, and then the mapped one, without a call of
 * its own in between: a library that kept the 65534 it read would judge
 * the call after the map by it.  Before the map the kernel judges by the
 * uid outside the namespace, which goshm does not see (docs/DIFFERENCES.md):
 * that call is made but not compared.  Without CAP_IPC_OWNER, which the
 * new namespace gives, only the uid can grant the access.  clone(), not
 * unshare(): a process with libgoshm-go.so's threads cannot unshare a user
 * namespace, but it can make a child in one.
 */
struct creds_userns {
	int id, n;
};

static int creds_userns_child(void *arg)
{
	const struct creds_userns *u = arg;
	struct shmid_ds d;
	snprintf(me, sizeof me, "child#%d", u->n);
	step = 0;
	out("in a new user namespace, euid %u", (unsigned)geteuid());
	drop_cap(CAP_IPC_OWNER, "CAP_IPC_OWNER");
	shmctl(u->id, IPC_STAT, &d); /* as the overflow uid: not compared */
	int fd = open("/proc/self/uid_map", O_WRONLY);
	ssize_t w = fd < 0 ? -1 : write(fd, "0 0 1\n", 6);
	out("uid map written = %s, euid %u", w == 6 ? "yes" : fail(errno), (unsigned)geteuid());
	if (fd >= 0)
		close(fd);
	C(u->id, IPC_STAT, &d);
	return 0;
}

static void sc_ctl_creds_userns(void)
{
	const size_t stack_len = 256 * 1024;
	struct shmid_ds d;
	int a = G(0x8903, 4096, IPC_CREAT | 0600);
	C(a, IPC_STAT, &d); /* this thread has read its ids */
	struct creds_userns u = {a, ++sh->nchildren};
	char *stack = mmap(NULL, stack_len, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	pid_t p = stack == MAP_FAILED ? -1
	                              : clone(creds_userns_child, stack + stack_len,
	                                      CLONE_NEWUSER | SIGCHLD, &u);
	if (p < 0) {
		out("clone(CLONE_NEWUSER) = %s", fail(errno));
	} else {
		sh->children[u.n] = p;
		reap(p);
	}
	if (stack != MAP_FAILED)
		munmap(stack, stack_len);
	RM(a);
}

/* Unknown commands and negative ids or commands. */
static void sc_ctl_badcmd(void)
{
	struct shmid_ds d;
	int id = G(IPC_PRIVATE, 4096, 0600);
	static const int cmds[] = {-1, 4, 5, 10, 16, 17, 99, 0x100 | IPC_STAT,
	                           0x100 | IPC_RMID, 0x100 | IPC_SET, 0x100 | IPC_INFO,
	                           0x100 | SHM_STAT, 0x100 | SHM_LOCK, INT_MAX, INT_MIN};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		memset(&d, 0, sizeof d);
		C(id, cmds[i], &d);
	}
	static const int good[] = {IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO, SHM_LOCK,
	                           SHM_UNLOCK, SHM_STAT, SHM_INFO, SHM_STAT_ANY};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		memset(&d, 0, sizeof d);
		d.shm_perm.mode = 0600;
		C(-1, good[i], &d);
		C(INT_MIN, good[i], &d);
	}
	C(-1, 99, NULL);
	C(-5, -5, NULL);
	ST(id, NULL);
}

#endif /* CONF_SC_CTL_H */
