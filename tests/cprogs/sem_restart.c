/*
 * sem_restart - the textbook pattern across a restart: a segment guarded
 * by a semaphore, created together at first start (IPC_CREAT|IPC_EXCL)
 * and opened without IPC_CREAT afterwards.
 *
 *   sem_restart first KEY   create both, then a child takes the semaphore
 *                           with SEM_UNDO, starts an update of the
 *                           segment and is SIGKILLed in the middle
 *   sem_restart again KEY   open both (no IPC_CREAT), take the semaphore
 *                           (5 s timeout) and check the segment
 *
 * tests/conformance runs "first" and "again" in two fresh IPC namespaces
 * (a container restart) under goshm with one store.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct page {
	int initialised;
	int items;       /* items in the queue; the semaphore counts them too */
	int in_progress; /* set while a holder updates the page */
};

static int fail(const char *what)
{
	printf("%s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 64;
	key_t key = (key_t)strtol(argv[2], NULL, 0);
	struct sembuf lock = {0, -1, SEM_UNDO}, unlock = {0, 1, SEM_UNDO};
	if (!strcmp(argv[1], "first")) {
		int shm = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
		int sem = semget(key, 2, IPC_CREAT | IPC_EXCL | 0600);
		if (shm < 0 || sem < 0)
			return fail("create");
		struct page *p = shmat(shm, NULL, 0);
		if (p == (void *)-1)
			return fail("shmat");
		if (semctl(sem, 0, SETVAL, 1) < 0 || semctl(sem, 1, SETVAL, 3) < 0)
			return fail("SETVAL");
		p->items = 3;
		p->initialised = 1;
		int pipefd[2];
		if (pipe(pipefd) < 0)
			return fail("pipe");
		pid_t c = fork();
		if (c == 0) {
			if (semop(sem, &lock, 1) < 0)
				_exit(2);
			p->in_progress = 1;
			if (write(pipefd[1], "x", 1) != 1)
				_exit(3);
			pause(); /* killed here, in the critical section */
			_exit(4);
		}
		char x;
		if (read(pipefd[0], &x, 1) != 1)
			return fail("read");
		printf("holder in critical section: semval=%d\n", semctl(sem, 0, GETVAL));
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		printf("holder killed\n");
		return 0;
	}
	int shm = shmget(key, 0, 0);
	if (shm < 0)
		return fail("shmget(key, 0, 0)");
	int sem = semget(key, 0, 0);
	if (sem < 0)
		return fail("semget(key, 0, 0)");
	struct page *p = shmat(shm, NULL, 0);
	if (p == (void *)-1)
		return fail("shmat");
	printf("initialised=%d items=%d count=%d\n", p->initialised, p->items,
	       semctl(sem, 1, GETVAL));
	struct timespec ts = {5, 0};
	if (semtimedop(sem, &lock, 1, &ts) < 0)
		return fail("lock");
	printf("locked; holder was updating: %d\n", p->in_progress);
	p->in_progress = 0;
	if (semop(sem, &unlock, 1) < 0)
		return fail("unlock");
	printf("semval=%d\n", semctl(sem, 0, GETVAL));
	return 0;
}
