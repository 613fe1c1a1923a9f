/* gort_sigpipe_ignored: an ignored SIGPIPE must stay ignored across exec.
 *
 * Daemons and shells run programs with SIGPIPE ignored, and the kernel
 * keeps an ignored signal ignored through exec, so a write to a closed
 * pipe fails with EPIPE in the program and in every program it runs in
 * turn.  The program ignores SIGPIPE and then execs itself twice
 * (stage 1, stage 2: the environment, LD_PRELOAD included, goes along).
 * Each stage reports its disposition and what a write to a pipe without
 * reader did:
 *
 *   stage 1: SIGPIPE ignored, write: EPIPE
 *   stage 2: SIGPIPE ignored, write: EPIPE
 *
 * A stage killed by SIGPIPE prints nothing more: the last one's death is
 * the program's exit status. */
#include "gort.h"

#include <errno.h>

static const char *disposition(int sig)
{
	struct sigaction sa;
	if (sigaction(sig, NULL, &sa) != 0)
		gort_fail("sigaction");
	return sa.sa_handler == SIG_IGN ? "ignored" : sa.sa_handler == SIG_DFL ? "default" : "handled";
}

int main(int argc, char **argv)
{
	int stage = argc == 2 ? atoi(argv[1]) : 0;
	if (stage == 0) {
		if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
			gort_fail("signal");
	} else {
		printf("stage %d: SIGPIPE %s, ", stage, disposition(SIGPIPE));
		fflush(stdout);
		int p[2];
		if (pipe(p) != 0)
			gort_fail("pipe");
		close(p[0]);
		ssize_t n = write(p[1], "x", 1);
		printf("write: %s\n", n < 0 ? strerrorname_np(errno) : "wrote");
		fflush(stdout);
	}
	if (stage == 2)
		return 0;
	char next[16];
	snprintf(next, sizeof next, "%d", stage + 1);
	execl("/proc/self/exe", argv[0], next, (char *)NULL);
	gort_fail("exec");
}
