/*
 * conf_threads - System V shared memory from many threads at once.
 *
 *   conf_threads            8 threads attach, detach, create and remove
 *                           concurrently while another thread forks children
 *                           that do the same; nothing may fail or hang, and
 *                           nattch ends at 0
 *   conf_threads smallstack (root) calls that check permissions, from a
 *                           thread with the smallest stack pthreads allows
 *                           (PTHREAD_STACK_MIN, 16 KiB), on a segment of
 *                           another user
 *
 * Output is in the scenario runner's normalized form (conf/out.h).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>

#include "conf/out.h"
#include "conf/calls.h"
#include "conf/proc.h"

#define THREADS 8
#define ROUNDS 300
#define FORKS 40

static int shared_id;
static int errors[THREADS + 1];
static char first_error[THREADS + 1][80];

/* Count an error, and remember the first of each thread. */
static void error_at(int t, const char *what)
{
	if (!errors[t]++)
		snprintf(first_error[t], sizeof first_error[t], "%s: %s", what, err_name(errno));
}
static int child_failures, forks_done;
static volatile int stop_forking;

static void *attacher(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int i = 0; i < ROUNDS; i++) {
		int ro = i & 1;
		unsigned char *p = shmat(shared_id, NULL, ro ? SHM_RDONLY : 0);
		if (p == (void *)-1) {
			error_at(t, "shmat");
			continue;
		}
		if (!ro)
			__atomic_fetch_add(&p[t], 1, __ATOMIC_RELAXED);
		struct shmid_ds d;
		if (shmctl(shared_id, IPC_STAT, &d) < 0)
			error_at(t, "IPC_STAT");
		else if (d.shm_nattch < 1)
			error_at(t, "nattch 0 while attached");
		if (shmdt(p) < 0)
			error_at(t, "shmdt");
		if (i % 10 == 0) {
			int own = shmget(IPC_PRIVATE, 4096 * (size_t)(1 + t), IPC_CREAT | 0600);
			void *q = own < 0 ? (void *)-1 : shmat(own, NULL, 0);
			if (own < 0)
				error_at(t, "shmget");
			else if (q == (void *)-1)
				error_at(t, "shmat of its own");
			else if (shmdt(q) < 0)
				error_at(t, "shmdt of its own");
			else if (shmctl(own, IPC_RMID, NULL) < 0)
				error_at(t, "IPC_RMID");
		}
	}
	return NULL;
}

/* Forks while the others attach: a child must never inherit a held lock. */
static void *forker(void *arg)
{
	(void)arg;
	for (int i = 0; i < FORKS && !stop_forking; i++) {
		pid_t c = fork();
		if (c == 0) {
			alarm(10);
			unsigned char *p = shmat(shared_id, NULL, 0);
			if (p == (void *)-1)
				_exit(1);
			p[100] = 1;
			struct shmid_ds d;
			if (shmctl(shared_id, IPC_STAT, &d) < 0 || d.shm_nattch < 1)
				_exit(2);
			if (shmdt(p) < 0)
				_exit(3);
			int own = shmget(IPC_PRIVATE, 4096, 0600);
			if (own < 0 || shmctl(own, IPC_RMID, NULL) < 0)
				_exit(4);
			_exit(0);
		}
		int st = 0;
		if (c < 0 || waitpid(c, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			child_failures++;
		forks_done++;
	}
	return NULL;
}

static void run_threads(void)
{
	pthread_t th[THREADS + 1];
	shared_id = G(IPC_PRIVATE, 8192, 0600);
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, attacher, (void *)(intptr_t)t);
	pthread_create(&th[THREADS], NULL, forker, NULL);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	pthread_join(th[THREADS], NULL);
	int errs = 0;
	for (int t = 0; t < THREADS; t++)
		errs += errors[t];
	out("%d threads x %d rounds: %d errors", THREADS, ROUNDS, errs);
	for (int t = 0; t < THREADS; t++)
		if (errors[t])
			out("thread %d: %d errors, first %s", t, errors[t], first_error[t]);
	out("%d forks from a thread: %d children failed or hung", forks_done, child_failures);
	unsigned char *p = A(shared_id, NULL, SHM_RDONLY);
	int sum = 0;
	for (int t = 0; t < THREADS; t++)
		sum += p[t];
	out("increments = %d, child writes = %d", sum, p[100]);
	D(p);
	NAT(shared_id);
	ST(shared_id, NULL);
	RM(shared_id);
	SINFO();
}

/* ---- a small stack ---- */

static int other_id;

static void *small_stack_calls(void *arg)
{
	(void)arg;
	G(0x7e57, 0, 0600);
	void *p = A(other_id, NULL, 0);
	if (p != (void *)-1)
		D(p);
	ST(other_id, NULL);
	SSTAT(other_id & 0x7fff, SHM_STAT);
	return NULL;
}

static void run_small_stack(void)
{
	pid_t c = child_as(1000, 1000);
	if (c == 0) {
		G(0x7e57, 4096, IPC_CREAT | 0666);
		child_exit();
	}
	reap(c);
	other_id = shmget(0x7e57, 0, 0);
	pthread_attr_t attr;
	pthread_t th;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
	c = child();
	if (c == 0) {
		/* in a child, so that a stack overflow shows as its death */
		pthread_create(&th, &attr, small_stack_calls, NULL);
		pthread_join(th, NULL);
		child_exit();
	}
	reap(c);
	RM(other_id);
}

int main(int argc, char **argv)
{
	if (argc == 1) {
		conf_init("threads");
		run_threads();
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "smallstack")) {
		conf_init("smallstack");
		run_small_stack();
		return 0;
	}
	fprintf(stderr, "usage: conf_threads [smallstack]\n");
	return 64;
}
