/* gort_forks: children forked by a program, and what they do, are the
 * kernel's business alone.
 *
 * Forks 50 children that exit at once, child i with status i, reaps them
 * with wait() as they come, and prints their statuses in fork order:
 *
 *   children: 50 reaped
 *   child 0: exit 0
 *   ...
 *
 * Then one more child attaches, writes, reads and detaches a new System V
 * segment, and removes it (exit 0; 1 to 5: the step that failed):
 *
 *   shm child: exit 0 */
#include "gort.h"

#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define CHILDREN 50

static int shm_child(void)
{
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (id < 0)
		return 1;
	char *p = shmat(id, NULL, 0);
	if (p == (char *)-1)
		return 2;
	strcpy(p, "forked");
	if (strcmp(p, "forked") != 0)
		return 3;
	if (shmdt(p) != 0)
		return 4;
	return shmctl(id, IPC_RMID, NULL) == 0 ? 0 : 5;
}

static void describe(const char *who, int status)
{
	if (WIFEXITED(status))
		printf("%s: exit %d\n", who, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("%s: killed by signal %d\n", who, WTERMSIG(status));
	else
		printf("%s: status %#x\n", who, status);
}

int main(void)
{
	pid_t pids[CHILDREN];
	int statuses[CHILDREN];
	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			gort_fail("fork");
		if (pids[i] == 0)
			_exit(i);
	}
	int reaped = 0, status;
	pid_t p;
	while ((p = wait(&status)) > 0)
		for (int i = 0; i < CHILDREN; i++)
			if (pids[i] == p) {
				statuses[i] = status;
				reaped++;
			}
	printf("children: %d reaped\n", reaped);
	for (int i = 0; i < reaped && i < CHILDREN; i++) {
		char who[32];
		snprintf(who, sizeof who, "child %d", i);
		describe(who, statuses[i]);
	}

	pid_t c = fork();
	if (c < 0)
		gort_fail("fork");
	if (c == 0)
		_exit(shm_child());
	if (waitpid(c, &status, 0) != c)
		gort_fail("waitpid");
	describe("shm child", status);
	return 0;
}
