/*
 * fork_lock_advice - fork() while another thread holds a dependency's lock
 * around an madvise(), and the dependency's fork prepare handler waits for
 * that lock (tests/cprogs/plugins/lock_advice_lib.c).  goshm's prepare
 * handler, which runs first, holds the engine's mutexes meanwhile: the
 * library's madvise must not wait for them (capi/engine/config.c
 * gs_fork_trylock), or neither thread goes on.
 *
 *   fork_lock_advice wipe|dontfork|attach
 *
 * A thread advises, under the dependency's lock, fresh pages of the
 * dependency's MADV_WIPEONFORK or MADV_DONTFORK, or ("attach") an attach
 * MADV_DONTFORK then MADV_DOFORK; the main thread forks 50 children, which
 * exit at once.  Prints "forks 50"; killed by its alarm after 30 s when
 * it hangs.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

int lock_advice_fresh(int advice, unsigned delay_us);
int lock_advice_range(void *p, size_t len, int advice, int then, unsigned delay_us);

static int mode_advice;
static char *attach;

static void *advise_loop(void *arg)
{
	(void)arg;
	for (;;) {
		if (attach)
			lock_advice_range(attach, 4096, MADV_DONTFORK, MADV_DOFORK, 2000);
		else
			lock_advice_fresh(mode_advice, 2000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "wipe";
	alarm(30);
	mode_advice = !strcmp(mode, "dontfork") ? MADV_DONTFORK : MADV_WIPEONFORK;
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
	if (p == (char *)-1) {
		perror("shmget/shmat");
		return 1;
	}
	shmctl(id, IPC_RMID, NULL);
	if (!strcmp(mode, "attach"))
		attach = p;
	pthread_t th;
	if (pthread_create(&th, NULL, advise_loop, NULL)) {
		perror("pthread_create");
		return 1;
	}
	int forks = 0;
	for (int i = 0; i < 50; i++) {
		usleep(1000);
		pid_t c = fork();
		if (c == 0)
			_exit(0);
		int st;
		if (c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			forks++;
	}
	printf("forks %d\n", forks);
	return forks == 50 ? 0 : 1;
}
