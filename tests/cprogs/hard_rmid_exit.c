/*
 * hard_rmid_exit RUNS - a common idiom, over and over (issue 14, defect 4:
 * it leaked until the store was full).
 *
 * Each run is a child process that calls shmget(IPC_PRIVATE), shmat,
 * writes a byte, marks the segment IPC_RMID and exits without shmdt: the
 * kernel destroys the segment at that exit.  One line per run, the raw id
 * (the test compares the ids with the kernel's):
 *   run N = ID
 *   run N = CALL -1 ERRNO
 *   run N: child ended by ...        (never expected)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *fmt, int run, const char *what, long v)
{
	char line[128];
	int n = snprintf(line, sizeof line, fmt, run, what, v);
	ssize_t w = write(1, line, (size_t)n);
	(void)w;
}

static __attribute__((noreturn)) void one_run(int run)
{
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (id < 0) {
		say("run %d = shmget -1 %s%.0ld\n", run, strerrorname_np(errno), 0);
		_exit(1);
	}
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		say("run %d = shmat -1 %s%.0ld\n", run, strerrorname_np(errno), 0);
		_exit(1);
	}
	p[0] = 1;
	if (shmctl(id, IPC_RMID, NULL) < 0) {
		say("run %d = IPC_RMID -1 %s%.0ld\n", run, strerrorname_np(errno), 0);
		_exit(1);
	}
	say("run %d = %s%ld\n", run, "", id);
	_exit(0); /* no shmdt: the exit ends the last attach */
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hard_rmid_exit RUNS\n");
		return 64;
	}
	int runs = atoi(argv[1]);
	for (int i = 0; i < runs; i++) {
		pid_t c = fork();
		if (c < 0) {
			perror("fork");
			return 70;
		}
		if (c == 0)
			one_run(i);
		int st;
		while (waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st))
			say("run %d: child ended by %s%ld\n", i, "signal ", WTERMSIG(st));
	}
	return 0;
}
