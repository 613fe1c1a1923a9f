/* gort_sigwait: a signal the program blocks waits, pending, until the
 * program takes it with sigtimedwait() (sigwait, signalfd: the same
 * queue), however long that takes and whatever other threads the process
 * has.
 *
 *   gort_sigwait chld    SIGCHLD, from the exit of a child
 *   gort_sigwait rtmin   SIGRTMIN, from a POSIX timer (timer_create)
 *   gort_sigwait term    SIGTERM, from kill() of itself
 *   gort_sigwait usr1    SIGUSR1, from kill() of itself
 *
 * It blocks the signal, has it sent, and looks for it 200 ms later, as a
 * supervisor or an event loop does between two pieces of work:
 *
 *   SIGCHLD taken by sigtimedwait, si_code CLD_EXITED
 *
 * or "SIGCHLD not pending" (exit 1) when another thread took it.  The
 * default action of SIGRTMIN is to terminate: if a thread that does not
 * block it takes it, the program dies by it. */
#include "gort.h"

#include <sys/wait.h>

int main(int argc, char **argv)
{
	const char *what = argc == 2 ? argv[1] : "";
	int sig = strcmp(what, "chld") == 0 ? SIGCHLD
		: strcmp(what, "rtmin") == 0 ? SIGRTMIN
		: strcmp(what, "term") == 0  ? SIGTERM
		: strcmp(what, "usr1") == 0  ? SIGUSR1
					     : 0;
	if (sig == 0) {
		fprintf(stderr, "usage: gort_sigwait chld|rtmin|term|usr1\n");
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		gort_fail("sigprocmask");
	/* The library's threads are all there, as in a server that has run
	 * for a while. */
	gort_settled_tasks();

	pid_t child = 0;
	if (sig == SIGCHLD) {
		child = fork();
		if (child < 0)
			gort_fail("fork");
		if (child == 0)
			_exit(0);
		siginfo_t si; /* until it has exited: SIGCHLD has been sent */
		if (waitid(P_PID, child, &si, WEXITED | WNOWAIT) != 0)
			gort_fail("waitid");
	} else if (sig == SIGRTMIN) {
		struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = sig};
		struct itimerspec once = {.it_value = {0, 1000000}};
		timer_t timer;
		if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0 || timer_settime(timer, 0, &once, NULL) != 0)
			gort_fail("timer");
	} else if (kill(getpid(), sig) != 0) {
		gort_fail("kill");
	}
	gort_sleep_ms(200);

	char name[32];
	struct timespec wait = {1, 0};
	siginfo_t si;
	int got = sigtimedwait(&set, &si, &wait);
	if (child > 0)
		waitpid(child, NULL, 0);
	if (got != sig) {
		printf("%s not pending\n", gort_signame(sig, name));
		return 1;
	}
	const char *code = si.si_code == SI_USER    ? "SI_USER"
			   : si.si_code == SI_TIMER ? "SI_TIMER"
			   : si.si_code == CLD_EXITED && sig == SIGCHLD ? "CLD_EXITED"
									 : "other";
	printf("%s taken by sigtimedwait, si_code %s\n", gort_signame(sig, name), code);
	return 0;
}
