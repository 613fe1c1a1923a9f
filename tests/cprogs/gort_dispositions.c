/* gort_dispositions: the signal dispositions a program starts with must be
 * the ones it inherited: at exec the kernel resets handled signals to the
 * default and keeps ignored ones ignored, and main() should see exactly
 * that, whatever libraries were loaded before it.
 *
 * Prints one line for each signal whose disposition is not SIG_DFL:
 *
 *   SIGPIPE ignored
 *   SIGSEGV handled
 *
 * and nothing when every signal has its default action. */
#include "gort.h"

int main(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) != 0)
			continue; /* 32 and 33: glibc's own */
		if (sa.sa_handler == SIG_DFL)
			continue;
		char name[32];
		printf("%s %s\n", gort_signame(sig, name), sa.sa_handler == SIG_IGN ? "ignored" : "handled");
	}
	return 0;
}
