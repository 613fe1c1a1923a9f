/*
 * sem_signal_wait - a semop that blocks, for a signal that comes while it
 * registers as a waiter (tests/realprog, TestSignalWhileSemopRegisters).
 *
 *   SEM_SIGNAL_STOP=1 sem_signal_wait
 *
 * Installs a SIGUSR1 handler with sigaction() (SA_RESTART: semop fails
 * with EINTR after any handler all the same), makes a one-semaphore set of
 * value 0, prints "id N", stops itself (SIGSTOP) when SEM_SIGNAL_STOP is
 * set so that gdb can attach, and calls semop(-1).  Then prints
 * "semop -1 EINTR handled 1" (or what it got), removes the set, and
 * prints "done".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		perror("sigaction");
		return 1;
	}
	int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (id < 0) {
		perror("semget");
		return 1;
	}
	printf("id %d\n", id);
	fflush(stdout);
	if (getenv("SEM_SIGNAL_STOP"))
		raise(SIGSTOP);
	struct sembuf down = {0, -1, 0};
	int r = semop(id, &down, 1);
	int e = errno;
	printf("semop %d %s handled %d\n", r, r < 0 ? (e == EINTR ? "EINTR" : strerror(e)) : "ok",
	       (int)handled);
	semctl(id, 0, IPC_RMID);
	printf("done\n");
	return 0;
}
