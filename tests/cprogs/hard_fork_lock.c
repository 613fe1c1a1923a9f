/*
 * hard_fork_lock TRIES - a child forked while another thread is inside a
 * call, whose parent then dies (issue 14, defect 3: a store locked
 * forever).
 *
 * Each try forks a process P.  In P threads loop shmctl(IPC_STAT); P's
 * main thread forks a child C, which kills P with SIGKILL and then calls
 * shmget(key, 4096, IPC_CREAT).  The kernel's calls never wait for
 * another process, so C's shmget must return, and succeed.  A child whose
 * shmget has not returned after 10 s is hung: the try says so, the child
 * is killed (which is what frees a store it locked) and the run stops
 * there.  Then this process makes a call of its own on the store.
 *
 * Output (the same natively and under goshm):
 *   TRIES tries: N ok, N failed, N hung [first failure: ...]
 *   after: IPC_STAT = 0, IPC_RMID of the segments = 0 failed
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY0 0x14030000
#define HANG_MS 10000
#define STAT_THREADS 8

static int stat_id;

static void *stat_loop(void *arg)
{
	(void)arg;
	struct shmid_ds d;
	for (;;)
		shmctl(stat_id, IPC_STAT, &d);
	return NULL;
}

/* What C reports on the pipe: its pid, then its shmget's result. */
struct report {
	int pid;
	int id;
	int err;
};

static __attribute__((noreturn)) void run_parent(int try, int fd)
{
	/* Threads looping IPC_STAT.  With several, a call that was under
	 * way when P forked -- its descriptor copied into C -- is likely to
	 * hold the store's lock when C kills P. */
	for (int i = 0; i < STAT_THREADS; i++) {
		pthread_t t;
		pthread_create(&t, NULL, stat_loop, NULL);
	}
	/* Let the threads get going: most of their time is spent in calls. */
	struct timespec ts = {0, (long)(1 + try % 5) * 1000000L};
	nanosleep(&ts, NULL);
	pid_t c = fork();
	if (c == 0) {
		struct report r = {getpid(), -1, 0};
		ssize_t w = write(fd, &r, sizeof r);
		kill(getppid(), SIGKILL);
		r.id = shmget(KEY0 + try, 4096, IPC_CREAT | 0600);
		r.err = r.id < 0 ? errno : 0;
		w = write(fd, &r, sizeof r);
		(void)w;
		_exit(0);
	}
	for (;;)
		pause();
}

static int read_report(int fd, struct report *r, int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	int n;
	while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return 0;
	return read(fd, r, sizeof *r) == (ssize_t)sizeof *r;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hard_fork_lock TRIES\n");
		return 64;
	}
	int tries = atoi(argv[1]), ok = 0, failed = 0, hung = 0, done = 0;
	char first[128] = "";
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* C is ours to reap once P is gone */
	stat_id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (stat_id < 0) {
		printf("shmget = -1 %s\n", strerrorname_np(errno));
		return 1;
	}
	for (int i = 0; i < tries && !hung; i++, done++) {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) < 0) {
			perror("pipe2");
			return 70;
		}
		pid_t p = fork();
		if (p == 0) {
			close(fds[0]);
			run_parent(i, fds[1]);
		}
		close(fds[1]);
		struct report r;
		int cpid = -1;
		if (read_report(fds[0], &r, HANG_MS))
			cpid = r.pid;
		if (cpid > 0 && read_report(fds[0], &r, HANG_MS)) {
			if (r.id >= 0) {
				ok++;
			} else {
				if (!failed++)
					snprintf(first, sizeof first, " [first failure: try %d, shmget = -1 %s]",
					         i, strerrorname_np(r.err));
			}
		} else {
			hung++;
			snprintf(first, sizeof first, " [try %d: the child's shmget did not return in %d s]",
			         i, HANG_MS / 1000);
			if (cpid > 0)
				kill(cpid, SIGKILL);
		}
		close(fds[0]);
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		if (cpid > 0)
			while (waitpid(cpid, NULL, 0) < 0 && errno == EINTR)
				;
	}
	printf("%d tries: %d ok, %d failed, %d hung%s\n", done, ok, failed, hung, first);
	alarm(30); /* a store still locked: SIGALRM, not a hang */
	struct shmid_ds d;
	int st = shmctl(stat_id, IPC_STAT, &d);
	int rm_failed = shmctl(stat_id, IPC_RMID, NULL) < 0;
	for (int i = 0; i < done; i++) {
		int id = shmget(KEY0 + i, 0, 0); /* none where a try hung */
		rm_failed += id >= 0 && shmctl(id, IPC_RMID, NULL) < 0;
	}
	printf("after: IPC_STAT = %d, IPC_RMID of the segments = %d failed\n", st, rm_failed);
	return 0;
}
