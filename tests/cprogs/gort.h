/* gort.h - what the gort_* programs share: they look at what the dormant Go
 * runtime inside a preloaded libgoshm.so changes in a process (threads,
 * signal masks, dispositions), so they count the process's threads, name
 * signals, and know which signals are asynchronous.
 *
 * Exit code 70 means the program itself could not do its job (a failed
 * fork, pipe...): never an outcome under test. */
#ifndef GORT_H
#define GORT_H

#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline void gort_fail(const char *what)
{
	perror(what);
	exit(70);
}

/* The number of threads of this process. */
static inline int gort_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		gort_fail("opendir /proc/self/task");
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline void gort_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The number of threads once it has not changed for 200 ms (at most 5 s):
 * the Go runtime starts its threads from a thread of its own, in the
 * first milliseconds after the library is loaded. */
static inline int gort_settled_tasks(void)
{
	int last = gort_tasks(), stable = 0;
	for (int waited = 0; stable < 200 && waited < 5000; waited += 10) {
		gort_sleep_ms(10);
		int n = gort_tasks();
		stable = n == last ? stable + 10 : 0;
		last = n;
	}
	return last;
}

/* "SIGSEGV", "SIGRTMIN+3": the name of sig, in buf. */
static inline const char *gort_signame(int sig, char buf[32])
{
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev != NULL)
		snprintf(buf, 32, "SIG%s", abbrev);
	else if (sig == SIGRTMIN)
		snprintf(buf, 32, "SIGRTMIN");
	else if (sig > SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, 32, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, 32, "signal %d", sig);
	return buf;
}

/* Whether a program can block sig and take it when it likes (sigwait,
 * signalfd, a handler after unblocking): every signal but the synchronous
 * ones, which the kernel raises in the faulting thread, the two that
 * cannot be blocked, and the two that glibc keeps for itself (32 and 33,
 * below SIGRTMIN). */
static inline int gort_async(int sig)
{
	switch (sig) {
	case SIGILL:
	case SIGTRAP:
	case SIGBUS:
	case SIGFPE:
	case SIGSEGV:
	case SIGSYS:
	case SIGKILL:
	case SIGSTOP:
		return 0;
	}
	return (sig >= 1 && sig < 32) || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

/* The SigBlk mask of /proc/self/task/TID/status (TID 0: this thread):
 * the kernel's view, not libc's. */
static inline unsigned long long gort_sigblk(pid_t tid)
{
	char path[64], line[256];
	if (tid == 0)
		snprintf(path, sizeof path, "/proc/thread-self/status");
	else
		snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		gort_fail(path);
	unsigned long long mask = 0;
	int found = 0;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = sscanf(line, "SigBlk: %llx", &mask) == 1;
	fclose(f);
	if (!found) {
		fprintf(stderr, "no SigBlk in %s\n", path);
		exit(70);
	}
	return mask;
}

static inline int gort_in(unsigned long long mask, int sig) { return (mask >> (sig - 1)) & 1; }

#endif
