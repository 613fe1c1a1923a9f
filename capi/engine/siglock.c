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

/* initial-exec: an offset from the thread pointer, without
 * __tls_get_addr, which would make the library need ld.so by name.  A
 * library loaded at startup (LD_PRELOAD, DT_NEEDED) always has room; a
 * dlopen() finds it in the C library's reserve, 132 bytes here. */
#define GS_TLS __thread __attribute__((tls_model("initial-exec")))
static GS_TLS unsigned held;
static GS_TLS int blocked; /* whether the outermost hold blocked */
static GS_TLS sigset_t saved;

void gs_signals_hold(void)
{
	if (held++)
		return;
	blocked = gs_program_catches_signals();
	if (!blocked)
		return;
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
}

void gs_signals_release(void)
{
	if (held && !--held && blocked)
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
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
