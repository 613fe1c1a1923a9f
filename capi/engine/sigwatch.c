/*
 * sigwatch.c - does the program catch any signal?
 *
 * siglock.c blocks the program's signals while a goshm call holds a lock,
 * so that no handler of the program can run inside the call and call
 * goshm again.  That costs two system calls per lock, which a program
 * with no handler of its own need not pay: nothing of it can run inside
 * the call.  The answer, for the whole process:
 *
 *   - at the first question, the kernel's (SigCgt in /proc/self/status):
 *     handlers installed before the library was asked, by anybody;
 *   - after that, every handler the program installs through the C
 *     library, which comes through sigaction(), signal(), sigset(),
 *     bsd_signal() or sysv_signal() here and is passed on to the C
 *     library's (RTLD_NEXT).
 *
 * Once yes, always yes: a handler reset to SIG_DFL later costs only the
 * two system calls.  Missed: a handler installed with a raw rt_sigaction
 * system call after the first question.  If it calls goshm while its
 * thread holds a lock of goshm's, that call fails with EDEADLK instead of
 * waiting for ever (siglock.c), and the answer becomes yes from then on
 * (docs/DIFFERENCES.md).  The C libraries' own handlers
 * (signals 32 to 34: cancellation, set*id broadcasts, timers) never call
 * goshm and do not count.
 */
#include "engine.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static int catching = -1; /* -1: not asked yet */

static int kernel_says_caught(void)
{
	char buf[4096];
	if (gs_read_text("/proc/self/status", buf, sizeof buf) <= 0)
		return 1;
	const char *line = strstr(buf, "\nSigCgt:");
	if (!line)
		return 1;
	char *end;
	unsigned long long mask = strtoull(line + 8, &end, 16);
	if (end == line + 8)
		return 1;
	mask &= ~(7ull << 31); /* signals 32, 33, 34 */
	return mask != 0;
}

int gs_program_catches_signals(void)
{
	int c = __atomic_load_n(&catching, __ATOMIC_ACQUIRE);
	if (c >= 0)
		return c;
	int unknown = -1;
	__atomic_compare_exchange_n(&catching, &unknown, kernel_says_caught(), 0, __ATOMIC_ACQ_REL,
	                            __ATOMIC_ACQUIRE);
	return __atomic_load_n(&catching, __ATOMIC_ACQUIRE);
}

/* The program has a handler: one installed through the C library
 * (note), or one the watch missed that showed itself (siglock.c). */
void gs_note_program_catches_signals(void)
{
	__atomic_store_n(&catching, 1, __ATOMIC_RELEASE);
}

static void note(void (*handler)(int))
{
	if (handler != SIG_DFL && handler != SIG_IGN && handler != SIG_ERR)
		gs_note_program_catches_signals();
}

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef void (*handler_fn)(int);
typedef handler_fn (*signal_fn)(int, handler_fn);

enum { SIGACTION, SIGNAL, SIGSET, BSD_SIGNAL, SYSV_SIGNAL, NFUNCS };
static const char *const names[NFUNCS] = {"sigaction", "signal", "sigset", "bsd_signal",
                                          "sysv_signal"};
static void *next_fn[NFUNCS];

/* The C library's function: looked up at load, so that a sigaction()
 * called from a signal handler (it may be) never runs the loader. */
static void *next(int i) { return gs_next_symbol(&next_fn[i], names[i]); }

__attribute__((constructor)) static void gs_sigwatch_resolve(void)
{
	for (int i = 0; i < NFUNCS; i++)
		next(i);
}

GS_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	sigaction_fn f = (sigaction_fn)next(SIGACTION);
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	int r = f(sig, act, old);
	if (r == 0 && act)
		note(act->sa_handler);
	return r;
}

static handler_fn pass_on(int i, int sig, handler_fn handler)
{
	signal_fn f = (signal_fn)next(i);
	if (!f) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	handler_fn r = f(sig, handler);
	if (r != SIG_ERR)
		note(handler);
	return r;
}

GS_EXPORT handler_fn signal(int sig, handler_fn handler) { return pass_on(SIGNAL, sig, handler); }
GS_EXPORT handler_fn sigset(int sig, handler_fn handler) { return pass_on(SIGSET, sig, handler); }
GS_EXPORT handler_fn bsd_signal(int sig, handler_fn handler)
{
	return pass_on(BSD_SIGNAL, sig, handler);
}
GS_EXPORT handler_fn sysv_signal(int sig, handler_fn handler)
{
	return pass_on(SYSV_SIGNAL, sig, handler);
}
