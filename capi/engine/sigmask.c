/*
 * sigmask.c - keep the dormant Go runtime's threads out of signal delivery.
 *
 * libgoshm.so is a Go c-shared library: loading it starts a Go runtime
 * whose threads never run goshm code but do exist.  The kernel delivers a
 * signal sent to the process to any thread that does not block it.  A
 * program that blocks a signal in order to take it synchronously (sigwait,
 * sigtimedwait, signalfd: tini, dumb-init and many daemons) blocks it in
 * its own threads only, so the kernel hands it to a Go thread instead,
 * where its default action runs: SIGTERM kills the program rather than
 * reaching its signalfd, and in a container's PID 1, where default actions
 * are ignored, it is lost and `docker stop` waits out the grace period.
 *
 * Every thread the Go runtime creates takes the signal mask that its
 * initialising thread started with (runtime.initSigmask; in a library
 * every signal is blockable except the synchronous ones and the preemption
 * signal).  That thread is created by the library's Go entry in
 * .init_array (_rt0_amd64_linux_lib and its kin) and inherits the mask of
 * the thread loading the library.  So a constructor with a priority, which
 * runs before every ordinary .init_array entry, blocks all signals, and an
 * ordinary constructor, which runs after the Go entry (the linker places
 * the C objects after Go's), gives the loading thread its mask back.  If
 * the order were ever different the Go threads would merely keep an empty
 * mask, as before; the program's own mask is restored either way.
 */
#include "engine.h"

#include <signal.h>

static sigset_t program_mask;
static int blocked;

__attribute__((constructor(101))) static void gs_block_for_go_threads(void)
{
	sigset_t all;
	sigfillset(&all);
	blocked = pthread_sigmask(SIG_BLOCK, &all, &program_mask) == 0;
}

__attribute__((constructor)) static void gs_unblock_after_go_threads(void)
{
	if (blocked)
		pthread_sigmask(SIG_SETMASK, &program_mask, NULL);
	blocked = 0;
}
