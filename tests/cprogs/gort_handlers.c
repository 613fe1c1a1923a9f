/* gort_handlers: a program's own signal handler must be the one that runs.
 *
 *   gort_handlers segv|bus|fpe|pipe|usr1|chld|alrm
 *
 * installs a handler for one signal and provokes it the way programs meet
 * it: a NULL write (SIGSEGV), a page of a file mapping beyond the end of
 * the file (SIGBUS), an integer division by zero (SIGFPE), a write to a
 * pipe without reader (SIGPIPE), kill() of itself (SIGUSR1), a child's
 * exit (SIGCHLD), an interval timer (SIGALRM).  It prints
 *
 *   caught SIGSEGV code SEGV_MAPERR in the main thread
 *
 * (the si_code, and which thread ran the handler) and exits with the
 * signal's number.  Exit 1: the handler never ran.  With libgoshm.so
 * preloaded, the Go runtime inside it must not take the signal first. */
#include "gort.h"

#include <errno.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

static sigjmp_buf back;
static volatile sig_atomic_t caught, code, in_main, fatal;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	caught = sig;
	code = si->si_code;
	in_main = syscall(SYS_gettid) == getpid();
	/* Returning from a fault would run the faulting instruction again. */
	if (fatal)
		siglongjmp(back, 1);
}

static const char *code_name(int sig, int c)
{
	switch (c) {
	case SI_USER:
		return "SI_USER";
	case SI_KERNEL:
		return "SI_KERNEL";
	case SI_TKILL:
		return "SI_TKILL";
	}
	if (sig == SIGSEGV && c == SEGV_MAPERR)
		return "SEGV_MAPERR";
	if (sig == SIGBUS && c == BUS_ADRERR)
		return "BUS_ADRERR";
	if (sig == SIGFPE && c == FPE_INTDIV)
		return "FPE_INTDIV";
	if (sig == SIGCHLD && c == CLD_EXITED)
		return "CLD_EXITED";
	static char other[16];
	snprintf(other, sizeof other, "%d", c);
	return other;
}

static void null_write(void)
{
	volatile int *volatile p = NULL; /* the compiler must not see NULL */
	*p = 1;
}

static void beyond_end_of_file(void)
{
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = tmpfile();
	if (f == NULL || ftruncate(fileno(f), page) != 0)
		gort_fail("tmpfile");
	volatile char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(f), 0);
	if (m == MAP_FAILED)
		gort_fail("mmap");
	m[0] = 1;    /* inside the file */
	m[page] = 1; /* the second page has no file behind it */
}

static void divide_by_zero(void)
{
	volatile int a = 7, b = 0;
	printf("%d\n", a / b);
}

static void broken_pipe(void)
{
	int p[2];
	if (pipe(p) != 0)
		gort_fail("pipe");
	close(p[0]);
	if (write(p[1], "x", 1) < 0 && errno == EPIPE)
		printf("write: EPIPE\n");
}

static void child_exit(void)
{
	pid_t c = fork();
	if (c < 0)
		gort_fail("fork");
	if (c == 0)
		_exit(3);
	for (int i = 0; i < 5000 && !caught; i++)
		gort_sleep_ms(1);
	if (waitpid(c, NULL, 0) != c)
		gort_fail("waitpid");
}

static void interval_timer(void)
{
	struct itimerval it = {.it_value = {0, 50000}};
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		gort_fail("setitimer");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int sig;
		void (*provoke)(void);
	} cases[] = {
		{"segv", SIGSEGV, null_write},
		{"bus", SIGBUS, beyond_end_of_file},
		{"fpe", SIGFPE, divide_by_zero},
		{"pipe", SIGPIPE, broken_pipe},
		{"usr1", SIGUSR1, NULL},
		{"chld", SIGCHLD, child_exit},
		{"alrm", SIGALRM, interval_timer},
	};
	int i = 0, n = sizeof cases / sizeof cases[0];
	while (argc == 2 && i < n && strcmp(argv[1], cases[i].name) != 0)
		i++;
	if (i == n) {
		fprintf(stderr, "usage: gort_handlers segv|bus|fpe|pipe|usr1|chld|alrm\n");
		return 2;
	}
	int sig = cases[i].sig;
	fatal = sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE;
	struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};
	if (sigaction(sig, &sa, NULL) != 0)
		gort_fail("sigaction");

	if (sigsetjmp(back, 1) == 0) {
		if (cases[i].provoke != NULL)
			cases[i].provoke();
		else
			kill(getpid(), sig);
		for (int ms = 0; ms < 5000 && !caught; ms++)
			gort_sleep_ms(1);
	}
	if (!caught) {
		printf("no handler ran\n");
		return 1;
	}
	char name[32];
	printf("caught %s code %s in %s\n", gort_signame(caught, name), code_name(caught, code),
	       in_main ? "the main thread" : "another thread");
	return caught;
}
