/*
 * hard_threads OPS SECONDS - attaches and detaches from many threads while
 * another thread forks (issue 14, defect 1: a crash in threaded programs).
 *
 * Eight threads loop p = shmat(id, NULL, 0); read p[0]; shmdt(p): four on
 * a one-page segment, four on a three-page one.  A ninth thread forks
 * children that _exit(0) at once.  The run ends after OPS attach/detach
 * pairs in all, or after SECONDS, whichever comes first (the time only
 * bounds the run; the test asserts on what happened, never on how fast).
 *
 * Output (the kernel's, natively, is the reference):
 *   pairs = N                 attach/detach pairs done (differs by speed)
 *   forks = N                 children forked (differs by speed)
 *   shmat errors = N [first: ERRNO]
 *   shmdt errors = N [first: ERRNO]
 *   wrong contents = N        p[0] was not what the segment holds
 *   children failed = N       a child that did not exit 0
 *   nattch small = N, nattch large = N   at the end, from IPC_STAT
 *   removed = 0 0             IPC_RMID of both
 * A crash (SIGSEGV...) ends the process before the last lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 8

static int ids[2];
static long quota;
static time_t deadline;
static volatile int stop_forking;
static long pairs[THREADS], attach_errs[THREADS], detach_errs[THREADS], wrong[THREADS];
static int first_attach_err[THREADS], first_detach_err[THREADS];
static long forks, children_failed;

static void *worker(void *arg)
{
	int t = (int)(long)arg;
	int id = ids[t % 2];
	unsigned char want = (unsigned char)(t % 2 ? 0xb2 : 0xa1);
	for (long i = 0; i < quota; i++) {
		if ((i & 255) == 0 && time(NULL) >= deadline)
			break;
		volatile unsigned char *p = shmat(id, NULL, 0);
		if (p == (void *)-1) {
			if (!attach_errs[t]++)
				first_attach_err[t] = errno;
			continue;
		}
		if (p[0] != want)
			wrong[t]++;
		if (shmdt((const void *)p) < 0 && !detach_errs[t]++)
			first_detach_err[t] = errno;
		pairs[t]++;
	}
	return NULL;
}

static void *forker(void *arg)
{
	(void)arg;
	while (!stop_forking) {
		pid_t c = fork();
		if (c == 0)
			_exit(0);
		if (c < 0) {
			children_failed++;
			continue;
		}
		int st;
		while (waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
		forks++;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			children_failed++;
	}
	return NULL;
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: hard_threads OPS SECONDS\n");
		return 64;
	}
	quota = atol(argv[1]) / THREADS;
	deadline = time(NULL) + atol(argv[2]);
	ids[0] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	ids[1] = shmget(IPC_PRIVATE, 3 * 4096, IPC_CREAT | 0600);
	if (ids[0] < 0 || ids[1] < 0) {
		printf("shmget = -1 %s\n", errname(errno));
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		unsigned char *p = shmat(ids[i], NULL, 0);
		if (p == (void *)-1) {
			printf("shmat = -1 %s\n", errname(errno));
			return 1;
		}
		p[0] = (unsigned char)(i ? 0xb2 : 0xa1);
		shmdt(p);
	}

	pthread_t th[THREADS], f;
	pthread_create(&f, NULL, forker, NULL);
	for (long t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, worker, (void *)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	stop_forking = 1;
	pthread_join(f, NULL);

	long n = 0, ae = 0, de = 0, w = 0;
	int fa = 0, fd = 0;
	for (int t = 0; t < THREADS; t++) {
		n += pairs[t];
		w += wrong[t];
		if (attach_errs[t] && !ae)
			fa = first_attach_err[t];
		if (detach_errs[t] && !de)
			fd = first_detach_err[t];
		ae += attach_errs[t];
		de += detach_errs[t];
	}
	printf("pairs = %ld\n", n);
	printf("forks = %ld\n", forks);
	printf("shmat errors = %ld%s%s\n", ae, ae ? " first: " : "", ae ? errname(fa) : "");
	printf("shmdt errors = %ld%s%s\n", de, de ? " first: " : "", de ? errname(fd) : "");
	printf("wrong contents = %ld\n", w);
	printf("children failed = %ld\n", children_failed);
	struct shmid_ds d[2];
	int r0 = shmctl(ids[0], IPC_STAT, &d[0]), r1 = shmctl(ids[1], IPC_STAT, &d[1]);
	printf("nattch small = %ld, nattch large = %ld\n", r0 < 0 ? -1L : (long)d[0].shm_nattch,
	       r1 < 0 ? -1L : (long)d[1].shm_nattch);
	printf("removed = %d %d\n", shmctl(ids[0], IPC_RMID, NULL), shmctl(ids[1], IPC_RMID, NULL));
	return 0;
}
