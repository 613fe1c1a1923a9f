/*
 * fork_handler_advice - fork() in a program whose dependency's fork
 * handlers call madvise(MADV_DOFORK / MADV_DONTFORK) on memory of their
 * own (tests/cprogs/plugins/fork_advice_lib.c).  The library's madvise
 * takes the attach table's mutex for those advices, which goshm's prepare
 * handler takes too: that must run after the dependency's
 * (capi/engine/atfork.c), or the advice be passed on alone
 * (capi/engine/attrwatch.c gs_attrs_fork_advice_begin), never wait for
 * ever on its own thread.
 *
 * Attaches a segment, forks twice (the child attaches and detaches it),
 * and prints "ok forks=2 advised=N" (N: the advices of the parent's
 * handlers, 4).  Run it under timeout(1): it hangs when the bug is back.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

int fork_advice_lib_advised(void);

int main(void)
{
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
	if (p == (char *)-1) {
		perror("shmget/shmat");
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		pid_t c = fork();
		if (c == 0) {
			char *q = shmat(id, NULL, 0);
			_exit(q == (char *)-1 || shmdt(q) < 0);
		}
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("fork %d failed\n", i);
			return 1;
		}
	}
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	printf("ok forks=2 advised=%d\n", fork_advice_lib_advised());
	return 0;
}
