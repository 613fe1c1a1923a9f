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
 * the loading one is the runtime's; each of those that lets through a
 * signal a program could take is sent SIGSTKFLT (which the runtime's
 * threads never block and programs do not use) with that handler
 * installed, until a few passes in a row find nothing left to change.
 *
 * When it is done depends on the runtime: its init (capi/main.go) reports
 * through gs_runtime_started once the runtime has started, and the
 * constructor waits for that, a few milliseconds at most.  Threads the
 * runtime creates later would take the runtime's mask again; a runtime
 * that runs no Go code creates none (measured: the count stays put for the
 * life of a process; tests/integration/goruntime_test.go watches it).
 *
 * Nothing is done when the library is loaded into a process that already
 * has several threads (dlopen from a threaded program): the loading thread
 * could then not tell the runtime's threads from the program's.
 */
#include "engine.h"

#include <dirent.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FIX_SIGNAL SIGSTKFLT
#define WAIT_FOR_RUNTIME_NS (2 * 1000000000L) /* then give up */
#define PASS_PAUSE_NS 20000L                  /* between passes */
#define ACK_WAIT_NS (2 * 1000000000L)         /* for signalled threads */
#define MAX_PASSES 1000
#define MAX_THREADS 256

static pid_t loader_tid;           /* 0: the loader was not alone */
static atomic_int runtime_started; /* set by the runtime's init */
static atomic_int fixes_done;      /* handlers that ran */

/* The runtime's init reports that the runtime has started. */
GS_HIDDEN void gs_runtime_started(void)
{
	atomic_store(&runtime_started, 1);
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
	if (p == NULL)
		return -1;
	for (int field = 2; field < 20 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	return p == NULL ? -1 : atoi(p + 1);
}

GS_HIDDEN void gs_runtime_threads_note_loader(void)
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

static void block_program_signals_here(int sig, siginfo_t *si, void *context)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = context;
	sigset_t set;
	program_signals(&set);
	sigorset(&uc->uc_sigmask, &uc->uc_sigmask, &set);
	atomic_fetch_add(&fixes_done, 1);
}

/* The kernel's SigBlk mask of thread tid (bit n-1: signal n); 0 with
 * *ok = 0 when it cannot be read. */
static unsigned long long blocked_mask(pid_t tid, int *ok)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	*ok = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *line = strstr(buf, "\nSigBlk:");
	if (line == NULL)
		return 0;
	*ok = 1;
	return strtoull(line + 8, NULL, 16);
}

static unsigned long long as_bits(const sigset_t *set)
{
	unsigned long long bits = 0;
	for (int sig = 1; sig <= 64 && sig < NSIG; sig++)
		if (sigismember(set, sig) == 1)
			bits |= 1ull << (sig - 1);
	return bits;
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

/* The runtime's threads already seen with their final mask. */
struct settled {
	pid_t tid[MAX_THREADS];
	int n;
};

static int is_settled(const struct settled *s, pid_t tid)
{
	for (int i = 0; i < s->n; i++)
		if (s->tid[i] == tid)
			return 1;
	return 0;
}

/* One pass over the threads not seen before: signal each runtime thread
 * that lets a program signal through and wait for its handler.  A thread
 * that still blocks the synchronous signals too has not yet set its mask
 * (the runtime creates threads with every signal blocked and unblocks in
 * the new thread) and is looked at again in the next pass.  Returns the
 * number of threads that were not settled before, -1 on error.  Threads
 * whose handler did not answer in time are looked at again. */
static int fix_pass(unsigned long long wanted, unsigned long long synchronous,
		    struct settled *settled)
{
	DIR *dir = opendir("/proc/self/task");
	if (dir == NULL)
		return -1;
	int unsettled = 0, sent = 0, before = atomic_load(&fixes_done);
	pid_t signalled[MAX_THREADS];
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || tid == loader_tid || is_settled(settled, tid))
			continue;
		unsettled++;
		int ok;
		unsigned long long blocked = blocked_mask(tid, &ok);
		if (!ok || (blocked & synchronous) == synchronous)
			continue; /* gone, or not started yet */
		if ((blocked & wanted) == wanted) {
			if (settled->n < MAX_THREADS)
				settled->tid[settled->n++] = tid;
			continue;
		}
		if ((blocked & (1ull << (FIX_SIGNAL - 1))) == 0 && sent < MAX_THREADS &&
		    syscall(SYS_tgkill, getpid(), tid, FIX_SIGNAL) == 0)
			signalled[sent++] = tid;
	}
	closedir(dir);
	/* A thread that exits before its handler runs never answers; a busy
	 * machine may take a while to schedule the others. */
	for (long deadline = now_ns() + ACK_WAIT_NS;
	     atomic_load(&fixes_done) - before < sent && now_ns() < deadline;)
		sched_yield();
	/* A thread whose handler ran has its mask once the handler returns. */
	if (atomic_load(&fixes_done) - before >= sent)
		for (int i = 0; i < sent && settled->n < MAX_THREADS; i++)
			settled->tid[settled->n++] = signalled[i];
	return unsettled;
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

GS_HIDDEN void gs_runtime_threads_quiet(void)
{
	if (loader_tid == 0 || thread_count() <= 1)
		return; /* threads of a program, or no runtime thread at all */
	if (under_valgrind())
		return;
	/* Sleep rather than yield: on one CPU the runtime needs it. */
	struct timespec tick = {0, PASS_PAUSE_NS};
	for (long deadline = now_ns() + WAIT_FOR_RUNTIME_NS; !atomic_load(&runtime_started);) {
		if (now_ns() >= deadline)
			return;
		nanosleep(&tick, NULL);
	}

	struct sigaction fixer = {.sa_sigaction = block_program_signals_here,
				  .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART},
			 previous;
	sigfillset(&fixer.sa_mask);
	if (sigaction(FIX_SIGNAL, &fixer, &previous) != 0)
		return;
	sigset_t set;
	program_signals(&set);
	unsigned long long wanted = as_bits(&set);
	unsigned long long synchronous = (1ull << (SIGSEGV - 1)) | (1ull << (SIGBUS - 1)) |
					 (1ull << (SIGFPE - 1));
	struct settled settled = {.n = 0};
	/* Done when every thread is settled twice in a row, a short pause
	 * apart: by then the runtime has no thread left starting. */
	int quiet = 0;
	for (int pass = 0; pass < MAX_PASSES && quiet < 2; pass++) {
		int unsettled = fix_pass(wanted, synchronous, &settled);
		if (unsettled < 0)
			break;
		quiet = unsettled == 0 ? quiet + 1 : 0;
		if (quiet < 2)
			pause_ns(PASS_PAUSE_NS);
	}
	/* Ignoring a signal discards it where it is still pending: a thread
	 * that never ran the handler must not take FIX_SIGNAL's default
	 * action (terminate) once the program's disposition is back. */
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	sigaction(FIX_SIGNAL, &ignore, NULL);
	sigaction(FIX_SIGNAL, &previous, NULL);
}
