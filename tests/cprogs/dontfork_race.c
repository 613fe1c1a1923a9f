/*
 * dontfork_race.c - fork() while another thread advises an attach
 * MADV_DONTFORK and MADV_DOFORK in turn.  The kernel copies the attach
 * into a child or not, at the moment of the fork; goshm's table and the
 * attach's presence attach, which a child inherits with it, must say the
 * same (capi/engine/attrwatch.c: the advice and the table's update are
 * made under the mutex that fork()'s handlers take).
 *
 *   dontfork_race FORKS
 *
 * Each child checks itself: if the attach is mapped, the count is the
 * parent's attach and its own (2) and shmdt there succeeds; if not, the
 * count is 1 and shmdt there is EINVAL.  Prints "ok N M" (N children, M
 * of them without the attach) and exits 0, or names the first child that
 * saw otherwise and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static char *attach;
static atomic_int stop;

static void *advisor(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		madvise(attach, 4096, MADV_DONTFORK);
		madvise(attach, 4096, MADV_DOFORK);
	}
	return NULL;
}

/* In the child: 0 when what it inherited is consistent, 1 without the
 * attach, or 10 + the first check that failed. */
static int check(int id)
{
	unsigned char v;
	int mapped = mincore(attach, 4096, &v) == 0;
	struct shmid_ds d;
	if (shmctl(id, IPC_STAT, &d) < 0)
		return 10;
	if (d.shm_nattch != (mapped ? 2u : 1u))
		return 11;
	int r = shmdt(attach);
	if (mapped ? r != 0 : (r != -1 || errno != EINVAL))
		return 12;
	return mapped ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dontfork_race FORKS\n");
		return 64;
	}
	int forks = atoi(argv[1]);
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	attach = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
	if (attach == (char *)-1) {
		perror("shmget/shmat");
		return 2;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, advisor, NULL) != 0)
		return 2;
	int without = 0, bad = 0;
	for (int i = 0; i < forks && !bad; i++) {
		pid_t c = fork();
		if (c == 0)
			_exit(check(id));
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st)) {
			printf("child %d: fork or wait failed\n", i);
			bad = 1;
		} else if (WEXITSTATUS(st) >= 10) {
			static const char *const what[] = {"IPC_STAT failed", "wrong nattch",
			                                   "wrong shmdt"};
			printf("child %d: %s\n", i, what[WEXITSTATUS(st) - 10]);
			bad = 1;
		} else {
			without += WEXITSTATUS(st);
		}
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	shmdt(attach);
	shmctl(id, IPC_RMID, NULL);
	if (!bad)
		printf("ok %d %d\n", forks, without);
	return bad;
}
