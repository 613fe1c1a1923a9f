/* gort_default: a signal without a handler must take the kernel's default
 * action, and nothing else must speak first.
 *
 *   gort_default segv    writes through a NULL pointer (dies by SIGSEGV)
 *   gort_default abort   calls abort() (dies by SIGABRT)
 *   gort_default pipe    writes to a pipe without reader (dies by SIGPIPE)
 *   gort_default wait    prints "ready" and waits for the test's SIGTERM
 *
 * Each prints what it is about to do first.  Core dumps are turned off:
 * they would land in the test's directory, and say nothing the exit
 * status does not.  Exit 1: the program survived. */
#include "gort.h"

#include <sys/resource.h>

int main(int argc, char **argv)
{
	struct rlimit no_core = {0, 0};
	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		gort_fail("setrlimit");
	const char *what = argc == 2 ? argv[1] : "";
	printf("%s\n", strcmp(what, "wait") == 0 ? "ready" : what);
	fflush(stdout);

	if (strcmp(what, "segv") == 0) {
		volatile int *volatile p = NULL; /* the compiler must not see NULL */
		*p = 1;
	} else if (strcmp(what, "abort") == 0) {
		abort();
	} else if (strcmp(what, "pipe") == 0) {
		int p[2];
		if (pipe(p) != 0)
			gort_fail("pipe");
		close(p[0]);
		if (write(p[1], "x", 1) < 0)
			perror("write");
	} else if (strcmp(what, "wait") == 0) {
		for (int s = 0; s < 30; s++)
			sleep(1);
	} else {
		fprintf(stderr, "usage: gort_default segv|abort|pipe|wait\n");
		return 2;
	}
	printf("survived\n");
	return 1;
}
