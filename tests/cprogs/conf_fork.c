/*
 * conf_fork - System V shared memory in forked children and in a daemon.
 *
 *   conf_fork children N   N children forked at once, each making every
 *                          kind of call under alarm(10): none may fail and
 *                          none may hang (a hang is a death by SIGALRM)
 *   conf_fork daemon       a double-forked, setsid daemon that closed every
 *                          descriptor makes every kind of call, and its
 *                          attach is counted in its parent's IPC_STAT
 *   conf_fork excl N R     R rounds of N children racing to create one key
 *                          with IPC_CREAT|IPC_EXCL: exactly one wins each
 *   conf_fork churn N R    N children each R times create-or-find one key,
 *                          attach, write, detach and remove it, racing;
 *                          only "already removed" errors are allowed, and
 *                          nothing is left at the end
 *
 * Output is in the scenario runner's normalized form (conf/out.h), so the
 * test compares a native run with a goshm run line by line.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/stat.h>

#include "conf/out.h"
#include "conf/calls.h"
#include "conf/proc.h"

#define KEY_BASE 0x4f4b0000
#define MAGIC 0x5a

/* What one child does; its exit code names the first step that failed. */
static int child_calls(int i, int parent_id)
{
	alarm(10); /* a hang, not a slow machine: 500 children take ~1 s */
	int own = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (own < 0)
		return 10;
	int keyed = shmget(KEY_BASE + i % 16, 4096, IPC_CREAT | 0600);
	if (keyed < 0)
		return 11;
	unsigned char *q = shmat(own, NULL, 0);
	if (q == (void *)-1)
		return 12;
	q[0] = (unsigned char)i;
	unsigned char *r = shmat(parent_id, NULL, SHM_RDONLY);
	if (r == (void *)-1 || r[0] != MAGIC)
		return 13;
	unsigned char *k = shmat(keyed, NULL, 0);
	if (k == (void *)-1)
		return 14;
	__atomic_fetch_add(&k[0], 1, __ATOMIC_SEQ_CST);
	struct shmid_ds d;
	if (shmctl(own, IPC_STAT, &d) < 0 || d.shm_nattch != 1 || d.shm_cpid != getpid())
		return 15;
	/* the parent's attach, the one inherited, and ours */
	if (shmctl(parent_id, IPC_STAT, &d) < 0 || d.shm_nattch < 3)
		return 16;
	if (shmdt(q) < 0 || shmdt(r) < 0 || shmdt(k) < 0)
		return 17;
	if (shmctl(own, IPC_RMID, NULL) < 0)
		return 18;
	if (shmctl(own, IPC_STAT, &d) == 0 || errno != EINVAL)
		return 19;
	return 0;
}

static void run_children(int n)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	unsigned char *p = A(id, NULL, 0);
	if (p == (void *)-1)
		return;
	p[0] = MAGIC;
	pid_t *kids = mmap(NULL, (size_t)n * sizeof *kids, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int forked = 0;
	for (int i = 0; i < n; i++) {
		pid_t c = fork();
		if (c == 0)
			_exit(child_calls(i, id));
		if (c < 0)
			break;
		kids[forked++] = c;
	}
	int ok = 0, failed = 0, alarmed = 0, killed = 0;
	int codes[32] = {0};
	for (int i = 0; i < forked; i++) {
		int st;
		while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else if (WIFEXITED(st))
			failed++, codes[WEXITSTATUS(st) & 31]++;
		else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			alarmed++;
		else
			killed++;
	}
	out("%d children forked: %d ok, %d failed, %d hung (SIGALRM), %d killed otherwise",
	    forked, ok, failed, alarmed, killed);
	for (int c = 0; c < 32; c++)
		if (codes[c])
			out("failed at step %d: %d children", c, codes[c]);
	NAT(id);
	ST(id, NULL);
	int total = 0;
	for (int k = 0; k < 16 && k < n; k++) {
		int kid = shmget(KEY_BASE + k, 0, 0);
		unsigned char *kp = kid < 0 ? (void *)-1 : shmat(kid, NULL, SHM_RDONLY);
		if (kp != (void *)-1) {
			total += kp[0];
			shmdt(kp);
		}
		shmctl(kid, IPC_RMID, NULL);
	}
	out("increments seen through the keyed segments = %d", total);
	D(p);
	RM(id);
	SINFO();
}

/* ---- the daemon ---- */

struct daemon_report {
	volatile int state;       /* 1 attached, 2 may detach, 3 done */
	pid_t pid;
	int same_id, attached, content_ok, private_ok, detached;
	unsigned long nattch_attached, nattch_detached;
	int fds_open;             /* descriptors open after the calls */
};

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static int wait_state(struct daemon_report *r, int want)
{
	for (int i = 0; i < 20000 && r->state < want; i++)
		sleep_ms(1);
	return r->state >= want;
}

static void daemon_main(struct daemon_report *r, int id)
{
	struct shmid_ds d;
	if (chdir("/") < 0)
		_exit(1);
	umask(0);
	for (int fd = 0; fd < 4096; fd++)
		close(fd);
	syscall(SYS_close_range, 0u, ~0u, 0u);
	r->pid = getpid();
	int mine = shmget(KEY_BASE, 0, 0);
	r->same_id = mine == id;
	char *q = shmat(mine, NULL, 0);
	r->attached = q != (void *)-1;
	if (r->attached) {
		r->content_ok = strcmp(q, "parent") == 0;
		strcpy(q, "daemon");
	}
	if (shmctl(mine, IPC_STAT, &d) == 0)
		r->nattch_attached = d.shm_nattch;
	int own = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *o = own < 0 ? (void *)-1 : shmat(own, NULL, 0);
	r->private_ok = own >= 0 && o != (void *)-1 && shmdt(o) == 0 &&
	                shmctl(own, IPC_RMID, NULL) == 0;
	r->fds_open = open_fds();
	r->state = 1;
	if (!wait_state(r, 2))
		_exit(2);
	r->detached = shmdt(q) == 0;
	if (shmctl(mine, IPC_STAT, &d) == 0)
		r->nattch_detached = d.shm_nattch;
	r->state = 3;
	_exit(0);
}

static void run_daemon(void)
{
	struct daemon_report *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE,
	                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memset(r, 0, sizeof *r);
	int id = G(KEY_BASE, 4096, IPC_CREAT | 0600);
	char *p = A(id, NULL, 0);
	if (p == (void *)-1)
		return;
	strcpy(p, "parent");
	pid_t c = child();
	if (c == 0) {
		setsid();
		if (fork() == 0)
			daemon_main(r, id);
		/* The daemon's IPC_STAT counts this process's inherited attach:
		 * leave only once it has looked, or the count depends on which
		 * of the two the scheduler ran first. */
		wait_state(r, 1);
		_exit(0);
	}
	reap(c);
	out("daemon attached = %s", wait_state(r, 1) ? "yes" : "timed out");
	out("daemon: shmget found the same id = %d, shmat = %d, read the parent's data = %d",
	    r->same_id, r->attached, r->content_ok);
	out("daemon: its IPC_STAT nattch = %lu", r->nattch_attached);
	out("daemon: IPC_PRIVATE shmget/shmat/shmdt/IPC_RMID = %d", r->private_ok);
	out("daemon: descriptors open after its calls = %d", r->fds_open);
	NAT(id);
	out("parent reads \"%s\"", p);
	r->state = 2;
	out("daemon detached = %s", wait_state(r, 3) ? "yes" : "timed out");
	out("daemon: shmdt = %d, then its IPC_STAT nattch = %lu", r->detached, r->nattch_detached);
	/* Its exit ends the attach it inherited from us.  It is not our
	 * child: a pidfd tells when it has exited. */
	int pfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
	struct pollfd pf = {pfd, POLLIN, 0};
	out("daemon exited = %s", pfd >= 0 && poll(&pf, 1, 10000) == 1 ? "yes" : "timed out");
	NAT(id);
	D(p);
	RM(id);
}

/* ---- races between processes ---- */

static void run_excl(int n, int rounds)
{
	int bad = 0;
	for (int r = 0; r < rounds; r++) {
		struct gate go;
		gate_open(&go);
		pid_t *kids = calloc((size_t)n, sizeof *kids);
		for (int i = 0; i < n; i++) {
			kids[i] = fork();
			if (kids[i] == 0) {
				alarm(10);
				close(go.fd[1]);
				gate_wait(&go); /* all start together */
				int id = shmget(KEY_BASE + 0x100 + r, 4096, IPC_CREAT | IPC_EXCL | 0600);
				_exit(id >= 0 ? 0 : errno == EEXIST ? 1 : 2);
			}
		}
		close(go.fd[1]);
		int won = 0, lost = 0;
		for (int i = 0; i < n; i++) {
			int st;
			waitpid(kids[i], &st, 0);
			won += WIFEXITED(st) && WEXITSTATUS(st) == 0;
			lost += WIFEXITED(st) && WEXITSTATUS(st) == 1;
		}
		close(go.fd[0]);
		free(kids);
		bad += won != 1 || lost != n - 1;
		shmctl(shmget(KEY_BASE + 0x100 + r, 0, 0), IPC_RMID, NULL);
	}
	out("%d rounds of %d creators: %d rounds without exactly one winner", rounds, n, bad);
	SINFO();
}

/* One child's churn; its exit code names the first unexpected error. */
static int churn_child(int rounds)
{
	alarm(30);
	for (int r = 0; r < rounds; r++) {
		int id = shmget(KEY_BASE + 0x200, 8192, IPC_CREAT | 0600);
		if (id < 0)
			return 10;
		char *p = shmat(id, NULL, 0);
		if (p == (char *)-1) {
			if (errno == EINVAL || errno == EIDRM)
				continue; /* removed and destroyed meanwhile */
			return 11;
		}
		p[r % 8192]++;
		struct shmid_ds d;
		if (shmctl(id, IPC_STAT, &d) < 0 && errno != EINVAL && errno != EIDRM)
			return 12;
		if (shmdt(p) < 0)
			return 13;
		if (shmctl(id, IPC_RMID, NULL) < 0 && errno != EINVAL && errno != EIDRM)
			return 14;
	}
	return 0;
}

static void run_churn(int n, int rounds)
{
	pid_t *kids = calloc((size_t)n, sizeof *kids);
	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(churn_child(rounds));
	}
	int ok = 0, codes[32] = {0}, killed = 0;
	for (int i = 0; i < n; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else if (WIFEXITED(st))
			codes[WEXITSTATUS(st) & 31]++;
		else
			killed++;
	}
	free(kids);
	out("%d children x %d rounds: %d ok, %d killed (SIGALRM is a hang)", n, rounds, ok, killed);
	for (int c = 0; c < 32; c++)
		if (codes[c])
			out("failed at step %d: %d children", c, codes[c]);
	int left = shmget(KEY_BASE + 0x200, 0, 0);
	if (left >= 0)
		shmctl(left, IPC_RMID, NULL);
	SINFO();
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "children")) {
		conf_init("children");
		run_children(atoi(argv[2]));
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "daemon")) {
		conf_init("daemon");
		run_daemon();
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "excl")) {
		conf_init("excl");
		run_excl(atoi(argv[2]), atoi(argv[3]));
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "churn")) {
		conf_init("churn");
		run_churn(atoi(argv[2]), atoi(argv[3]));
		return 0;
	}
	fprintf(stderr, "usage: conf_fork children N | daemon | excl N R | churn N R\n");
	return 64;
}
