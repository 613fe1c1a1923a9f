#define _GNU_SOURCE
/*
 * sig_reenter - System V calls from a signal handler that interrupts the
 * same calls (tests/conformance, TestSignalHandlerCalls).
 *
 *   sig_reenter shm|sem SECONDS [signal|raw]
 *
 * A timer signal comes every 500 us for SECONDS.  shm: the main loop
 * attaches and detaches segment A; the handler attaches segment B, writes
 * a byte, detaches it and asks IPC_STAT.  sem: the main loop takes and
 * gives back semaphore 0 of a set (SEM_UNDO); the handler gives and takes
 * semaphore 1 of the same set and reads its value.  The kernel runs each
 * call whole before a handler can run, so the handler's calls never find
 * the main loop's half done.  Prints "loops N handled M errors E" and
 * exits 0 when no call failed.  A library that held a lock of its own
 * when the handler came, and took it again in the handler, would hang:
 * the test gives it a deadline.  The handler is installed with sigaction()
 * after the segments or the set are made, or with signal() before, or
 * (raw) with the rt_sigaction system call itself after, past the C
 * library and any library that watches it.  Calls that fail with EDEADLK
 * are counted apart: "refused R" (goshm's answer to a handler it could not
 * see coming, capi/engine/siglock.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int mode_sem, ida, idb, semid;
static volatile long handled, errs, refused;

/* A failed call: refused (EDEADLK) or an error. */
static void failed(void)
{
	if (errno == EDEADLK)
		refused++;
	else
		errs++;
}

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

/* x86-64's kernel returns from a handler through the restorer the caller
 * gives (the C library passes its own); other architectures use the
 * vDSO's. */
#if defined(__x86_64__)
__attribute__((naked)) static void restore_rt(void)
{
	__asm__ volatile("mov $15, %eax\n\tsyscall"); /* rt_sigreturn */
}
#define RAW_FLAGS (SA_RESTART | SA_RESTORER)
#define RAW_RESTORER restore_rt
#else
#define RAW_FLAGS SA_RESTART
#define RAW_RESTORER NULL
#endif

/* The kernel's struct sigaction (not the C library's). */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};

static int raw_sigaction(int sig, void (*handler)(int))
{
	struct kernel_sigaction ka = {handler, RAW_FLAGS, RAW_RESTORER, 0};
	return (int)syscall(SYS_rt_sigaction, sig, &ka, NULL, sizeof ka.mask);
}

static void on_timer(int sig)
{
	(void)sig;
	int saved = errno;
	if (mode_sem) {
		struct sembuf up = {1, 1, 0}, down = {1, -1, 0};
		if (semop(semid, &up, 1) < 0) {
			failed();
		} else if (semop(semid, &down, 1) < 0) {
			failed();
			errs++; /* its +1 stays */
		} else {
			int v = semctl(semid, 1, GETVAL);
			if (v < 0)
				failed();
			else if (v != 0)
				errs++;
		}
	} else {
		volatile char *p = shmat(idb, NULL, 0);
		if (p == (void *)-1) {
			failed();
		} else {
			p[0]++;
			if (shmdt((const void *)p) < 0) {
				failed();
				errs++; /* an attach left behind */
			}
		}
		struct shmid_ds ds;
		if (shmctl(idb, IPC_STAT, &ds) < 0)
			failed();
	}
	handled++;
	errno = saved;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (strcmp(argv[1], "shm") && strcmp(argv[1], "sem")) ||
	    (argc == 4 && strcmp(argv[3], "signal") && strcmp(argv[3], "raw"))) {
		fprintf(stderr, "usage: sig_reenter shm|sem SECONDS [signal|raw]\n");
		return 2;
	}
	mode_sem = !strcmp(argv[1], "sem");
	double secs = atof(argv[2]);
	int with_signal = argc == 4 && !strcmp(argv[3], "signal");
	int raw = argc == 4 && !strcmp(argv[3], "raw");
	if (with_signal && signal(SIGALRM, on_timer) == SIG_ERR) {
		perror("signal");
		return 1;
	}
	if (mode_sem) {
		semid = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
		if (semid < 0 || semctl(semid, 0, SETVAL, 1) < 0) {
			perror("semget");
			return 1;
		}
	} else {
		ida = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		idb = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		if (ida < 0 || idb < 0) {
			perror("shmget");
			return 1;
		}
	}
	if (raw) {
		if (raw_sigaction(SIGALRM, on_timer) < 0) {
			perror("rt_sigaction");
			return 1;
		}
	} else if (!with_signal) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_timer;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGALRM, &sa, NULL);
	}
	struct itimerval it = {{0, 500}, {0, 500}};
	setitimer(ITIMER_REAL, &it, NULL);
	long loops = 0;
	double end = now() + secs;
	while (now() < end) {
		if (mode_sem) {
			struct sembuf down = {0, -1, SEM_UNDO}, up = {0, 1, SEM_UNDO};
			if (semop(semid, &down, 1) < 0 || semop(semid, &up, 1) < 0) {
				perror("semop");
				return 1;
			}
		} else {
			void *p = shmat(ida, NULL, 0);
			if (p == (void *)-1 || shmdt(p) < 0) {
				perror("shmat/shmdt");
				return 1;
			}
		}
		loops++;
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	if (mode_sem) {
		semctl(semid, 0, IPC_RMID);
	} else {
		shmctl(ida, IPC_RMID, NULL);
		shmctl(idb, IPC_RMID, NULL);
	}
	printf("loops %ld handled %ld errors %ld refused %ld\n", loops, handled, errs, refused);
	return errs != 0;
}
