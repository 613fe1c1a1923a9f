/*
 * proc.h - processes for scenarios: children that run inline code, other
 * users, dropped capabilities, gates to order steps between processes, and
 * a child that execs.
 *
 * Pattern:
 *     pid_t c = child();
 *     if (c == 0) { ...steps...; child_exit(); }
 *     reap(c);            // logs how the child ended
 * The child's lines are named "child#N" and the parent waits, so the
 * output is in a fixed order.
 */
#ifndef CONF_PROC_H
#define CONF_PROC_H

#include "out.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* fork(); the child returns 0 and is named child#N from then on. */
CONF_FN pid_t child(void)
{
	int n = ++sh->nchildren;
	if (n > CONF_MAX_CHILDREN) {
		out("too many children");
		exit(70);
	}
	pid_t p = fork();
	if (p < 0) {
		out("fork = %s", fail(errno));
		exit(70);
	}
	if (p == 0) {
		sh->children[n] = getpid();
		snprintf(me, sizeof me, "child#%d", n);
		step = 0;
		return 0;
	}
	sh->children[n] = p;
	return p;
}

CONF_FN __attribute__((noreturn)) void child_exit(void) { _exit(0); }

CONF_FN const char *status_name(int st)
{
	char *b = ring();
	if (WIFEXITED(st))
		snprintf(b, 96, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, 96, "killed by %s", conf_sigabbrev(WTERMSIG(st)) ?
		         conf_sigabbrev(WTERMSIG(st)) : "?");
	else
		snprintf(b, 96, "status %#x", st);
	return b;
}

/* Wait for a child and log how it ended. */
CONF_FN int reap(pid_t p)
{
	int st = 0;
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	out("wait(%s) = %s", pid_name(p), status_name(st));
	return st;
}

/* Wait without logging (children whose end is not the point). */
CONF_FN void reap_quiet(pid_t p)
{
	while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
		;
}

/*
 * Become uid/gid (real, effective, saved; no supplementary groups unless
 * given), as setpriv does.  Only a root runner can; scenarios that need it
 * are marked root-only.
 */
CONF_FN void become(unsigned uid, unsigned gid, int ngroups, const gid_t *groups)
{
	int r = setgroups((size_t)ngroups, groups);
	if (r == 0)
		r = setresgid(gid, gid, gid);
	if (r == 0)
		r = setresuid(uid, uid, uid);
	out("become(uid=%u gid=%u groups=%d) = %s", uid, gid, ngroups, r < 0 ? fail(errno) : "0");
	if (r < 0)
		_exit(71);
}

/* A child that runs as uid/gid. */
CONF_FN pid_t child_as(unsigned uid, unsigned gid)
{
	pid_t p = child();
	if (p == 0)
		become(uid, gid, 0, NULL);
	return p;
}

/* Drop one capability from the effective set (root keeps its uid). */
CONF_FN void drop_cap(int cap, const char *name)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int r = (int)syscall(SYS_capget, &hdr, data);
	if (r == 0) {
		data[cap / 32].effective &= ~(1u << (cap % 32));
		r = (int)syscall(SYS_capset, &hdr, data);
	}
	out("drop %s = %s", name, r < 0 ? fail(errno) : "0");
}

CONF_FN void set_memlock(rlim_t cur)
{
	struct rlimit rl;
	getrlimit(RLIMIT_MEMLOCK, &rl);
	rl.rlim_cur = cur;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < cur)
		rl.rlim_max = cur;
	int r = setrlimit(RLIMIT_MEMLOCK, &rl);
	out("setrlimit(RLIMIT_MEMLOCK, %lu) = %s", (unsigned long)cur, r < 0 ? fail(errno) : "0");
}

/* ---- gates: one process waits until another says so ---- */

struct gate {
	int fd[2];
};

CONF_FN void gate_open(struct gate *g)
{
	if (pipe2(g->fd, O_CLOEXEC) < 0) {
		out("pipe = %s", fail(errno));
		exit(70);
	}
}

CONF_FN void gate_post(struct gate *g)
{
	char c = 1;
	ssize_t w = write(g->fd[1], &c, 1);
	(void)w;
}

/* Returns 1 when posted, 0 when every writer is gone. */
CONF_FN int gate_wait(struct gate *g)
{
	char c;
	ssize_t r;
	while ((r = read(g->fd[0], &c, 1)) < 0 && errno == EINTR)
		;
	return r == 1;
}

CONF_FN void gate_close(struct gate *g)
{
	close(g->fd[0]);
	close(g->fd[1]);
}

/*
 * A child that execs this program in "--hold FD" mode: it keeps running,
 * with every attach it inherited dropped by exec, until the parent closes
 * the gate.  Returns once the exec has happened (the CLOEXEC pipe closed).
 */
CONF_FN pid_t child_exec_hold(struct gate *release)
{
	struct gate execd;
	gate_open(&execd);
	pid_t p = child();
	if (p == 0) {
		char fd[16];
		close(release->fd[1]);
		int keep = dup(release->fd[0]); /* without O_CLOEXEC */
		snprintf(fd, sizeof fd, "%d", keep);
		execl("/proc/self/exe", "conf_scenarios", "--hold", fd, (char *)NULL);
		out("exec = %s", fail(errno));
		_exit(72);
	}
	close(execd.fd[1]);
	gate_wait(&execd); /* EOF: the child's exec closed its end */
	close(execd.fd[0]);
	return p;
}

/* "--hold FD": wait until FD reaches end of file. */
CONF_FN int hold_main(const char *fd)
{
	char c;
	int f = atoi(fd);
	while (read(f, &c, 1) > 0)
		;
	return 0;
}

/*
 * A child that execs this program in "--exec NAME ARG..." mode (see
 * exec_main in conf_scenarios.c), whose lines are named "exec#N".  With
 * hold, the program keeps running until the parent closes the gate; the
 * call returns once the exec'd program has printed its lines.
 */
CONF_FN pid_t child_exec(struct gate *release, const char *what, int id)
{
	struct gate done;
	gate_open(&done);
	pid_t p = child();
	if (p == 0) {
		char a[16], r[16], d[16], n[16];
		close(release->fd[1]);
		snprintf(a, sizeof a, "%d", id);
		snprintf(r, sizeof r, "%d", dup(release->fd[0]));
		snprintf(d, sizeof d, "%d", dup(done.fd[1]));
		snprintf(n, sizeof n, "%d", sh->nchildren);
		execl("/proc/self/exe", "conf_scenarios", "--exec", scenario_name, what, a, r, d,
		      n, (char *)NULL);
		out("exec = %s", fail(errno));
		_exit(72);
	}
	close(done.fd[1]);
	gate_wait(&done); /* posted after its lines, or EOF if it died */
	close(done.fd[0]);
	return p;
}

CONF_FN void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#endif /* CONF_PROC_H */
