/*
 * conf_sem - differential scenarios for System V semaphores.
 *
 *   conf_sem --list      one line per scenario: "<name> <root|any>"
 *   conf_sem NAME        run one scenario, one line per step
 *
 * tests/conformance (sem_test.go) runs every scenario natively in a fresh
 * IPC namespace and under goshm with a fresh store and
 * compares the outputs line by line.  What differs between two correct
 * runs is named: ids "id#N" (raw ids only where a scenario checks the
 * sequence), pids "self", "child#N", times "0", "now", "past".  Each
 * process numbers its own steps; the test compares each process's lines
 * in order, since parent and children run concurrently.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/worker.h"

#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

/* Shared between the scenario's processes: names of ids and pids. */
struct shared {
	int nids;
	int ids[64];
	int nkids;
	pid_t kids[64];
	int step;
};
static struct shared *sh;
static const char *scen;
static char me[32] = "main";
static time_t t0;

static void out(const char *fmt, ...)
{
	char line[1024];
	static int step;
	int n = snprintf(line, sizeof line, "%s %s#%d ", scen, me, ++step);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (write(1, line, (size_t)n) < 0)
		_exit(99);
}

static const char *res(long r)
{
	static __thread char buf[64];
	if (r < 0)
		snprintf(buf, sizeof buf, "-1 %s", strerrorname_np(errno));
	else
		snprintf(buf, sizeof buf, "%ld", r);
	return buf;
}

static const char *idn(int id)
{
	static __thread char buf[8][32];
	static __thread int k;
	char *b = buf[k++ % 8];
	if (id < 0) {
		snprintf(b, 32, "-1 %s", strerrorname_np(errno));
		return b;
	}
	for (int i = 0; i < sh->nids; i++)
		if (sh->ids[i] == id) {
			snprintf(b, 32, "id#%d", i);
			return b;
		}
	if (sh->nids < 64)
		sh->ids[sh->nids++] = id;
	snprintf(b, 32, "id#%d", sh->nids - 1);
	return b;
}

static const char *pidn(pid_t p)
{
	static __thread char buf[4][32];
	static __thread int k;
	char *b = buf[k++ % 4];
	if (p == 0)
		return "0";
	if (p == getpid())
		return "self";
	for (int i = 0; i < sh->nkids; i++)
		if (sh->kids[i] == p) {
			snprintf(b, 32, "child#%d", i);
			return b;
		}
	snprintf(b, 32, "other");
	return b;
}

static const char *tm(time_t t)
{
	if (t == 0)
		return "0";
	time_t now = time(NULL);
	if (t >= t0 && t <= now + 1)
		return "now";
	return t < t0 ? "past" : "future";
}

static void stat_line(const char *what, int id)
{
	struct semid_ds d;
	union semun a = {.buf = &d};
	memset(&d, 0, sizeof d);
	int r = semctl(id, 0, IPC_STAT, a);
	if (r < 0) {
		out("%s IPC_STAT = %s", what, res(r));
		return;
	}
	out("%s IPC_STAT = 0 {key=%#x uid=%u gid=%u cuid=%u cgid=%u mode=%#o nsems=%lu otime=%s ctime=%s}",
	    what, (unsigned)d.sem_perm.__key, d.sem_perm.uid, d.sem_perm.gid, d.sem_perm.cuid,
	    d.sem_perm.cgid, (unsigned)d.sem_perm.mode, (unsigned long)d.sem_nsems,
	    tm(d.sem_otime), tm(d.sem_ctime));
}

static int op1(int id, int num, int op, int flg)
{
	struct sembuf b = {(unsigned short)num, (short)op, (short)flg};
	return semop(id, &b, 1);
}

static void show_op(int id, int num, int op, int flg)
{
	int r = op1(id, num, op, flg);
	out("semop(%s, {%d,%d,%#x}) = %s", idn(id), num, op, flg, res(r));
}

static void vals(int id, int n)
{
	char b[512];
	int k = 0;
	for (int i = 0; i < n; i++) {
		int v = semctl(id, i, GETVAL);
		k += snprintf(b + k, sizeof b - (size_t)k, "%s%d", i ? "," : "", v < 0 ? -errno : v);
	}
	out("vals(%s) = [%s]", idn(id), b);
}

static void cnts(int id, int num)
{
	int n = semctl(id, num, GETNCNT);
	int z = semctl(id, num, GETZCNT);
	int p = semctl(id, num, GETPID);
	out("sem %d of %s: ncnt=%d zcnt=%d pid=%s", num, idn(id), n, z, p < 0 ? res(p) : pidn(p));
}

/* Wait (up to 10 s) until semnum's count of kind is want. */
static void await_cnt(int id, int num, int cmd, int want)
{
	for (int i = 0; i < 10000; i++) {
		if (semctl(id, num, cmd) == want)
			return;
		usleep(1000);
	}
	out("await_cnt(%d) timed out", want);
}

/* Wait until process pid sleeps ('S' in /proc/PID/stat): a waiter counted
 * by GETNCNT is asleep in its wait only then. */
static void await_sleeping(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 10000; i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
			buf[n] = 0;
			char *p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return;
		}
		usleep(1000);
	}
	out("await_sleeping(%d) timed out", (int)pid);
}

static pid_t kid(void)
{
	fflush(NULL);
	int k = sh->nkids++;
	pid_t p = fork();
	if (p == 0) {
		snprintf(me, sizeof me, "child#%d", k);
		return 0;
	}
	sh->kids[k] = p;
	return p;
}

static void reap(pid_t p)
{
	int st;
	if (waitpid(p, &st, 0) < 0) {
		out("waitpid = %s", res(-1));
		return;
	}
	if (WIFSIGNALED(st))
		out("%s killed by %s", pidn(p), sigabbrev_np(WTERMSIG(st)));
	else
		out("%s exit %d", pidn(p), WEXITSTATUS(st));
}

/* ---- scenarios ---- */

static void sc_get(void)
{
	int a = semget(IPC_PRIVATE, 3, 0600);
	out("semget(PRIVATE, 3, 0600) = %s", idn(a));
	stat_line("a", a);
	vals(a, 3);
	int b = semget(0x5e01, 2, IPC_CREAT | 0640);
	out("semget(0x5e01, 2, CREAT|0640) = %s", idn(b));
	out("semget(0x5e01, 2, CREAT|EXCL) = %s", idn(semget(0x5e01, 2, IPC_CREAT | IPC_EXCL | 0600)));
	out("semget(0x5e01, 0, 0) = %s", idn(semget(0x5e01, 0, 0)));
	out("semget(0x5e01, 2, 0) = %s", idn(semget(0x5e01, 2, 0)));
	out("semget(0x5e01, 3, 0) = %s", idn(semget(0x5e01, 3, 0)));
	out("semget(0x5e01, 3, CREAT|EXCL) = %s", idn(semget(0x5e01, 3, IPC_CREAT | IPC_EXCL)));
	out("semget(0x5e02, 1, 0) = %s", idn(semget(0x5e02, 1, 0)));
	out("semget(0x5e02, 0, CREAT) = %s", idn(semget(0x5e02, 0, IPC_CREAT | 0600)));
	out("semget(0x5e02, -1, CREAT) = %s", idn(semget(0x5e02, -1, IPC_CREAT | 0600)));
	out("semget(0x5e02, 32000, CREAT) = %s", idn(semget(0x5e02, 32000, IPC_CREAT | 0600)));
	out("semget(0x5e03, 32001, CREAT) = %s", idn(semget(0x5e03, 32001, IPC_CREAT | 0600)));
	out("semget(0x5e01, 32001, 0) = %s", idn(semget(0x5e01, 32001, 0)));
	stat_line("b", b);
	out("semget(PRIVATE, 0, 0600) = %s", idn(semget(IPC_PRIVATE, 0, 0600)));
	out("semget(0x5e04, 1, CREAT|07777) = %s", idn(semget(0x5e04, 1, IPC_CREAT | 07777)));
	stat_line("c", semget(0x5e04, 0, 0));
}

static void sc_id_sequence(void)
{
	int ids[5];
	for (int i = 0; i < 5; i++) {
		ids[i] = semget(IPC_PRIVATE, 1, 0600);
		out("semget = %d", ids[i]);
	}
	out("rmid(%d) = %s", ids[1], res(semctl(ids[1], 0, IPC_RMID)));
	out("rmid(%d) = %s", ids[3], res(semctl(ids[3], 0, IPC_RMID)));
	for (int i = 0; i < 3; i++)
		out("semget = %d", semget(IPC_PRIVATE, 1, 0600));
	out("rmid(%d) again = %s", ids[1], res(semctl(ids[1], 0, IPC_RMID)));
	out("getval(%d) stale = %s", ids[1], res(semctl(ids[1], 0, GETVAL)));
}

static void sc_ops(void)
{
	int id = semget(IPC_PRIVATE, 3, 0600);
	out("semget = %s", idn(id));
	show_op(id, 0, 1, 0);
	show_op(id, 0, 2, 0);
	vals(id, 3);
	cnts(id, 0);
	stat_line("after ops", id);
	show_op(id, 0, -3, 0);
	show_op(id, 0, -1, IPC_NOWAIT);
	show_op(id, 1, 0, 0);
	show_op(id, 1, 1, 0);
	show_op(id, 1, 0, IPC_NOWAIT);
	show_op(id, 2, 32767, 0);
	show_op(id, 2, 1, 0);
	show_op(id, 2, -32767, 0);
	show_op(id, 3, 1, 0);
	show_op(id, 65535, 1, 0);
	vals(id, 3);
	struct sembuf many[501];
	memset(many, 0, sizeof many);
	out("semop(nsops=0) = %s", res(semop(id, many, 0)));
	out("semop(nsops=501) = %s", res(semop(id, many, 501)));
	for (int i = 0; i < 500; i++)
		many[i] = (struct sembuf){2, 0, 0};
	out("semop(nsops=500 zero-waits) = %s", res(semop(id, many, 500)));
	out("semop(-1, ...) = %s", res(semop(-1, many, 1)));
	out("semop(NULL, 1) = %s", res(semop(id, NULL, 1)));
	out("semop(id+1, ...) = %s", res(semop(id + 1, many, 1)));
	out("semop(id+32768, ...) = %s", res(semop(id + 32768, many, 1)));
	/* all or nothing */
	struct sembuf two[2] = {{0, 5, 0}, {1, -2, IPC_NOWAIT}};
	out("semop({0,+5},{1,-2,NOWAIT}) = %s", res(semop(id, two, 2)));
	vals(id, 3);
	struct sembuf three[3] = {{0, 5, 0}, {1, -1, 0}, {2, 32767, 0}};
	semctl(id, 2, SETVAL, (union semun){.val = 1});
	out("semop({0,+5},{1,-1},{2,+32767}) = %s", res(semop(id, three, 3)));
	vals(id, 3);
	/* the same semaphore twice: the slow path */
	semctl(id, 0, SETVAL, (union semun){.val = 0});
	struct sembuf dup1[2] = {{0, 1, 0}, {0, -1, IPC_NOWAIT}};
	out("semop({0,+1},{0,-1}) = %s", res(semop(id, dup1, 2)));
	struct sembuf dup2[2] = {{0, -1, IPC_NOWAIT}, {0, 1, 0}};
	out("semop({0,-1,NOWAIT},{0,+1}) = %s", res(semop(id, dup2, 2)));
	struct sembuf dup3[3] = {{0, 2, 0}, {0, 0, IPC_NOWAIT}, {1, 1, 0}};
	out("semop({0,+2},{0,0,NOWAIT},{1,+1}) = %s", res(semop(id, dup3, 3)));
	struct sembuf dup4[3] = {{0, 20000, 0}, {0, 20000, 0}};
	out("semop({0,+20000},{0,+20000}) = %s", res(semop(id, dup4, 2)));
	struct sembuf dup5[2] = {{64, 0, 0}, {0, 1, 0}};
	out("semop({64,0},{0,+1}) = %s", res(semop(id, dup5, 2)));
	vals(id, 3);
	cnts(id, 0);
	cnts(id, 1);
	/* timeouts */
	struct sembuf w = {1, -100, 0};
	struct timespec z = {0, 0}, bad = {0, 1000000000}, neg = {-1, 0}, sh50 = {0, 50000000};
	out("semtimedop({0,0}) = %s", res(semtimedop(id, &w, 1, &z)));
	out("semtimedop(nsec=1e9) = %s", res(semtimedop(id, &w, 1, &bad)));
	out("semtimedop(sec=-1) = %s", res(semtimedop(id, &w, 1, &neg)));
	out("semtimedop(50ms) = %s", res(semtimedop(id, &w, 1, &sh50)));
	struct sembuf ok = {1, 1, 0};
	out("semtimedop(+1, 50ms) = %s", res(semtimedop(id, &ok, 1, &sh50)));
	cnts(id, 1);
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
	show_op(id, 0, 1, 0);
}

static void sc_undo_range(void)
{
	int id = semget(IPC_PRIVATE, 2, 0600);
	out("semget = %s", idn(id));
	show_op(id, 0, 32767, SEM_UNDO);
	show_op(id, 0, -32767, 0);
	show_op(id, 0, 2, SEM_UNDO);
	show_op(id, 0, 1, SEM_UNDO);
	vals(id, 2);
	show_op(id, 1, 5, 0);
	show_op(id, 1, -5, SEM_UNDO);
	show_op(id, 1, 32767, 0);
	show_op(id, 1, -32767, SEM_UNDO);
	show_op(id, 1, 32767, 0);
	show_op(id, 1, -1, SEM_UNDO);
	vals(id, 2);
	cnts(id, 0);
}

static void sc_ctl(void)
{
	int id = semget(0x5e10, 4, IPC_CREAT | 0640);
	out("semget = %s", idn(id));
	unsigned short set[4] = {1, 2, 3, 32767}, get[4] = {9, 9, 9, 9};
	out("SETALL = %s", res(semctl(id, 0, SETALL, (union semun){.array = set})));
	out("GETALL = %s [%u,%u,%u,%u]", res(semctl(id, 0, GETALL, (union semun){.array = get})),
	    get[0], get[1], get[2], get[3]);
	cnts(id, 3);
	unsigned short big[4] = {1, 2, 3, 32768};
	out("SETALL(32768) = %s", res(semctl(id, 0, SETALL, (union semun){.array = big})));
	out("SETALL(NULL) = %s", res(semctl(id, 0, SETALL, (union semun){.array = NULL})));
	out("GETALL(NULL) = %s", res(semctl(id, 0, GETALL, (union semun){.array = NULL})));
	vals(id, 4);
	out("SETVAL(-1) = %s", res(semctl(id, 0, SETVAL, (union semun){.val = -1})));
	out("SETVAL(32768) = %s", res(semctl(id, 0, SETVAL, (union semun){.val = 32768})));
	out("SETVAL(32767) = %s", res(semctl(id, 0, SETVAL, (union semun){.val = 32767})));
	out("SETVAL(num 4) = %s", res(semctl(id, 4, SETVAL, (union semun){.val = 1})));
	out("SETVAL(num -1) = %s", res(semctl(id, -1, SETVAL, (union semun){.val = 1})));
	out("SETVAL(bad id, 40000) = %s", res(semctl(id + 1, 0, SETVAL, (union semun){.val = 40000})));
	out("GETVAL(num 4) = %s", res(semctl(id, 4, GETVAL)));
	out("GETVAL(num -1) = %s", res(semctl(id, -1, GETVAL)));
	out("GETNCNT(num 4) = %s", res(semctl(id, 4, GETNCNT)));
	out("GETVAL(id -1) = %s", res(semctl(-1, 0, GETVAL)));
	out("GETVAL(id+1) = %s", res(semctl(id + 1, 0, GETVAL)));
	out("cmd 99 = %s", res(semctl(id, 0, 99)));
	out("cmd 99 on -1 = %s", res(semctl(-1, 0, 99)));
	out("IPC_STAT(NULL) = %s", res(semctl(id, 0, IPC_STAT, (union semun){.buf = NULL})));
	out("IPC_SET(NULL) = %s", res(semctl(id, 0, IPC_SET, (union semun){.buf = NULL})));
	out("IPC_STAT(id+1, NULL) = %s", res(semctl(id + 1, 0, IPC_STAT, (union semun){.buf = NULL})));
	stat_line("before set", id);
	struct semid_ds d;
	semctl(id, 0, IPC_STAT, (union semun){.buf = &d});
	d.sem_perm.mode = 01604;
	d.sem_nsems = 99;
	out("IPC_SET = %s", res(semctl(id, 0, IPC_SET, (union semun){.buf = &d})));
	stat_line("after set", id);
	d.sem_perm.uid = (uid_t)-1;
	out("IPC_SET(uid -1) = %s", res(semctl(id, 0, IPC_SET, (union semun){.buf = &d})));
	d.sem_perm.uid = 4321;
	d.sem_perm.gid = 8765;
	d.sem_perm.mode = 0666;
	out("IPC_SET(uid 4321) = %s", res(semctl(id, 0, IPC_SET, (union semun){.buf = &d})));
	stat_line("after chown", id);
	vals(id, 4);
	int p = semget(IPC_PRIVATE, 7, 0600);
	out("semget(PRIVATE, 7) = %s", idn(p));
	struct seminfo si;
	memset(&si, 0, sizeof si);
	int r = semctl(0, 0, IPC_INFO, (union semun){.__buf = &si});
	out("IPC_INFO = %s {semmap=%d semmni=%d semmns=%d semmnu=%d semmsl=%d semopm=%d semume=%d semusz=%d semvmx=%d semaem=%d}",
	    r < 0 ? res(r) : "max", si.semmap, si.semmni, si.semmns, si.semmnu, si.semmsl, si.semopm,
	    si.semume, si.semusz, si.semvmx, si.semaem);
	r = semctl(0, 0, SEM_INFO, (union semun){.__buf = &si});
	out("SEM_INFO = %s {semusz=%d semaem=%d}", r < 0 ? res(r) : "max", si.semusz, si.semaem);
	out("IPC_INFO(NULL) = %s", res(semctl(0, 0, IPC_INFO, (union semun){.__buf = NULL}) < 0 ? -1 : 0));
	int maxidx = semctl(0, 0, SEM_INFO, (union semun){.__buf = &si});
	for (int i = 0; i <= maxidx; i++) {
		struct semid_ds sd;
		int sid = semctl(i, 0, SEM_STAT, (union semun){.buf = &sd});
		out("SEM_STAT(%d) = %s nsems=%lu", i, sid < 0 ? res(sid) : idn(sid),
		    sid < 0 ? 0ul : (unsigned long)sd.sem_nsems);
		sid = semctl(i, 0, SEM_STAT_ANY, (union semun){.buf = &sd});
		out("SEM_STAT_ANY(%d) = %s", i, sid < 0 ? res(sid) : idn(sid));
	}
	out("SEM_STAT(40000) = %s", res(semctl(40000, 0, SEM_STAT, (union semun){.buf = &d})));
	out("SEM_STAT(idx 0, NULL) = %s", res(semctl(0, 0, SEM_STAT, (union semun){.buf = NULL})));
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
	out("rmid = %s", res(semctl(p, 0, IPC_RMID)));
	r = semctl(0, 0, SEM_INFO, (union semun){.__buf = &si});
	out("SEM_INFO = %s {semusz=%d semaem=%d}", res(r), si.semusz, si.semaem);
	out("semget(0x5e10, 0, 0) = %s", idn(semget(0x5e10, 0, 0)));
}

static void sc_block_wake(void)
{
	int id = semget(IPC_PRIVATE, 2, 0600);
	out("semget = %s", idn(id));
	pid_t c = kid();
	if (c == 0) {
		struct sembuf b[2] = {{0, -1, 0}, {1, 1, 0}};
		out("semop({0,-1},{1,+1}) = %s", res(semop(id, b, 2)));
		_exit(0);
	}
	await_cnt(id, 0, GETNCNT, 1);
	cnts(id, 0);
	cnts(id, 1);
	show_op(id, 0, 1, 0);
	/* The kernel served the waiter inside this semop. */
	vals(id, 2);
	cnts(id, 0);
	cnts(id, 1);
	reap(c);
	/* Two waiters, one post each: first come, first served. */
	pid_t a = kid();
	if (a == 0) {
		out("semop(-1) = %s", res(op1(id, 0, -1, 0)));
		_exit(1);
	}
	await_cnt(id, 0, GETNCNT, 1);
	pid_t b = kid();
	if (b == 0) {
		out("semop(-1) = %s", res(op1(id, 0, -1, 0)));
		_exit(2);
	}
	await_cnt(id, 0, GETNCNT, 2);
	show_op(id, 0, 1, 0);
	reap(a);
	cnts(id, 0);
	show_op(id, 0, 1, 0);
	reap(b);
	cnts(id, 0);
	/* Wait for zero. */
	semctl(id, 1, SETVAL, (union semun){.val = 2});
	pid_t z = kid();
	if (z == 0) {
		out("semop({1,0}) = %s", res(op1(id, 1, 0, 0)));
		_exit(0);
	}
	await_cnt(id, 1, GETZCNT, 1);
	cnts(id, 1);
	show_op(id, 1, -1, 0);
	cnts(id, 1);
	out("SETVAL(1, 0) = %s", res(semctl(id, 1, SETVAL, (union semun){.val = 0})));
	reap(z);
	cnts(id, 1);
	stat_line("end", id);
}

static volatile sig_atomic_t got;
static void on_usr1(int s)
{
	(void)s;
	got = 1;
}

static void sc_interrupt(void)
{
	int id = semget(IPC_PRIVATE, 1, 0600);
	out("semget = %s", idn(id));
	int pfd[2];
	if (pipe(pfd) < 0)
		return;
	pid_t c = kid();
	if (c == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr1;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &sa, NULL);
		int r = op1(id, 0, -1, 0);
		out("semop(-1) with SA_RESTART handler = %s got=%d", res(r), (int)got);
		if (write(pfd[1], "x", 1) != 1)
			_exit(5);
		struct timespec ts = {30, 0};
		struct sembuf b = {0, -1, 0};
		r = semtimedop(id, &b, 1, &ts);
		out("semtimedop(-1, 30s) = %s", res(r));
		_exit(0);
	}
	/* The signal is sent once the waiter is asleep: a signal in the
	 * instant between a waiter's registration and its sleep is one that
	 * goshm's semop can miss (docs/DIFFERENCES.md, System V semaphores). */
	await_cnt(id, 0, GETNCNT, 1);
	await_sleeping(c);
	kill(c, SIGUSR1);
	char x;
	if (read(pfd[0], &x, 1) != 1)
		out("read = %s", res(-1));
	await_cnt(id, 0, GETNCNT, 1);
	await_sleeping(c);
	kill(c, SIGUSR1);
	reap(c);
	cnts(id, 0);
	/* A waiter killed while it waits counts no more. */
	pid_t k = kid();
	if (k == 0) {
		op1(id, 0, -1, 0);
		_exit(3);
	}
	await_cnt(id, 0, GETNCNT, 1);
	kill(k, SIGKILL);
	reap(k);
	cnts(id, 0);
	show_op(id, 0, 1, 0);
	vals(id, 1);
	/* Removal wakes waiters with EIDRM. */
	pid_t e = kid();
	if (e == 0) {
		out("semop(0, -5) = %s", res(op1(id, 0, -5, 0)));
		_exit(0);
	}
	pid_t f = kid();
	if (f == 0) {
		out("semop(0, 0) = %s", res(op1(id, 0, 0, 0)));
		_exit(0);
	}
	await_cnt(id, 0, GETNCNT, 1);
	await_cnt(id, 0, GETZCNT, 1);
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
	reap(e);
	reap(f);
}

/* pthread_cancel of a thread blocked in semop: glibc's semop and
 * semtimedop are no cancellation points (nor, since glibc 2.34, is a
 * deferred cancel a signal), so the thread waits on; once a unit comes, its
 * semop returns and the next cancellation point ends it.  (The thread
 * prints nothing itself: its lines would race the main thread's.) */
static int cancelled_semop = 99;

static void *blocked_semop(void *arg)
{
	struct sembuf b = {0, -1, 0};
	int r = semop(*(int *)arg, &b, 1);
	__atomic_store_n(&cancelled_semop, r < 0 ? -errno : r, __ATOMIC_RELEASE);
	pthread_testcancel();
	return NULL;
}

static const char *joined(void *ret)
{
	return ret == PTHREAD_CANCELED ? "cancelled" : "returned";
}

static void sc_cancel(void)
{
	static int id;
	id = semget(IPC_PRIVATE, 1, 0600);
	out("semget = %s", idn(id));
	pthread_t t;
	if (pthread_create(&t, NULL, blocked_semop, &id) != 0)
		return;
	await_cnt(id, 0, GETNCNT, 1);
	out("pthread_cancel = %d", pthread_cancel(t));
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 200000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	void *ret;
	int j = pthread_timedjoin_np(t, &ret, &until);
	out("join within 0.2 s = %s", j == 0 ? joined(ret) : strerrorname_np(j));
	if (j != 0) {
		cnts(id, 0);
		show_op(id, 0, 1, 0);
		out("join = %s", pthread_join(t, &ret) == 0 ? joined(ret) : "failed");
	}
	int r = __atomic_load_n(&cancelled_semop, __ATOMIC_ACQUIRE);
	out("the thread's semop = %s", r < 0 ? strerrorname_np(-r) : r == 99 ? "did not return" : "0");
	vals(id, 1);
	cnts(id, 0);
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
}

static void sc_undo_exit(void)
{
	int id = semget(IPC_PRIVATE, 3, 0600);
	out("semget = %s", idn(id));
	semctl(id, 0, SETVAL, (union semun){.val = 1});
	pid_t c = kid();
	if (c == 0) {
		show_op(id, 0, -1, SEM_UNDO);
		show_op(id, 1, 3, SEM_UNDO);
		show_op(id, 2, 2, SEM_UNDO);
		show_op(id, 2, -1, 0);
		_exit(0);
	}
	reap(c);
	vals(id, 3);
	cnts(id, 0);
	cnts(id, 1);
	cnts(id, 2);
	/* Clamped at zero. */
	pid_t d = kid();
	if (d == 0) {
		show_op(id, 0, 5, SEM_UNDO);
		show_op(id, 0, -6, 0);
		_exit(0);
	}
	reap(d);
	vals(id, 3);
	cnts(id, 0);
	/* SETVAL clears adjustments. */
	pid_t e = kid();
	if (e == 0) {
		show_op(id, 1, 4, SEM_UNDO);
		out("SETVAL(1, 10) = %s", res(semctl(id, 1, SETVAL, (union semun){.val = 10})));
		_exit(0);
	}
	reap(e);
	vals(id, 3);
	/* A forked child inherits no adjustment. */
	show_op(id, 2, 5, SEM_UNDO);
	pid_t f = kid();
	if (f == 0)
		_exit(0);
	reap(f);
	vals(id, 3);
	/* A SEM_UNDO holder killed: its waiter gets the semaphore. */
	semctl(id, 0, SETVAL, (union semun){.val = 1});
	int held[2];
	if (pipe(held) < 0)
		return;
	pid_t h = kid();
	if (h == 0) {
		show_op(id, 0, -1, SEM_UNDO);
		/* Told only once its line is out: the semaphore at zero alone
		 * let it be killed between its semop and the line. */
		if (write(held[1], "x", 1) != 1)
			_exit(5);
		pause();
		_exit(0);
	}
	char x;
	if (read(held[0], &x, 1) != 1)
		out("read = %s", res(-1));
	close(held[0]);
	close(held[1]);
	await_cnt(id, 0, GETVAL, 0);
	pid_t w = kid();
	if (w == 0) {
		show_op(id, 0, -1, SEM_UNDO);
		cnts(id, 0);
		_exit(0);
	}
	await_cnt(id, 0, GETNCNT, 1);
	kill(h, SIGKILL);
	reap(h);
	reap(w);
	vals(id, 3);
	cnts(id, 0);
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
}

static void sc_perms(void)
{
	int a = semget(0x5e20, 2, IPC_CREAT | 0600);
	int b = semget(0x5e21, 2, IPC_CREAT | 0604);
	int c = semget(0x5e22, 2, IPC_CREAT | 0660);
	out("semget = %s %s %s", idn(a), idn(b), idn(c));
	pid_t k = kid();
	if (k == 0) {
		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(9);
		out("semget(a, 0) = %s", idn(semget(0x5e20, 0, 0)));
		out("semget(b, 0) = %s", idn(semget(0x5e21, 0, 0)));
		out("semget(b, 0, 0600) = %s", idn(semget(0x5e21, 0, 0600)));
		out("semget(b, 0, 0004) = %s", idn(semget(0x5e21, 0, 0004)));
		out("semget(c, 0) = %s", idn(semget(0x5e22, 0, 0)));
		show_op(a, 0, 1, 0);
		show_op(a, 0, 0, IPC_NOWAIT);
		show_op(b, 0, 1, 0);
		show_op(b, 0, 0, IPC_NOWAIT);
		show_op(a, 5, 1, 0);
		out("GETVAL(a) = %s", res(semctl(a, 0, GETVAL)));
		out("GETVAL(b) = %s", res(semctl(b, 0, GETVAL)));
		out("SETVAL(b) = %s", res(semctl(b, 0, SETVAL, (union semun){.val = 1})));
		stat_line("a", a);
		stat_line("b", b);
		struct semid_ds d;
		out("SEM_STAT(a) = %s", res(semctl(a & 0x7fff, 0, SEM_STAT, (union semun){.buf = &d})) );
		int r = semctl(a & 0x7fff, 0, SEM_STAT_ANY, (union semun){.buf = &d});
		out("SEM_STAT_ANY(a) = %s", r < 0 ? res(r) : idn(r));
		semctl(b, 0, IPC_STAT, (union semun){.buf = &d});
		out("IPC_SET(b) = %s", res(semctl(b, 0, IPC_SET, (union semun){.buf = &d})));
		out("IPC_RMID(b) = %s", res(semctl(b, 0, IPC_RMID)));
		_exit(0);
	}
	reap(k);
	struct semid_ds d;
	semctl(c, 0, IPC_STAT, (union semun){.buf = &d});
	d.sem_perm.uid = 1000;
	out("IPC_SET(c, uid 1000) = %s", res(semctl(c, 0, IPC_SET, (union semun){.buf = &d})));
	k = kid();
	if (k == 0) {
		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(9);
		show_op(c, 0, 1, 0);
		out("IPC_RMID(c) as owner = %s", res(semctl(c, 0, IPC_RMID)));
		_exit(0);
	}
	reap(k);
	out("rmid = %s %s", res(semctl(a, 0, IPC_RMID)), res(semctl(b, 0, IPC_RMID)));
}

/*
 * semop is judged by the calling thread's effective uid at that moment,
 * as every call is (conf/sc_ctl.h sc_ctl_creds): seteuid() changes every
 * thread's, a raw setresuid system call only the calling thread's.
 */
struct sem_probe {
	const char *who;
	int id;
};

static void sem_probe(void *arg)
{
	const struct sem_probe *p = arg;
	out("%s: euid %u", p->who, (unsigned)geteuid());
	show_op(p->id, 0, 0, IPC_NOWAIT);
	show_op(p->id, 0, 1, IPC_NOWAIT);
	show_op(p->id, 0, -1, IPC_NOWAIT);
}

static void sem_raw_euid(void *arg)
{
	unsigned euid = *(const unsigned *)arg;
	out("raw setresuid(-1, %u, -1) on this thread = %s", euid,
	    res(syscall(SYS_setresuid, -1, euid, -1)));
}

static void sem_seteuid(void *arg)
{
	unsigned euid = *(const unsigned *)arg;
	out("seteuid(%u) = %s", euid, res(seteuid(euid)));
}

static void sc_creds(void)
{
	static const unsigned root = 0, user = 1000;
	int id = semget(0x5e30, 1, IPC_CREAT | 0600);
	out("semget = %s", idn(id));
	pid_t k = kid();
	if (k == 0) {
		struct worker w;
		struct sem_probe main_thread = {"main", id}, other = {"worker", id};
		worker_start(&w);
		sem_probe(&main_thread);
		worker_run(&w, sem_probe, &other);
		sem_seteuid((void *)&user);
		sem_probe(&main_thread);
		worker_run(&w, sem_probe, &other);
		sem_seteuid((void *)&root);
		sem_probe(&main_thread);
		sem_raw_euid((void *)&user);
		sem_probe(&main_thread);
		worker_run(&w, sem_probe, &other);
		sem_raw_euid((void *)&root);
		sem_probe(&main_thread);
		worker_run(&w, sem_raw_euid, (void *)&user);
		sem_probe(&main_thread);
		worker_run(&w, sem_probe, &other);
		worker_run(&w, sem_raw_euid, (void *)&root);
		worker_run(&w, sem_probe, &other);
		worker_stop(&w);
		_exit(0);
	}
	reap(k);
	vals(id, 1);
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
}

/* SEM_UNDO survives exec: the adjustment is applied when the exec'd
 * image exits. */
static void sc_undo_exec(void)
{
	int id = semget(IPC_PRIVATE, 1, 0600);
	out("semget = %s", idn(id));
	semctl(id, 0, SETVAL, (union semun){.val = 2});
	int pfd[2];
	if (pipe(pfd) < 0)
		return;
	pid_t c = kid();
	if (c == 0) {
		close(pfd[1]);
		show_op(id, 0, -1, SEM_UNDO);
		dup2(pfd[0], 0);
		execlp("cat", "cat", (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	await_cnt(id, 0, GETVAL, 1);
	usleep(200000); /* the exec has happened */
	vals(id, 1);
	/* A waiter for what only the exec'd process's exit gives back. */
	pid_t w = kid();
	if (w == 0) {
		close(pfd[1]);
		show_op(id, 0, -2, 0);
		_exit(0);
	}
	await_cnt(id, 0, GETNCNT, 1);
	usleep(300000);
	cnts(id, 0);
	vals(id, 1);
	close(pfd[1]); /* cat exits */
	reap(c);
	reap(w);
	vals(id, 1);
	cnts(id, 0);
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
}

/* Random operations by a few forked processes, checked at the end: the
 * totals must add up whatever the interleaving. */
static void sc_random(void)
{
	int id = semget(IPC_PRIVATE, 4, 0600);
	out("semget = %s", idn(id));
	unsigned short init[4] = {5, 5, 5, 5};
	semctl(id, 0, SETALL, (union semun){.array = init});
	pid_t k[4];
	for (int i = 0; i < 4; i++) {
		k[i] = kid();
		if (k[i] == 0) {
			unsigned seed = (unsigned)i * 7919u + 1;
			int ok = 0;
			for (int n = 0; n < 2000; n++) {
				int a = (int)(rand_r(&seed) % 4), b = (int)(rand_r(&seed) % 4);
				struct sembuf t[2] = {{(unsigned short)a, -1, (short)(rand_r(&seed) % 2 ? SEM_UNDO : 0)},
				                      {(unsigned short)b, 1, 0}};
				if (a == b)
					continue;
				int flg = rand_r(&seed) % 3 == 0 ? IPC_NOWAIT : 0;
				t[0].sem_flg |= (short)flg;
				struct timespec ts = {0, 2000000};
				int r = semtimedop(id, t, 2, &ts);
				if (r == 0) {
					ok++;
					if (t[0].sem_flg & SEM_UNDO)
						__atomic_add_fetch(&sh->step, 1, __ATOMIC_SEQ_CST);
				}
				else if (errno != EAGAIN)
					out("semtimedop = %s", res(r));
			}
			_exit(ok > 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < 4; i++)
		reap(k[i]);
	int sum = 0;
	for (int i = 0; i < 4; i++)
		sum += semctl(id, i, GETVAL);
	/* Each exit gave back the units its SEM_UNDO operations took, and
	 * the units they moved stayed where they went. */
	out("sum - 20 - undone = %d", sum - 20 - sh->step);
	for (int i = 0; i < 4; i++) {
		int n = semctl(id, i, GETNCNT), z = semctl(id, i, GETZCNT);
		out("sem %d: ncnt=%d zcnt=%d", i, n, z);
	}
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;
	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Calls leave no descriptor and no mapping behind. */
static void sc_leaks(void)
{
	int id = semget(0x5e30, 2, IPC_CREAT | 0600);
	out("semget = %s", idn(id));
	struct semid_ds d;
	struct sembuf up = {0, 1, SEM_UNDO}, down = {0, -1, SEM_UNDO};
	/* warm up: what a first call maps stays for the process */
	semop(id, &up, 1);
	semop(id, &down, 1);
	semctl(id, 0, IPC_STAT, (union semun){.buf = &d});
	int fds = count_fds(), maps = count_lines("/proc/self/maps");
	for (int i = 0; i < 500; i++) {
		semop(id, &up, 1);
		semop(id, &down, 1);
		semctl(id, 0, GETVAL);
		semctl(id, 0, IPC_STAT, (union semun){.buf = &d});
		semget(0x5e30, 0, 0);
		semget(0x5e31, 0, 0);
		semctl(id, 1, SETVAL, (union semun){.val = i % 7});
		semctl(0, 0, SEM_INFO, (union semun){.buf = &d});
	}
	out("fds %+d, mappings %+d", count_fds() - fds, count_lines("/proc/self/maps") - maps);
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
	out("fds %+d", count_fds() - fds);
}

/* Processes moving units between semaphores are SIGKILLed at random
 * moments, inside calls too: no unit is lost or made (all or nothing,
 * whoever finds the lock's holder dead finishes its transaction), and
 * no killed waiter is still counted. */
static void sc_chaos(void)
{
	int id = semget(IPC_PRIVATE, 4, 0600);
	out("semget = %s", idn(id));
	unsigned short init[4] = {1000, 1000, 1000, 1000};
	semctl(id, 0, SETALL, (union semun){.array = init});
	unsigned seed = 12345;
	for (int round = 0; round < 60; round++) {
		pid_t k[3];
		for (int i = 0; i < 3; i++) {
			fflush(NULL);
			k[i] = fork(); /* unnamed: these print nothing */
			if (k[i] == 0) {
				unsigned s2 = (unsigned)getpid();
				/* Long transactions (the slow path, 200 operations):
				 * kills land inside them. */
				struct sembuf t[200];
				for (;;) {
					int a = (int)(rand_r(&s2) % 4), b = (int)((a + 1 + rand_r(&s2) % 3) % 4);
					for (int j = 0; j < 200; j += 2) {
						t[j] = (struct sembuf){(unsigned short)a, -1, 0};
						t[j + 1] = (struct sembuf){(unsigned short)b, 1, 0};
					}
					semop(id, t, 200);
				}
			}
		}
		usleep(500 + rand_r(&seed) % 3000);
		for (int i = 0; i < 3; i++)
			kill(k[i], SIGKILL);
		for (int i = 0; i < 3; i++)
			waitpid(k[i], NULL, 0);
	}
	int sum = 0;
	for (int i = 0; i < 4; i++)
		sum += semctl(id, i, GETVAL);
	out("sum = %d", sum);
	for (int i = 0; i < 4; i++)
		out("sem %d: ncnt=%d zcnt=%d", i, semctl(id, i, GETNCNT), semctl(id, i, GETZCNT));
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
}

/* 300 processes hold a unit each with SEM_UNDO (more than the 256
 * records a large set has), then die by SIGKILL; and 300 wait. */
static void sc_many(void)
{
	enum { N = 300 };
	int id = semget(IPC_PRIVATE, 2, 0600);
	out("semget = %s", idn(id));
	semctl(id, 0, SETVAL, (union semun){.val = N});
	static pid_t k[N];
	for (int i = 0; i < N; i++) {
		fflush(NULL);
		k[i] = fork();
		if (k[i] == 0) {
			struct sembuf d = {0, -1, SEM_UNDO}, w = {1, -1, 0};
			if (semop(id, &d, 1) < 0)
				_exit(1);
			semop(id, &w, 1); /* waits until killed */
			_exit(2);
		}
	}
	await_cnt(id, 1, GETNCNT, N);
	vals(id, 2);
	out("ncnt(1) = %d", semctl(id, 1, GETNCNT));
	int killed = 0;
	for (int i = 0; i < N; i++) {
		kill(k[i], SIGKILL);
		int st;
		waitpid(k[i], &st, 0);
		killed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	}
	out("killed %d", killed);
	vals(id, 2);
	out("ncnt(1) = %d", semctl(id, 1, GETNCNT));
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
}

/*
 * What conf_sem_fuzz found, one step each: semop's order of checks on
 * Linux 5.15 and later (the count and the copy before the id), nsops
 * taken as an unsigned int, and SEM_STAT's index taken modulo 32768.
 */
static void sc_fuzz_calls(void)
{
	static struct sembuf many[501];
	struct timespec zero = {0, 0};
	out("semop(-1, 501 ops) = %s", res(semop(-1, many, 501)));
	out("semop(-1, NULL, 1) = %s", res(semop(-1, NULL, 1)));
	out("semtimedop(-1, NULL, 1, 0s) = %s", res(semtimedop(-1, NULL, 1, &zero)));
	out("semop(-1, ops, 0) = %s", res(semop(-1, many, 0)));
	int id = semget(IPC_PRIVATE, 2, 0600);
	out("semget = %s", idn(id));
	struct sembuf two[2] = {{0, 1, 0}, {1, 5, 0}};
	out("semop(nsops=2^32+1) = %s", res(semop(id, two, (1ul << 32) + 1)));
	out("semop(nsops=2^32) = %s", res(semop(id, two, 1ul << 32)));
	vals(id, 2);
	struct semid_ds d;
	int r = semctl(id, 0, SEM_STAT, (union semun){.buf = &d});
	out("SEM_STAT(index) = %s", r < 0 ? res(r) : idn(r));
	r = semctl((id & 32767) | 32768, 0, SEM_STAT, (union semun){.buf = &d});
	out("SEM_STAT(index + 32768) = %s", r < 0 ? res(r) : idn(r));
	r = semctl(id, 0, SEM_STAT_ANY, (union semun){.buf = &d});
	out("SEM_STAT_ANY(id) = %s", r < 0 ? res(r) : idn(r));
	out("rmid = %s", res(semctl(id, 0, IPC_RMID)));
}

/* The exit of a process that asked for SEM_UNDO sets otime (the kernel's
 * exit_sem runs the queue with otime forced), even when its only
 * SEM_UNDO calls failed: EFBIG and EACCES come after the kernel made its
 * undo structure, EAGAIN after it too. */
static void sc_fuzz_exit_otime(void)
{
	int id[3];
	for (int i = 0; i < 3; i++) {
		id[i] = semget(IPC_PRIVATE, 1, 0600);
		out("semget = %s", idn(id[i]));
	}
	pid_t c = kid();
	if (c == 0) {
		show_op(id[0], 5, 1, SEM_UNDO);
		show_op(id[1], 0, -1, SEM_UNDO | IPC_NOWAIT);
		_exit(0);
	}
	reap(c);
	/* SEM_STAT first: it must see the exit as IPC_STAT does. */
	struct semid_ds d;
	int r = semctl(id[0] & 32767, 0, SEM_STAT, (union semun){.buf = &d});
	out("SEM_STAT = %s otime=%s", r < 0 ? res(r) : idn(r), tm(d.sem_otime));
	for (int i = 0; i < 3; i++)
		stat_line("after the exit", id[i]);
	for (int i = 0; i < 3; i++)
		semctl(id[i], 0, IPC_RMID);
}

struct scenario {
	const char *name;
	void (*run)(void);
	int root;
};

static const struct scenario scenarios[] = {
	{"sem_get", sc_get, 0},
	{"sem_id_sequence", sc_id_sequence, 0},
	{"sem_ops", sc_ops, 0},
	{"sem_undo_range", sc_undo_range, 0},
	{"sem_ctl", sc_ctl, 0},
	{"sem_block_wake", sc_block_wake, 0},
	{"sem_interrupt", sc_interrupt, 0},
	{"sem_cancel", sc_cancel, 0},
	{"sem_undo_exit", sc_undo_exit, 0},
	{"sem_perms", sc_perms, 1},
	{"sem_creds", sc_creds, 1},
	{"sem_undo_exec", sc_undo_exec, 0},
	{"sem_random", sc_random, 0},
	{"sem_leaks", sc_leaks, 0},
	{"sem_chaos", sc_chaos, 0},
	{"sem_many", sc_many, 0},
	{"sem_fuzz_calls", sc_fuzz_calls, 0},
	{"sem_fuzz_exit_otime", sc_fuzz_exit_otime, 0},
};

int main(int argc, char **argv)
{
	size_t n = sizeof scenarios / sizeof scenarios[0];
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < n; i++)
			printf("%s %s\n", scenarios[i].name, scenarios[i].root ? "root" : "any");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: conf_sem --list | NAME\n");
		return 64;
	}
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	t0 = time(NULL);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], scenarios[i].name))
			continue;
		scen = scenarios[i].name;
		out("start uid=%u", (unsigned)geteuid());
		scenarios[i].run();
		out("end");
		return 0;
	}
	fprintf(stderr, "conf_sem: no scenario %s\n", argv[1]);
	return 64;
}
