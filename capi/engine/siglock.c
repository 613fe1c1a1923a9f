/*
 * siglock.c - the engine's mutexes, held with the program's signals held
 * back.
 *
 * A System V call is one system call: no signal handler runs in the
 * middle of it, so a handler may make the same calls itself -- a SIGTERM
 * handler that detaches before it exits, a SIGALRM handler that polls
 * IPC_STAT.  The engine's calls take mutexes (a store's call mutex, the
 * attach table's, a semaphore set's lock...), and a handler that
 * interrupted its thread while it held one, and called goshm, would wait
 * for a mutex its own thread holds: for ever (TestSignalHandlerCalls).
 *
 * So while a thread holds any of them, the signals a program can receive
 * at any moment are blocked, and the thread's mask is put back as it was
 * when it lets go of the last one: what came meanwhile is delivered then,
 * as at the return of a system call.  The signals a fault raises (SIGSEGV,
 * SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) are left alone: the kernel kills
 * a process whose faulting thread blocks them.  Not wrapped: the mutexes
 * held on purpose for long (a semaphore waiter's, a SEM_UNDO record's
 * presence), which must not keep signals away.
 *
 * shmat and shmdt take the attach table's mutex two or three times each:
 * they hold the signals once for the whole call (gs_signals_hold), and
 * the mutexes inside only count, without a system call.
 *
 * It costs two rt_sigprocmask calls per outermost hold, paid only by a
 * program that catches some signal (sigwatch.c): without a handler of
 * the program, nothing can run inside the call.
 *
 * The count and the saved mask are per thread (TLS): the state of the
 * locking discipline, not of any segment.  fork() copies them into the
 * child with the mutexes the fork handlers hold, and the handlers'
 * unlocks put the mask back in both.
 */
#include "engine.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static GS_TLS unsigned held;
static GS_TLS int blocked; /* whether the outermost hold blocked */
static GS_TLS sigset_t saved;

/* The thread's state is written only once the signals are blocked: a
 * handler that runs before finds the thread holding nothing (which is
 * true), may call goshm (gs_reentry_refused) and leaves the state as it
 * found it. */
void gs_signals_hold(void)
{
	if (held) {
		held++;
		return;
	}
	int block = gs_program_catches_signals();
	sigset_t old;
	if (block) {
		sigset_t all;
		sigfillset(&all);
		sigdelset(&all, SIGSEGV);
		sigdelset(&all, SIGBUS);
		sigdelset(&all, SIGILL);
		sigdelset(&all, SIGFPE);
		sigdelset(&all, SIGTRAP);
		sigdelset(&all, SIGSYS);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		saved = old;
	}
	/* Not before the mask: a handler reads it (compiler barrier). */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	blocked = block;
	held = 1;
}

/* Whether this thread is inside one of the engine's calls (it holds the
 * signals, or one of the engine's mutexes). */
int gs_in_call(void)
{
	return held != 0;
}

void gs_signals_release(void)
{
	if (!held || --held || !blocked)
		return;
	/* The count at 0 before a signal can come in (compiler barrier). */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

/* The kernel's struct sigaction, for asking a disposition without the C
 * library (whose sigaction() refuses its own signals, 32 and 33). */
struct gs_kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

/*
 * Whether a signal that will run a handler of the program is pending for
 * this thread while it holds signals back: it runs as soon as they are
 * let go.  A semop that is about to wait asks (semop.c): the kernel's
 * semop fails with EINTR after a handler, and a handler that runs just
 * before the futex wait would leave the wait unaware of it.  Pending
 * signals the program blocks itself, ignores, or leaves to their default
 * action do not count: none of them interrupts the kernel's semop.
 */
int gs_signal_handler_due(void)
{
	if (!held || !blocked)
		return 0;
	sigset_t pending;
	if (sigpending(&pending) < 0)
		return 0;
	for (int sig = 1; sig < 65; sig++) {
		if (!sigismember(&pending, sig) || sigismember(&saved, sig))
			continue;
		struct gs_kernel_sigaction ka;
		if (gs_syscall(SYS_rt_sigaction, sig, NULL, &ka, sizeof ka.mask) == 0 &&
		    ka.handler != SIG_DFL && ka.handler != SIG_IGN)
			return 1;
	}
	return 0;
}

/*
 * A goshm call that finds its thread already holding one of the engine's
 * locks did not come from the program's straight line of code: a signal
 * handler interrupted a goshm call (its signals were not blocked: a
 * handler installed with a raw rt_sigaction system call, past sigwatch.c,
 * or a fault's signal), or a callback run under a lock (a gc report, a
 * fork handler registered before the library's) called goshm.  Going on
 * would wait for a mutex the thread holds, for ever, or change what the
 * interrupted call is in the middle of: such a call fails with EDEADLK,
 * and says so once on stderr.  From then on every lock blocks signals, so
 * the handler found this way cannot come in again.
 */
int gs_reentry_refused(void)
{
	static int said;
	if (!held)
		return 0;
	gs_note_program_catches_signals();
	const char *q = getenv("GOSHM_QUIET");
	if (!(q && q[0] == '1') && !__atomic_exchange_n(&said, 1, __ATOMIC_ACQ_REL)) {
		/* write(2) alone: this may run in a signal handler. */
		static const char line[] =
			"goshm: a System V call came from a signal handler (or callback) inside "
			"another goshm call of the same thread: refused with EDEADLK; install "
			"the handler with sigaction() (docs/DIFFERENCES.md)\n";
		ssize_t w = write(2, line, sizeof line - 1);
		(void)w;
	}
	return -EDEADLK;
}

/* pthread_mutex_lock's result; the mutex is held (and signals with it)
 * unless that is an error other than EOWNERDEAD. */
int gs_mutex_lock(pthread_mutex_t *m)
{
	gs_signals_hold();
	int r = pthread_mutex_lock(m);
	if (r && r != EOWNERDEAD)
		gs_signals_release();
	return r;
}

/* The same for pthread_mutex_trylock. */
int gs_mutex_trylock(pthread_mutex_t *m)
{
	gs_signals_hold();
	int r = pthread_mutex_trylock(m);
	if (r && r != EOWNERDEAD)
		gs_signals_release();
	return r;
}

void gs_mutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
	gs_signals_release();
}
