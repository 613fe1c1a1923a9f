/*
 * runtime_signals.c - keep the dormant Go runtime of libgoshm-go.so out of
 * the program's signals.
 *
 * libgoshm-go.so is a Go c-shared library: loading it starts a Go runtime
 * whose threads never run goshm code but do exist, and whose start installs
 * signal handlers.  Natively a program owns its signals; with the library
 * loaded it must still own them, in two ways.
 *
 * Dispositions.  The runtime installs its own handlers for SIGSEGV, SIGBUS,
 * SIGFPE, SIGPIPE and SIGURG when it starts (runtime.initsig in library
 * mode), remembering the program's to forward to.  That changes what the
 * kernel does at exec: an ignored signal stays ignored through exec, a
 * handled one is reset to its default.  A daemon or shell that ignores
 * SIGPIPE and runs a program would see the program's own children start
 * with SIGPIPE at its default, and die of a write to a closed pipe where
 * natively they get EPIPE.  No goshm code runs in Go, so the runtime never
 * needs those handlers: they are put back as the program had them.
 *
 * Masks.  The kernel delivers a signal sent to the process to any thread
 * that does not block it.  A program that blocks a signal in order to take
 * it synchronously (sigwait, sigtimedwait, signalfd: tini, dumb-init, event
 * loops) blocks it in its own threads only, so the kernel would hand it to a
 * Go thread instead, where its default action runs: SIGTERM kills the
 * program rather than reaching its signalfd, and in a container's PID 1,
 * where default actions are ignored, it is lost.  Every thread the runtime
 * creates takes the mask of the thread that started the runtime, less the
 * few signals the runtime insists on receiving (see gs_runtime_threads_*
 * in runtime_threads.c for those).  So all signals are blocked while the
 * runtime starts.
 *
 * Order.  The runtime starts from the library's Go entry in .init_array
 * (_rt0_amd64_linux_lib and its kin), which installs the handlers and
 * creates the runtime's first thread before it returns.  A constructor with
 * a priority runs before every ordinary .init_array entry, and an ordinary
 * constructor runs after the Go entry (the linker places the C objects
 * after Go's): the first saves the program's mask and dispositions and
 * blocks every signal, the second restores them.  This file is in package
 * main (capi), so only libgoshm-go.so has it: libgoshm.so starts no
 * runtime, and a Go program that imports package goshm owns its runtime's
 * signals.
 */
#include "runtime.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

/* The program's signal state when the library was loaded. */
static sigset_t program_mask;
static int program_mask_saved;
static struct sigaction program_actions[NSIG];
static unsigned char program_action_saved[NSIG];

__attribute__((constructor(101))) static void gs_before_go_runtime(void)
{
	for (int sig = 1; sig < NSIG; sig++)
		program_action_saved[sig] = sigaction(sig, NULL, &program_actions[sig]) == 0;

	sigset_t all;
	sigfillset(&all);
	program_mask_saved = pthread_sigmask(SIG_BLOCK, &all, &program_mask) == 0;
	gs_runtime_threads_note_loader();
}

/* Whether two dispositions differ in what the kernel does with a signal. */
static int action_differs(const struct sigaction *a, const struct sigaction *b)
{
	return a->sa_handler != b->sa_handler || a->sa_flags != b->sa_flags ||
	       memcmp(&a->sa_mask, &b->sa_mask, sizeof a->sa_mask) != 0;
}

__attribute__((constructor)) static void gs_after_go_runtime(void)
{
	gs_runtime_threads_quiet();
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction now;
		if (!program_action_saved[sig] || sigaction(sig, NULL, &now) != 0)
			continue;
		if (action_differs(&now, &program_actions[sig]))
			sigaction(sig, &program_actions[sig], NULL);
	}
	if (program_mask_saved)
		pthread_sigmask(SIG_SETMASK, &program_mask, NULL);
	program_mask_saved = 0;
}
