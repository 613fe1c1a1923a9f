/*
 * runtime_threads.c - make the dormant Go runtime's threads block every
 * signal a program can take, so the kernel never picks one of them.
 *
 * runtime_signals.c blocks every signal while the runtime starts, and each
 * thread the runtime creates inherits that mask.  But a Go thread unblocks,
 * when it starts, the signals the runtime wants to receive whatever the
 * program does (runtime.minitSignalMask): SIGCHLD, SIGPROF, SIGSTKFLT,
 * SIGURG and signal 34, which glibc calls SIGRTMIN.  A program that blocks
 * SIGCHLD to read it from a signalfd, or SIGRTMIN to take a POSIX timer's
 * expiry with sigwaitinfo, would lose the first to a Go thread (its default
 * action discards it) and die of the second (its default action kills).
 * The runtime never needs those signals in a library that runs no Go code.
 *
 * A thread's mask can only be changed by the thread itself, and Go gives
 * no hook for that.  A signal handler can: the mask restored when a
 * handler returns is the one saved in its ucontext, so a handler that adds
 * signals to uc_sigmask leaves its thread blocking them.  While the
 * program is still held in the library's constructor, every thread but
 * the loading one is the runtime's; each is sent SIGSTKFLT (which the
 * runtime's threads never block and programs do not use) with that
 * handler installed.  A thread that has not yet set its own mask blocks
 * everything; the signal waits for it and is taken the moment the runtime
 * unblocks it there, so it ends with the right mask too.  Passes over
 * /proc/self/task repeat until two in a row find no new thread.
 *
 * When it is done depends on the runtime: its init (main.go) reports
 * through gs_runtime_started once the runtime has started, and the
 * constructor waits for that, a millisecond or so.  Threads the runtime
 * created later would take the runtime's mask again; a runtime that runs
 * no Go code creates none (tests/integration/goruntime_test.go checks the
 * masks after goshm's calls).
 *
 * Nothing is done when the library is loaded into a process that already
 * has several threads (dlopen from a threaded program), where the loading
 * thread could not tell the runtime's threads from the program's, nor
 * under valgrind (below).
 */
#include "runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FIX_SIGNAL SIGSTKFLT
#define WAIT_FOR_RUNTIME_NS (2 * 1000000000L) /* then leave the masks */
#define ANSWER_WAIT_NS (2 * 1000000000L)      /* for signalled threads */
#define PASS_PAUSE_NS 20000L                  /* between passes */
#define MAX_PASSES 100
#define MAX_THREADS 64                        /* the runtime starts ~5 */

static pid_t loader_tid;           /* 0: the loader was not alone */
static atomic_int runtime_started; /* set by the runtime's init */
static atomic_int answers;         /* handlers that ran, */
static atomic_int answered[MAX_THREADS]; /* and in which threads */

/* The runtime's init reports that the runtime has started, and wakes the
 * constructor waiting for it. */
GS_RT_HIDDEN void gs_runtime_started(void)
{
	atomic_store(&runtime_started, 1);
	syscall(SYS_futex, &runtime_started, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The number of threads of this process, from /proc/self/stat; -1 if it
 * cannot be read. */
static int thread_count(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold spaces: count fields after its ')'. */
	char *p = strrchr(buf, ')');
	for (int field = 2; field < 20 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	return p == NULL ? -1 : atoi(p + 1);
}

GS_RT_HIDDEN void gs_runtime_threads_note_loader(void)
{
	loader_tid = thread_count() == 1 ? (pid_t)syscall(SYS_gettid) : 0;
}

/* The signals a program can block and take when it likes: all but the
 * synchronous ones, which the kernel raises in the faulting thread (and
 * glibc's own two, which sigfillset leaves out). */
static void program_signals(sigset_t *set)
{
	sigfillset(set);
	static const int synchronous[] = {SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS};
	for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
		sigdelset(set, synchronous[i]);
}

/* set as the kernel's 64-bit mask: bit n-1 for signal n. */
static unsigned long long as_bits(const sigset_t *set)
{
	unsigned long long bits = 0;
	for (int sig = 1; sig <= 64 && sig < NSIG; sig++)
		if (sigismember(set, sig) == 1)
			bits |= 1ull << (sig - 1);
	return bits;
}

static void block_program_signals_here(int sig, siginfo_t *si, void *context)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = context;
	sigset_t set;
	program_signals(&set);
	/* The kernel's frame holds only its own 64-bit mask where glibc's
	 * ucontext_t declares a 1024-bit sigset_t: touch those 8 bytes only. */
	unsigned long long *mask = (unsigned long long *)(void *)&uc->uc_sigmask;
	*mask |= as_bits(&set);
	int i = atomic_fetch_add(&answers, 1);
	if (i < MAX_THREADS)
		atomic_store(&answered[i], (int)syscall(SYS_gettid));
}

static long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* A pause of a few microseconds: nanosleep would add the timer slack
 * (50 us) to each, and yielding lets the runtime's threads run. */
static void pause_ns(long ns)
{
	for (long until = now_ns() + ns; now_ns() < until;)
		sched_yield();
}

/* The runtime's threads signalled so far. */
struct signalled {
	pid_t tid[MAX_THREADS];
	int n;
};

static int was_signalled(const struct signalled *s, pid_t tid)
{
	for (int i = 0; i < s->n; i++)
		if (s->tid[i] == tid)
			return 1;
	return 0;
}

/* One pass: signal every thread not signalled before.  Returns how many
 * there were, -1 on error. */
static int signal_new_threads(struct signalled *s)
{
	DIR *dir = opendir("/proc/self/task");
	if (dir == NULL)
		return -1;
	int found = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || tid == loader_tid || was_signalled(s, tid))
			continue;
		if (s->n == MAX_THREADS)
			break; /* far more than a runtime starts: leave the rest */
		found++;
		if (syscall(SYS_tgkill, getpid(), tid, FIX_SIGNAL) == 0)
			s->tid[s->n++] = tid;
	}
	closedir(dir);
	return found;
}

static int has_answered(pid_t tid)
{
	int n = atomic_load(&answers);
	for (int i = 0; i < n && i < MAX_THREADS; i++)
		if (atomic_load(&answered[i]) == tid)
			return 1;
	return 0;
}

/* Whether every signalled thread has answered or is gone. */
static int all_answered(const struct signalled *s)
{
	if (atomic_load(&answers) >= s->n)
		return 1;
	for (int i = 0; i < s->n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/task/%d", (int)s->tid[i]);
		if (!has_answered(s->tid[i]) && access(path, F_OK) == 0)
			return 0;
	}
	return 1;
}

/* Whether the process runs under valgrind, which preloads its own
 * vgpreload_*.so: callgrind 3.19 aborts on a signal handled in a thread
 * other than the one it expects (threads.c, vgCallgrind_post_signal), so
 * the runtime's threads keep their masks there. */
static int under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");
	return preload != NULL && strstr(preload, "/vgpreload_") != NULL;
}

GS_RT_HIDDEN void gs_runtime_threads_quiet(void)
{
	if (loader_tid == 0 || under_valgrind())
		return; /* the program's threads would be touched, or valgrind */
	for (long deadline = now_ns() + WAIT_FOR_RUNTIME_NS; !atomic_load(&runtime_started);) {
		long left = deadline - now_ns();
		if (left <= 0)
			return;
		struct timespec timeout = {left / 1000000000L, left % 1000000000L};
		syscall(SYS_futex, &runtime_started, FUTEX_WAIT_PRIVATE, 0, &timeout, NULL, 0);
	}

	struct sigaction fixer = {.sa_sigaction = block_program_signals_here,
				  .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART},
			 previous;
	sigfillset(&fixer.sa_mask);
	if (sigaction(FIX_SIGNAL, &fixer, &previous) != 0)
		return;
	struct signalled signalled = {.n = 0};
	for (int pass = 0, quiet = 0; pass < MAX_PASSES && quiet < 2; pass++) {
		int found = signal_new_threads(&signalled);
		if (found < 0)
			break;
		quiet = found == 0 ? quiet + 1 : 0;
		/* A busy machine may take a while to schedule them. */
		for (long deadline = now_ns() + ANSWER_WAIT_NS;
		     !all_answered(&signalled) && now_ns() < deadline;)
			sched_yield();
		pause_ns(PASS_PAUSE_NS);
	}
	/* Ignoring a signal discards it where it is still pending: a thread
	 * that never ran the handler must not take FIX_SIGNAL's default
	 * action (terminate) once the program's disposition is back. */
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	sigaction(FIX_SIGNAL, &ignore, NULL);
	sigaction(FIX_SIGNAL, &previous, NULL);
}
