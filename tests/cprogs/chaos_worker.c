#define _GNU_SOURCE
/*
 * chaos_worker: the processes of the chaos test (tests/realprog/chaos_test.go,
 * issue 14, defect 10): threads, forks and SIGKILL, in several IPC
 * namespaces sharing one store.
 *
 *   chaos_worker work SEED THREADS
 *       THREADS threads do random shmget / shmat / write / shmdt / IPC_STAT
 *       / IPC_RMID / fork on CHAOS_KEYS keys until the process is killed,
 *       or until SIGTERM (exit 0).  Forked children check and detach what
 *       they inherited, and end by exit or by SIGKILL.
 *   chaos_worker check N
 *       until SIGTERM: for each key that has a segment, attach it N times
 *       and check that IPC_STAT counts at least those N attaches; then
 *       detach them.  A watchdog thread reports a loop that stopped making
 *       progress for 60 s (a hung store) -- a limit that detects hangs,
 *       not a measure of speed.
 *   chaos_worker hold N
 *       attach every key's segment N times, print "held K" (K segments),
 *       keep them until standard input ends, detach, exit 0.
 *   chaos_worker stat
 *       for each key: "KEYIDX nattch N", or "KEYIDX none".
 *
 * Unexpected results are reported on stdout as lines "E pid PID: ...";
 * "H PID" says a worker is up.  Every line is one write(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHAOS_KEYS 4
#define CHAOS_KEY0 0x0c4a0500
#define CHAOS_SEGSZ 8192
#define MAXATT 4
#define MAXTHREADS 16

static volatile sig_atomic_t stop;
static int ids[CHAOS_KEYS]; /* last id seen for each key, shared by threads */

static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 1)
		n = sizeof line - 1;
	ssize_t w = write(1, line, (size_t)n);
	(void)w;
}

static void unexpected(const char *what, int err)
{
	say("E pid %d: %s: %s\n", (int)getpid(), what, strerrorname_np(err));
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- work ---- */

struct att {
	char *p;
	int id;
};

struct worker {
	unsigned long long rng;
	struct att atts[MAXATT];
	int natt;
};

static unsigned rnd(struct worker *w, unsigned n)
{
	w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(w->rng >> 33) % n;
}

static int mine(struct worker *w, int id)
{
	int n = 0;
	for (int i = 0; i < w->natt; i++)
		n += w->atts[i].id == id;
	return n;
}

static void detach_at(struct worker *w, int i)
{
	if (shmdt(w->atts[i].p) < 0)
		unexpected("shmdt of an attach", errno);
	w->atts[i] = w->atts[--w->natt];
}

static void op_get(struct worker *w)
{
	unsigned k = rnd(w, CHAOS_KEYS);
	int id = shmget(CHAOS_KEY0 + (key_t)k, CHAOS_SEGSZ, IPC_CREAT | 0600);
	if (id < 0) {
		unexpected("shmget(IPC_CREAT)", errno);
		return;
	}
	__atomic_store_n(&ids[k], id, __ATOMIC_RELAXED);
}

static void op_attach(struct worker *w)
{
	int id = __atomic_load_n(&ids[rnd(w, CHAOS_KEYS)], __ATOMIC_RELAXED);
	if (id < 0)
		return;
	if (w->natt == MAXATT)
		detach_at(w, (int)rnd(w, MAXATT));
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		if (errno != EINVAL && errno != EIDRM) /* removed meanwhile */
			unexpected("shmat", errno);
		return;
	}
	p[rnd(w, CHAOS_SEGSZ)]++;
	w->atts[w->natt++] = (struct att){p, id};
}

/* IPC_STAT of a segment this thread has attached counts at least its
 * attaches.  (In a forked child, the parent's copies are not counted on:
 * the test may kill the parent meanwhile.) */
static void stat_attached(struct worker *w)
{
	if (!w->natt)
		return;
	int id = w->atts[rnd(w, (unsigned)w->natt)].id;
	struct shmid_ds d;
	if (shmctl(id, IPC_STAT, &d) < 0) {
		/* The id and this thread's attaches of it, to find the call
		 * that destroyed it in a store's history. */
		char what[96];
		snprintf(what, sizeof what, "IPC_STAT of segment %d, attached %d times here", id,
		         mine(w, id));
		unexpected(what, errno);
		return;
	}
	unsigned long want = (unsigned long)mine(w, id);
	if (d.shm_nattch < want)
		say("E pid %d: IPC_STAT of %d: nattch %lu, below the %lu attaches of this thread\n",
		    (int)getpid(), id, (unsigned long)d.shm_nattch, want);
}

static void op_stat(struct worker *w)
{
	if (w->natt && rnd(w, 2)) {
		stat_attached(w);
		return;
	}
	int id = __atomic_load_n(&ids[rnd(w, CHAOS_KEYS)], __ATOMIC_RELAXED);
	struct shmid_ds d;
	if (id >= 0 && shmctl(id, IPC_STAT, &d) < 0 && errno != EINVAL && errno != EIDRM)
		unexpected("IPC_STAT", errno);
}

static void op_remove(struct worker *w)
{
	unsigned k = rnd(w, CHAOS_KEYS);
	int id = __atomic_load_n(&ids[k], __ATOMIC_RELAXED);
	if (id < 0)
		return;
	if (shmctl(id, IPC_RMID, NULL) < 0 && errno != EINVAL && errno != EIDRM)
		unexpected("IPC_RMID", errno);
}

static void op_fork(struct worker *w)
{
	pid_t c = fork();
	if (c < 0) {
		unexpected("fork", errno);
		return;
	}
	if (c == 0) {
		w->rng ^= (unsigned long long)getpid() << 17;
		stat_attached(w);
		if (w->natt && rnd(w, 2))
			w->atts[0].p[0]++;
		op_get(w);
		switch (rnd(w, 3)) {
		case 0:
			while (w->natt)
				detach_at(w, 0);
			_exit(0);
		case 1:
			_exit(0);
		default:
			raise(SIGKILL);
		}
	}
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
	    !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
		say("E pid %d: a forked child ended with status %#x\n", (int)getpid(), st);
}

static void *work_thread(void *arg)
{
	struct worker *w = arg;
	while (!stop) {
		unsigned op = rnd(w, 100);
		if (op < 15)
			op_get(w);
		else if (op < 45)
			op_attach(w);
		else if (op < 70) {
			if (w->natt)
				detach_at(w, (int)rnd(w, (unsigned)w->natt));
		} else if (op < 90)
			op_stat(w);
		else if (op < 95)
			op_remove(w);
		else
			op_fork(w);
		struct timespec ts = {0, (long)rnd(w, 300) * 1000};
		nanosleep(&ts, NULL);
	}
	while (w->natt)
		detach_at(w, 0);
	return NULL;
}

static int work(unsigned long long seed, int threads)
{
	static struct worker ws[MAXTHREADS];
	pthread_t th[MAXTHREADS];
	if (threads < 1 || threads > MAXTHREADS)
		return 64;
	for (int k = 0; k < CHAOS_KEYS; k++)
		ids[k] = -1;
	say("H %d\n", (int)getpid());
	for (int i = 0; i < threads; i++) {
		ws[i].rng = seed ^ ((unsigned long long)(i + 1) << 40) ^ (unsigned long long)getpid();
		pthread_create(&th[i], NULL, work_thread, &ws[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* ---- check, hold, stat ---- */

static unsigned long progress;

static void *watchdog(void *arg)
{
	(void)arg;
	unsigned long last = (unsigned long)-1;
	int quiet = 0, said = 0;
	for (;;) {
		sleep(5);
		unsigned long now = __atomic_load_n(&progress, __ATOMIC_RELAXED);
		quiet = now == last ? quiet + 5 : 0;
		last = now;
		if (quiet >= 60 && !said) {
			say("E pid %d: no progress for 60 s: the store hangs\n", (int)getpid());
			said = 1;
		}
	}
	return NULL;
}

static int attach_n(int id, int n, char **ps)
{
	for (int i = 0; i < n; i++) {
		ps[i] = shmat(id, NULL, SHM_RDONLY);
		if (ps[i] == (void *)-1) {
			int e = errno;
			if (e != EINVAL && e != EIDRM)
				unexpected("shmat in check", e);
			while (i-- > 0)
				if (shmdt(ps[i]) < 0)
					unexpected("shmdt in check", errno);
			return -1;
		}
	}
	return 0;
}

static void detach_n(char **ps, int n)
{
	for (int i = 0; i < n; i++)
		if (shmdt(ps[i]) < 0)
			unexpected("shmdt in check", errno);
}

static int check(int n)
{
	char *ps[64];
	pthread_t t;
	if (n < 1 || n > 64)
		return 64;
	pthread_create(&t, NULL, watchdog, NULL);
	say("H %d\n", (int)getpid());
	while (!stop) {
		for (int k = 0; k < CHAOS_KEYS && !stop; k++) {
			int id = shmget(CHAOS_KEY0 + k, 0, 0);
			if (id < 0) {
				if (errno != ENOENT)
					unexpected("shmget in check", errno);
				continue;
			}
			if (attach_n(id, n, ps) < 0)
				continue;
			struct shmid_ds d;
			if (shmctl(id, IPC_STAT, &d) < 0)
				unexpected("IPC_STAT of a segment attached by check", errno);
			else if (d.shm_nattch < (unsigned long)n)
				say("E pid %d: IPC_STAT of %d: nattch %lu, below the checker's own %d\n",
				    (int)getpid(), id, (unsigned long)d.shm_nattch, n);
			detach_n(ps, n);
		}
		__atomic_add_fetch(&progress, 1, __ATOMIC_RELAXED);
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int hold(int n)
{
	static char *ps[CHAOS_KEYS][64];
	int held[CHAOS_KEYS] = {0}, count = 0;
	char c;
	if (n < 1 || n > 64)
		return 64;
	for (int k = 0; k < CHAOS_KEYS; k++) {
		int id = shmget(CHAOS_KEY0 + k, 0, 0);
		if (id < 0) {
			if (errno != ENOENT)
				unexpected("shmget in hold", errno);
			continue;
		}
		if (attach_n(id, n, ps[k]) == 0) {
			held[k] = 1;
			count++;
		}
	}
	say("held %d\n", count);
	while (read(0, &c, 1) > 0)
		;
	for (int k = 0; k < CHAOS_KEYS; k++)
		if (held[k])
			detach_n(ps[k], n);
	return 0;
}

static int stat_all(void)
{
	for (int k = 0; k < CHAOS_KEYS; k++) {
		int id = shmget(CHAOS_KEY0 + k, 0, 0);
		struct shmid_ds d;
		if (id < 0 && errno == ENOENT)
			say("%d none\n", k);
		else if (id < 0 || shmctl(id, IPC_STAT, &d) < 0)
			unexpected("stat", errno);
		else
			say("%d nattch %lu\n", k, (unsigned long)d.shm_nattch);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	if (argc == 4 && !strcmp(argv[1], "work"))
		return work(strtoull(argv[2], NULL, 0), atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "check"))
		return check(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "hold"))
		return hold(atoi(argv[2]));
	if (argc == 2 && !strcmp(argv[1], "stat"))
		return stat_all();
	fprintf(stderr, "usage: chaos_worker work SEED THREADS | check N | hold N | stat\n");
	return 64;
}
