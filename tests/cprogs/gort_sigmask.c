/* gort_sigmask: the signal mask of a program's thread is the program's, and
 * every other thread of the process blocks whatever the program may want
 * to take when it likes.
 *
 * The program blocks SIGUSR1, SIGTERM, SIGCHLD, SIGPROF, SIGRTMIN and
 * SIGRTMIN+3 and execs itself, so that it starts with that mask as many
 * servers do (a supervisor's mask is inherited through fork and exec).
 * It then prints, read from /proc (the kernel's view, not libc's):
 *
 *   main thread at start: SIGUSR1 SIGTERM ...
 *   shmget, shmat, shmdt, shmctl: ok
 *   main thread after the calls: ...
 *   main thread after blocking SIGUSR2: ...
 *   other threads: N
 *   thread TID lets through: SIGCHLD ...   (one line per thread that does
 *                                           not block every asynchronous
 *                                           signal, gort.h's gort_async)
 *
 * Natively there is no other thread.  With libgoshm.so preloaded the Go
 * runtime's threads are the others, and a signal one of them lets through
 * can be delivered to it while the program blocks it. */
#include "gort.h"

#include <sys/ipc.h>
#include <sys/shm.h>

static void print_blocked(const char *when)
{
	unsigned long long mask = gort_sigblk(0);
	char name[32];
	printf("main thread %s:", when);
	for (int sig = 1; sig < NSIG; sig++)
		if (gort_in(mask, sig))
			printf(" %s", gort_signame(sig, name));
	printf("\n");
}

static void shm_calls(void)
{
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	void *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	int ok = p != (void *)-1 && shmdt(p) == 0 && shmctl(id, IPC_RMID, NULL) == 0;
	printf("shmget, shmat, shmdt, shmctl: %s\n", ok ? "ok" : "failed");
}

static void print_other_threads(void)
{
	gort_settled_tasks();
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		gort_fail("opendir /proc/self/task");
	int others = 0;
	char lines[4096] = "";
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		pid_t tid = atoi(e->d_name);
		if (tid == 0 || tid == getpid())
			continue;
		others++;
		unsigned long long mask = gort_sigblk(tid);
		char list[1024] = "", name[32];
		for (int sig = 1; sig < NSIG; sig++)
			if (gort_async(sig) && !gort_in(mask, sig))
				snprintf(list + strlen(list), sizeof list - strlen(list), " %s", gort_signame(sig, name));
		if (list[0] != '\0')
			snprintf(lines + strlen(lines), sizeof lines - strlen(lines), "thread %d lets through:%s\n",
				 tid, list);
	}
	closedir(d);
	printf("other threads: %d\n%s", others, lines);
}

int main(int argc, char **argv)
{
	if (argc == 1) {
		sigset_t set;
		sigemptyset(&set);
		int block[] = {SIGUSR1, SIGTERM, SIGCHLD, SIGPROF, SIGRTMIN, SIGRTMIN + 3};
		for (size_t i = 0; i < sizeof block / sizeof block[0]; i++)
			sigaddset(&set, block[i]);
		if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
			gort_fail("sigprocmask");
		execl("/proc/self/exe", argv[0], "started", (char *)NULL);
		gort_fail("exec");
	}
	print_blocked("at start");
	shm_calls();
	print_blocked("after the calls");
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &usr2, NULL) != 0)
		gort_fail("sigprocmask");
	print_blocked("after blocking SIGUSR2");
	print_other_threads();
	return 0;
}
