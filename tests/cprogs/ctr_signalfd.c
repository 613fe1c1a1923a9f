/* ctr_signalfd: a server that takes SIGTERM synchronously, through a
 * signalfd, as many daemons and event loops do: SIGTERM stays blocked and
 * is read from a descriptor, never delivered to a handler.
 *
 * It prints "ready", then works (sleeps 100 ms) and looks at its signalfd
 * between two pieces of work, as an event loop does between two batches.
 * At SIGTERM or SIGINT it prints "graceful shutdown SIGNO" and exits 0.
 * Natively a signal that arrives during the work waits, pending, for the
 * next look.  A program killed by the signal instead, or one that never
 * sees it, has lost it to a thread that does not block it: with libgoshm
 * preloaded, a thread of the library's Go runtime. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>

int main(void)
{
	sigset_t set;
	struct signalfd_siginfo si;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		perror("sigprocmask");
		return 1;
	}
	int fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0) {
		perror("signalfd");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 0) > 0)
			break;
		usleep(100000); /* the work */
	}
	if (read(fd, &si, sizeof si) != (ssize_t)sizeof si) {
		perror("read");
		return 1;
	}
	printf("graceful shutdown %u\n", si.ssi_signo);
	return 0;
}
