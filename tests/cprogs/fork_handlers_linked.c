/*
 * fork_handlers_linked - a program linked against libgoshm.so with the C
 * library first among its DT_NEEDED (Makefile: -lc before -lgoshm), where
 * nothing comes after goshm in the lookup order, and which calls goshm's
 * API (goshm.h; its shmget is the C library's there, docs/C.md): goshm's
 * fork handlers must be registered all the same (capi/engine/atfork.c).
 *
 * Without them a child forked while another thread waits, inside a goshm
 * call, for the store's registry lock keeps that thread's store mutex
 * locked, and its own first call waits for ever.  So: a helper process
 * holds the registry's lock (byte 0, as store.c takes it) for 300 ms; a
 * thread starts a creation, which waits for it; the main thread forks,
 * and the child makes a creation of its own.  Prints "child created" and
 * "thread created"; the child dies by its alarm after 5 s when it hangs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "goshm.h"

static void *create(void *arg)
{
	(void)arg;
	return (void *)(long)goshm_shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
}

/* A process that holds the registry's lock for 300 ms; returns once it
 * does. */
static pid_t hold_registry_lock(const char *store)
{
	char path[4096];
	int ready[2];
	snprintf(path, sizeof path, "%s/registry", store);
	if (pipe(ready) < 0)
		return -1;
	pid_t h = fork();
	if (h == 0) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
		int fd = open(path, O_RDWR);
		if (fd < 0 || fcntl(fd, F_SETLKW, &fl) < 0) {
			perror(path);
			_exit(1);
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		usleep(300000);
		_exit(0);
	}
	char c;
	close(ready[1]);
	return h > 0 && read(ready[0], &c, 1) == 1 ? h : -1;
}

int main(void)
{
	const char *store = getenv("GOSHM_DIR");
	int id = goshm_shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600); /* makes the store */
	pid_t h = store && id >= 0 ? hold_registry_lock(store) : -1;
	pthread_t th;
	if (h < 0 || pthread_create(&th, NULL, create, NULL)) {
		printf("setup failed\n");
		return 1;
	}
	usleep(100000); /* the thread waits for the lock, holding its mutex */
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		alarm(5);
		int r = goshm_shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		printf("child %s\n", r >= 0 ? "created" : "failed");
		fflush(stdout);
		_exit(r >= 0 ? 0 : 1);
	}
	int st = 0;
	waitpid(c, &st, 0);
	void *tr;
	pthread_join(th, &tr);
	printf("thread %s\n", (long)tr >= 0 ? "created" : "failed");
	waitpid(h, NULL, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && (long)tr >= 0 ? 0 : 1;
}
