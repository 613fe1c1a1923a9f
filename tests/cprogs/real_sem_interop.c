/*
 * real_sem_interop - the C side of the semaphore interop test
 * (tests/realprog/sem_test.go):
 *   real_sem_interop KEY create   semget(IPC_CREAT|IPC_EXCL|0666), 1 sem
 *   real_sem_interop KEY value    print the value
 *   real_sem_interop KEY lock     P with SEM_UNDO (5 s timeout), V, print
 *   real_sem_interop KEY remove   IPC_RMID
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 64;
	key_t key = (key_t)strtol(argv[1], NULL, 0);
	int id = !strcmp(argv[2], "create") ? semget(key, 1, IPC_CREAT | IPC_EXCL | 0666)
	                                    : semget(key, 0, 0);
	if (id < 0) {
		printf("semget: %s\n", strerror(errno));
		return 1;
	}
	if (!strcmp(argv[2], "lock")) {
		struct sembuf p = {0, -1, SEM_UNDO}, v = {0, 1, SEM_UNDO};
		struct timespec ts = {5, 0};
		if (semtimedop(id, &p, 1, &ts) < 0 || semop(id, &v, 1) < 0) {
			printf("lock: %s\n", strerror(errno));
			return 1;
		}
		printf("locked and unlocked\n");
	} else if (!strcmp(argv[2], "remove")) {
		if (semctl(id, 0, IPC_RMID) < 0) {
			printf("IPC_RMID: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	printf("%d\n", semctl(id, 0, GETVAL));
	return 0;
}
