/*
 * conf_sem_fuzz SEED [STEPS] - random System V semaphore calls, one line
 * per call, for tests/conformance/sem_fuzz_test.go to compare between the
 * kernel (a fresh IPC namespace) and goshm (a fresh store).
 *
 * Keys, ids, sizes, flags, operations and commands are drawn from a
 * seeded generator, mixing valid and invalid values: semget with every
 * flag and nsems from 0 to past SEMMSL; semop and semtimedop with 0 to
 * past SEMOPM operations, semaphore numbers in and out of range, values
 * near SEMVMX, SEM_UNDO; semctl with every command, values out of range,
 * NULL buffers, and IPC_SET of the owner and mode.  Now and then a forked
 * child makes a few calls (SEM_UNDO above all) and exits or is killed;
 * the parent waits for it, so that its adjustments have been applied
 * before the parent's next call, as the kernel applies them inside the
 * child's exit.
 *
 * The run is deterministic: one process at a time, and no call ever
 * waits -- every semop says IPC_NOWAIT on each operation, and semtimedop
 * that may wait has a zero timeout.  What differs between two correct
 * runs is printed as a name: times as "0" or "set", pids as "0", "self",
 * "parent", "child" (the last child) or "other".  Ids are printed raw:
 * goshm gives the kernel's ids (below 2730 sets).
 *
 * Left out on purpose: pointers that are neither NULL nor valid (goshm
 * faults where the kernel returns EFAULT: docs/DIFFERENCES.md, "Bad
 * pointers"), GETNCNT and GETZCNT with waiters (there are none: nothing
 * waits), more SEM_UNDO processes or waiters than goshm tracks, and
 * more sets than goshm keeps mapped (MAX_IDS).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/out.h" /* out(), one line per call, and errno names */
#include "conf/rng.h"

#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif

#define SEMMSL 32000
#define SEMOPM 500
/* Fewer sets than goshm keeps mapped while idle (64): a process that
 * unmaps a set lets go of an undo record with no adjustment in it, and
 * its exit then leaves otime alone (docs/DIFFERENCES.md, "otime at the
 * exit of a SEM_UNDO caller"). */
#define MAX_IDS 48

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

static pid_t parent_pid, kid;
static int ids[MAX_IDS], nids;

/* A result: the value, or -1 and errno's name. */
static const char *res(long r)
{
	static char buf[4][64];
	static int k;
	char *b = buf[k++ % 4];
	if (r < 0)
		snprintf(b, 64, "-1 %s", err_name(errno));
	else
		snprintf(b, 64, "%ld", r);
	return b;
}

static const char *pidn(pid_t p)
{
	if (p == 0)
		return "0";
	if (p == getpid())
		return "self";
	if (p == parent_pid)
		return "parent";
	if (p == kid)
		return "child";
	return "other";
}

static const char *tmn(time_t t) { return t ? "set" : "0"; }

/* An id: mostly one semget gave (live or removed), else the same index
 * with another sequence number, or one that was never given. */
static int any_id(void)
{
	static const int bogus[] = {-1, INT_MIN, 0, 1, 2, 32767, 32768, 32769, INT_MAX, 5 << 15};
	int k = pick(12);
	if (nids && k < 8)
		return ids[pick(nids)];
	if (nids && k < 10)
		return ids[pick(nids)] + (pick(2) ? 32768 : -32768);
	return PICK(bogus);
}

/* The set's size, asked without a line (0: no set). */
static int nsems_of(int id)
{
	struct semid_ds d;
	union semun a = {.buf = &d};
	int e = errno;
	int r = semctl(id, 0, IPC_STAT, a);
	errno = e;
	return r < 0 ? 0 : (int)d.sem_nsems;
}

/* A semaphore number: mostly in range. */
static int any_num(int nsems)
{
	static const int odd[] = {63, 64, 65, 500, 32767, 65535};
	if (nsems && pick(6))
		return pick(nsems);
	if (nsems && pick(2))
		return nsems;
	return PICK(odd);
}

static void op_semget(void)
{
	static const key_t keys[] = {IPC_PRIVATE, 0x5e01, 0x5e02, 0x5e03, -7};
	static const int sizes[] = {0, 1, 1, 2, 3, 5, 64, 65, SEMMSL + 1, -1, INT_MAX};
	static const int how[] = {0, IPC_CREAT, IPC_CREAT | IPC_EXCL, IPC_EXCL};
	static const int modes[] = {0600, 0666, 0400, 0200, 0, 0644, 0777, 0440};
	int flg = PICK(how) | (pick(4) ? PICK(modes) : (int)(rnd() & 0777));
	key_t key = PICK(keys);
	/* SEMMSL itself now and then: a big set (32000 semaphores). */
	int nsems = pick(40) ? PICK(sizes) : SEMMSL;
	int id = semget(key, nsems, flg);
	out("semget(%#x, %d, %#o) = %s", (unsigned)key, nsems, (unsigned)flg, res(id));
	if (id >= 0 && nids < MAX_IDS) {
		for (int i = 0; i < nids; i++)
			if (ids[i] == id)
				return;
		ids[nids++] = id;
	}
}

static short any_op(void)
{
	static const short ops[] = {-1, -1, 0, 0, 1, 1, 2, -2, 3, 32767, -32767, -32768,
	                            16384, -16384, 32766, 100};
	return PICK(ops);
}

/* Operations: nsops of them (the kernel copies at most SEMOPM). */
static void fill_ops(struct sembuf *b, size_t nsops, int nsems, int nowait)
{
	for (size_t i = 0; i < nsops && i < SEMOPM + 1; i++) {
		b[i].sem_num = (unsigned short)any_num(nsems);
		b[i].sem_op = any_op();
		b[i].sem_flg = (short)((pick(3) == 0 ? SEM_UNDO : 0) |
		                       (nowait || pick(2) ? IPC_NOWAIT : 0));
	}
}

static void ops_text(char *t, size_t len, const struct sembuf *b, size_t nsops)
{
	size_t n = 0;
	t[0] = 0;
	for (size_t i = 0; i < nsops && i < 4 && n < len; i++)
		n += (size_t)snprintf(t + n, len - n, "%s{%u,%d,%s%s}", i ? "," : "", b[i].sem_num,
		                      b[i].sem_op, b[i].sem_flg & SEM_UNDO ? "U" : "",
		                      b[i].sem_flg & IPC_NOWAIT ? "N" : "");
	if (nsops > 4 && n < len)
		snprintf(t + n, len - n, ",+%zu", (nsops < SEMOPM + 1 ? nsops : SEMOPM + 1) - 4);
}

/*
 * semop (every operation IPC_NOWAIT) or semtimedop (a zero timeout, so
 * that any flags do, or an invalid one), on 1..4 operations mostly, now
 * and then 0, SEMOPM or SEMOPM + 1 of them, or more than the 32 that
 * goshm keeps with a waiter.
 */
static void op_semop(void)
{
	static struct sembuf b[SEMOPM + 1];
	/* The kernel takes nsops as an unsigned int: 2^32 + 2 is 2. */
	static const size_t many[] = {0, 33, SEMOPM, SEMOPM + 1, 7, (1ul << 32) + 2, 1ul << 32};
	int id = any_id();
	int nsems = nsems_of(id);
	size_t nsops = pick(8) ? 1 + (size_t)pick(4) : PICK(many);
	int timed = pick(3) == 0;
	fill_ops(b, nsops, nsems, !timed);
	char t[256];
	ops_text(t, sizeof t, b, nsops);
	/* Now and then no operations at all: EFAULT, in its place among the
	 * other checks. */
	struct sembuf *sops = b;
	if (pick(20) == 0) {
		sops = NULL;
		snprintf(t, sizeof t, "NULL");
	}
	int r;
	if (!timed) {
		r = semop(id, sops, nsops);
		out("semop(%d, [%s], %zu) = %s", id, t, nsops, res(r));
		return;
	}
	static const struct timespec bad[] = {{0, -1}, {0, 1000000000}, {-1, 0}};
	struct timespec ts = {0, 0};
	int badt = pick(8) == 0;
	if (badt)
		ts = PICK(bad);
	r = semtimedop(id, sops, nsops, &ts);
	out("semtimedop(%d, [%s], %zu, {%ld,%ld}) = %s", id, t, nsops, (long)ts.tv_sec,
	    ts.tv_nsec, res(r));
}

static void stat_text(char *t, size_t len, const struct semid_ds *d)
{
	snprintf(t, len, "{key=%#x uid=%u gid=%u cuid=%u cgid=%u mode=%#o seq=%u nsems=%lu otime=%s ctime=%s}",
	         (unsigned)d->sem_perm.__key, d->sem_perm.uid, d->sem_perm.gid, d->sem_perm.cuid,
	         d->sem_perm.cgid, (unsigned)d->sem_perm.mode, (unsigned)d->sem_perm.__seq,
	         (unsigned long)d->sem_nsems, tmn(d->sem_otime), tmn(d->sem_ctime));
}

static void info_text(char *t, size_t len, const struct seminfo *i)
{
	snprintf(t, len, "{map=%d mni=%d mns=%d mnu=%d msl=%d opm=%d ume=%d usz=%d vmx=%d aem=%d}",
	         i->semmap, i->semmni, i->semmns, i->semmnu, i->semmsl, i->semopm, i->semume,
	         i->semusz, i->semvmx, i->semaem);
}

/* GETALL's values: the first ones and a checksum of all. */
static void all_text(char *t, size_t len, const unsigned short *v, int n)
{
	size_t k = 0;
	uint64_t sum = 0;
	for (int i = 0; i < n; i++)
		sum = sum * 31 + v[i];
	for (int i = 0; i < n && i < 6; i++)
		k += (size_t)snprintf(t + k, len - k, "%s%u", i ? "," : "", v[i]);
	snprintf(t + k, len - k, "%s sum=%llx", n > 6 ? ",..." : "", (unsigned long long)sum);
}

static void ctl_stat(int id, int cmd, int null)
{
	const char *name = cmd == IPC_STAT ? "IPC_STAT" : cmd == SEM_STAT ? "SEM_STAT" : "SEM_STAT_ANY";
	struct semid_ds d;
	memset(&d, 0, sizeof d);
	union semun a = {.buf = null ? NULL : &d};
	int r = semctl(id, 0, cmd, a);
	char t[512] = "";
	if (r >= 0)
		stat_text(t, sizeof t, &d);
	out("semctl(%d, 0, %s%s) = %s %s", id, name, null ? ", NULL" : "", res(r), t);
}

static void ctl_info(int id, int cmd, int null)
{
	struct seminfo si;
	memset(&si, 0, sizeof si);
	union semun a = {.__buf = null ? NULL : &si};
	int r = semctl(id, 0, cmd, a);
	char t[512] = "";
	if (r >= 0)
		info_text(t, sizeof t, &si);
	out("semctl(%d, 0, %s%s) = %s %s", id, cmd == IPC_INFO ? "IPC_INFO" : "SEM_INFO",
	    null ? ", NULL" : "", res(r), t);
}

static void ctl_set(int id, int null)
{
	static const unsigned uids[] = {0, 1000, 12345, (unsigned)-1};
	static const unsigned modes[] = {0600, 0666, 0400, 0200, 0, 0644, 01777, 0177777};
	struct semid_ds d;
	memset(&d, 0, sizeof d);
	/* Mostly the caller's own ids, so that the set stays usable. */
	d.sem_perm.uid = pick(2) ? getuid() : PICK(uids);
	d.sem_perm.gid = pick(2) ? getgid() : PICK(uids);
	d.sem_perm.mode = (unsigned short)(pick(3) ? PICK(modes) : (rnd() & 0777));
	union semun a = {.buf = null ? NULL : &d};
	int r = semctl(id, 0, IPC_SET, a);
	if (null)
		out("semctl(%d, 0, IPC_SET, NULL) = %s", id, res(r));
	else
		out("semctl(%d, 0, IPC_SET, {uid=%u gid=%u mode=%#o}) = %s", id, d.sem_perm.uid,
		    d.sem_perm.gid, (unsigned)d.sem_perm.mode, res(r));
}

static unsigned short vals[SEMMSL + 2];

static void ctl_all(int id, int cmd, int null)
{
	int nsems = nsems_of(id);
	union semun a = {.array = null ? NULL : vals};
	char t[256] = "";
	if (cmd == SETALL) {
		static const unsigned short big[] = {32767, 32768, 65535, 40000};
		for (int i = 0; i < nsems; i++)
			vals[i] = (unsigned short)pick(4);
		if (nsems && pick(4) == 0)
			vals[pick(nsems)] = PICK(big);
		all_text(t, sizeof t, vals, nsems);
		int r = semctl(id, 0, SETALL, a);
		out("semctl(%d, 0, SETALL, %s[%s]) = %s", id, null ? "NULL " : "", t, res(r));
		return;
	}
	memset(vals, 0xff, sizeof vals);
	int r = semctl(id, 0, GETALL, a);
	if (r >= 0)
		all_text(t, sizeof t, vals, nsems);
	out("semctl(%d, 0, GETALL%s) = %s [%s]", id, null ? ", NULL" : "", res(r), t);
}

static void ctl_one(int id, int cmd)
{
	static const char *const names[] = {[GETPID] = "GETPID", [GETVAL] = "GETVAL",
	                                    [GETNCNT] = "GETNCNT", [GETZCNT] = "GETZCNT"};
	int nsems = nsems_of(id);
	int num = pick(8) ? any_num(nsems) : PICK(((const int[]){-1, INT_MIN, INT_MAX}));
	int r = semctl(id, num, cmd);
	int e = errno;
	if (cmd == GETPID && r >= 0)
		out("semctl(%d, %d, GETPID) = %s", id, num, pidn(r));
	else {
		errno = e;
		out("semctl(%d, %d, %s) = %s", id, num, names[cmd], res(r));
	}
}

static void ctl_setval(int id)
{
	static const int v[] = {0, 1, 2, 5, 32767, 32768, -1, INT_MIN, 65536, 0, 1};
	int nsems = nsems_of(id);
	int num = pick(8) ? any_num(nsems) : -1;
	int val = PICK(v);
	union semun a = {.val = val};
	int r = semctl(id, num, SETVAL, a);
	out("semctl(%d, %d, SETVAL, %d) = %s", id, num, val, res(r));
}

static void op_semctl(void)
{
	static const int cmds[] = {GETVAL, GETVAL, SETVAL, SETVAL, GETALL, SETALL, GETPID, GETNCNT,
	                           GETZCNT, IPC_STAT, IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO,
	                           SEM_INFO, SEM_STAT, SEM_STAT_ANY, -1, 21, 100, 0x100 | IPC_STAT,
	                           0x100 | GETVAL};
	int cmd = PICK(cmds);
	int id = any_id();
	int null = pick(10) == 0;
	switch (cmd) {
	case IPC_STAT:
		ctl_stat(id, cmd, null);
		return;
	case SEM_STAT:
	case SEM_STAT_ANY: {
		static const int idx[] = {0, 1, 2, 3, 4, 5, 32768, 32769, -1, 65536 + 2, INT_MAX};
		ctl_stat(pick(3) ? PICK(idx) : id, cmd, null);
		return;
	}
	case IPC_INFO:
	case SEM_INFO:
		ctl_info(pick(4) ? 0 : id, cmd, null);
		return;
	case IPC_SET:
		ctl_set(id, null);
		return;
	case GETALL:
	case SETALL:
		ctl_all(id, cmd, null);
		return;
	case GETVAL:
	case GETPID:
	case GETNCNT:
	case GETZCNT:
		ctl_one(id, cmd);
		return;
	case SETVAL:
		ctl_setval(id);
		return;
	default: {
		int r = semctl(id, 0, cmd, (union semun){.val = 0});
		out("semctl(%d, 0, %#x) = %s", id, (unsigned)cmd, res(r));
	}
	}
}

/* The state of a set, read in full: values, pids and its stat. */
static void op_look(void)
{
	int id = nids ? ids[pick(nids)] : 0;
	ctl_all(id, GETALL, 0);
	int nsems = nsems_of(id);
	for (int i = 0; i < nsems && i < 4; i++)
		ctl_one(id, GETPID);
	ctl_stat(id, IPC_STAT, 0);
}

/*
 * A child makes a few calls -- SEM_UNDO operations above all -- and
 * exits, or is killed; the parent waits for it and goes on, and the
 * adjustments must have been applied (values, sempid, otime).
 */
static void op_fork(void)
{
	fflush(stdout);
	pid_t c = fork();
	if (c < 0) {
		out("fork = %s", res(c));
		return;
	}
	if (c == 0) {
		parent_pid = getppid();
		kid = 0;
		snprintf(me, sizeof me, "child");
		/* Root's child may become uid 1000: the owner, creator, mode
		 * and capability checks from the other side. */
		if (getuid() == 0 && pick(3) == 0) {
			int r = setgroups(0, NULL) == 0 && setgid(1000) == 0 ? setuid(1000) : -1;
			out("setuid(1000) = %s", res(r));
		}
		int n = 1 + pick(4);
		for (int i = 0; i < n; i++) {
			int k = pick(10);
			if (k < 6)
				op_semop();
			else if (k < 9)
				op_semctl();
			else
				op_semget();
		}
		if (pick(3))
			_exit(0);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	kid = c;
	int st;
	waitpid(c, &st, 0);
	out("child %s", WIFSIGNALED(st) ? "killed" : "exited");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: conf_sem_fuzz SEED [STEPS]\n");
		return 64;
	}
	rng_seed(argv[1]);
	scenario_name = "semfuzz";
	int steps = argc > 2 ? atoi(argv[2]) : 1000;
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 0; i < steps; i++) {
		int k = pick(40);
		if (k < 8)
			op_semget();
		else if (k < 20)
			op_semop();
		else if (k < 35)
			op_semctl();
		else if (k < 38)
			op_look();
		else
			op_fork();
	}
	for (int i = 0; i < nids; i++) {
		int r = semctl(ids[i], 0, IPC_RMID);
		out("semctl(%d, 0, IPC_RMID) = %s", ids[i], res(r));
	}
	ctl_info(0, SEM_INFO, 0);
	out("end");
	return 0;
}
