/* forkfaults: the page faults a fork() costs the parent and the child.
 *
 *   forkfaults N
 *
 * Makes one shmget() (so that a preloaded library has set itself up and
 * registered its fork handlers' state), then forks N children that exit
 * at once, and prints "forkfaults PARENT CHILD": minor page faults per
 * fork, in tenths, of the parent (getrusage RUSAGE_SELF) and of the
 * children (RUSAGE_CHILDREN).  Every page of a library's data that its
 * fork handlers write is one copy-on-write fault more on each side: a
 * count, not a time, so it does not move with the machine's load. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc == 2 ? atol(argv[1]) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: forkfaults N\n");
		return 64;
	}
	int id = shmget(IPC_PRIVATE, 4096, 0600);
	if (id < 0) {
		perror("shmget");
		return 1;
	}
	shmctl(id, IPC_RMID, NULL);
	struct rusage before, after, children;
	getrusage(RUSAGE_SELF, &before);
	for (long i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0)
			_exit(0);
		while (waitpid(p, NULL, 0) < 0)
			;
	}
	getrusage(RUSAGE_SELF, &after);
	getrusage(RUSAGE_CHILDREN, &children);
	printf("forkfaults %ld %ld\n", (after.ru_minflt - before.ru_minflt) * 10 / n,
	       children.ru_minflt * 10 / n);
	return 0;
}
