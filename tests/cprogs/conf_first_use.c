/* conf_first_use: the first use of a store, by several callers at once.
 *
 *   conf_first_use THREADS
 *
 * THREADS threads wait on a barrier and then each call
 * shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) and remove the segment:
 * under goshm, with GOSHM_DIR naming a store that does not exist yet, they
 * all create it at once, and every call must succeed as the kernel's does.
 * Prints "THREADS calls: ok", or one line per failed call, and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

static pthread_barrier_t ready;
static int failures;
static pthread_mutex_t report = PTHREAD_MUTEX_INITIALIZER;

static void *first_use(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&ready);
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	int err = errno;
	if (id >= 0 && shmctl(id, IPC_RMID, NULL) != 0) {
		err = errno;
		id = -1;
	}
	if (id < 0) {
		pthread_mutex_lock(&report);
		failures++;
		printf("shmget or IPC_RMID failed: %s\n", strerrorname_np(err));
		pthread_mutex_unlock(&report);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc == 2 ? atoi(argv[1]) : 0;
	if (n < 1 || n > 256) {
		fprintf(stderr, "usage: conf_first_use THREADS\n");
		return 2;
	}
	pthread_t t[256];
	if (pthread_barrier_init(&ready, NULL, (unsigned)n) != 0)
		return 70;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, first_use, NULL) != 0)
			return 70;
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	if (failures == 0)
		printf("%d calls: ok\n", n);
	return failures ? 1 : 0;
}
