#define _GNU_SOURCE
/*
 * real_init: the init of a test "container" (PID 1 of a fresh PID
 * namespace made by `unshare --pid --fork`).
 *
 *   real_init PROGRAM [ARG...]
 *
 * It runs PROGRAM as its one main child, forwards SIGTERM, SIGINT, SIGQUIT
 * and SIGHUP to it, and reaps every process that ends up as its child, as a
 * container's init does.  Without the reaping, a killed PostgreSQL
 * postmaster would stay a zombie in the namespace and the next server's
 * own pid-file check would refuse to start.  When the main child ends,
 * real_init exits with its status (128 + signal number if it was killed);
 * the kernel then kills whatever else is left in the namespace.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP};

int main(int argc, char **argv)
{
	sigset_t set, old;
	if (argc < 2) {
		fprintf(stderr, "usage: real_init PROGRAM [ARG...]\n");
		return 64;
	}
	/* Handle every signal of interest synchronously: a PID 1 has no
	 * default actions, and sigwaitinfo() cannot miss a SIGCHLD. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0) {
		perror("real_init: sigprocmask");
		return 70;
	}
	pid_t main_pid = fork();
	if (main_pid < 0) {
		perror("real_init: fork");
		return 70;
	}
	if (main_pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "real_init: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&set, &info);
		if (sig < 0)
			continue; /* EINTR */
		if (sig != SIGCHLD) {
			kill(main_pid, sig);
			continue;
		}
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid != main_pid)
				continue;
			if (WIFSIGNALED(status))
				return 128 + WTERMSIG(status);
			return WEXITSTATUS(status);
		}
	}
}
