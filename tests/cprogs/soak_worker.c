#define _GNU_SOURCE
/*
 * soak_worker: one process of the soak test (tests/realprog/soak_test.go).
 *
 *   soak_worker SEED
 *
 * Until SIGTERM it does random shmget / shmat / write / read / shmdt /
 * IPC_STAT / IPC_RMID / fork on SOAK_KEYS keys (soak_layout.h), while the
 * test kills workers with SIGKILL at random.  It reports on stdout, one
 * line per write(2) so that lines never interleave:
 *
 *   H PID                  started, and SIGTERM is handled from now on
 *   G ID KEYIDX            shmget gave ID for key SOAK_KEY0+KEYIDX
 *   W ID SLOT PID SEQ      a record is complete in segment ID (sent after
 *                          the write, before the worker goes on)
 *   r ID / R ID ERRNO      IPC_RMID of ID is about to be / was called
 *   E TEXT                 something the kernel would not do
 *   F newfds=N data=N tokens=N presence=N
 *                          after SIGTERM and detaching everything:
 *                          descriptors not open at start, mappings left
 *
 * Every 32 operations it also checks that it holds no descriptor of the
 * store that it did not hold at start, and that its mappings are exactly
 * its attaches: one data mapping and one presence mapping per attach, a
 * token mapping per attached segment, and at most SOAK_IDLE_TOKENS more
 * (the engine keeps the tokens of segments it detached, attach_table.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "soak_layout.h"

#define MAXATT 6

struct att {
	void *p;
	int id;
	int rdonly;
};

static struct att atts[MAXATT];
static int natt;
static int ids[SOAK_KEYS];
static int32_t me;
static uint32_t seq;
static unsigned long long rng;
static volatile sig_atomic_t stop;

static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(rng >> 33) % n;
}

static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 1)
		n = sizeof line - 1;
	ssize_t w = write(1, line, (size_t)n);
	(void)w;
}

static void unexpected(const char *what, int err)
{
	say("E pid %d: %s: %s\n", (int)me, what, strerrorname_np(err));
}

/* The open descriptors, but the directory's own.  count_fds(0) notes them
 * (at start); count_fds(1) reports each that was not open at start and is
 * a file of the store; count_fds(2) counts every one (at the end).  The
 * library's dormant Go runtime starts in a thread of its own and may open
 * and close a file of /sys or /proc at any time while main runs: only at
 * the end, long after, is every new descriptor a leak. */
static unsigned char at_start[1024];
static int new_fds;
static const char *store; /* GOSHM_DIR */

static int count_fds(int extra)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		n++;
		if (fd == dirfd(d) || fd >= (int)sizeof at_start)
			continue;
		if (!extra) {
			at_start[fd] = 1;
			continue;
		}
		if (at_start[fd])
			continue;
		char path[64], target[PATH_MAX];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t k = readlink(path, target, sizeof target - 1);
		target[k < 0 ? 0 : k] = 0;
		if (extra == 1 && (!store || strncmp(target, store, strlen(store))))
			continue;
		say("E pid %d: descriptor %d (%s) was not open at start\n", (int)me, fd, target);
		new_fds++;
	}
	closedir(d);
	return n - 1;
}

/* Mappings of data files, token files and presence segments. */
static void count_maps(int *data, int *tokens, int *presence)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "re");
	*data = *tokens = *presence = 0;
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (strstr(line, "/SYSV"))
			++*presence;
		else if (strstr(line, "/segments/seg-"))
			++*(strstr(line, ".ns") ? tokens : data);
	}
	fclose(f);
}

static int attached_segments(void)
{
	int n = 0;
	for (int i = 0; i < natt; i++) {
		int first = 1;
		for (int j = 0; j < i; j++)
			first &= atts[j].id != atts[i].id;
		n += first;
	}
	return n;
}

/* attach_table.c's GS_IDLE_TOKENS. */
#define SOAK_IDLE_TOKENS 64

static void check_resources(void)
{
	int data, tokens, presence;
	count_fds(1);
	count_maps(&data, &tokens, &presence);
	if (data != natt || presence != natt || tokens < attached_segments() ||
	    tokens > attached_segments() + SOAK_IDLE_TOKENS)
		say("E pid %d: %d attaches of %d segments, but %d data, %d token and "
		    "%d presence mappings\n", (int)me, natt, attached_segments(), data,
		    tokens, presence);
}

static int mine(int id)
{
	int n = 0;
	for (int i = 0; i < natt; i++)
		n += atts[i].id == id;
	return n;
}

static void detach_at(int i)
{
	if (shmdt(atts[i].p) < 0)
		unexpected("shmdt", errno);
	atts[i] = atts[--natt];
}

static void op_get(void)
{
	unsigned k = rnd(SOAK_KEYS), how = rnd(8);
	int flags = 0600;
	size_t size = SOAK_SEGSZ;
	if (how < 4)
		flags |= IPC_CREAT;
	else if (how < 6)
		flags |= IPC_CREAT | IPC_EXCL;
	else if (how == 6)
		size = 2 * SOAK_SEGSZ; /* larger than the segment */
	int id = shmget(SOAK_KEY0 + (key_t)k, size, flags);
	if (id >= 0) {
		if (size != SOAK_SEGSZ)
			say("E pid %d: shmget of a larger size gave %d\n", (int)me, id);
		ids[k] = id;
		say("G %d %u\n", id, k);
		return;
	}
	int e = errno;
	if (e == ENOENT && !(flags & IPC_CREAT))
		return;
	if (e == EEXIST && (flags & IPC_EXCL))
		return;
	/* Larger than the segment: EINVAL, or ENOENT when there is none. */
	if (size != SOAK_SEGSZ && (e == EINVAL || (e == ENOENT && !(flags & IPC_CREAT))))
		return;
	unexpected("shmget", e);
}

static void op_attach(void)
{
	int id = ids[rnd(SOAK_KEYS)];
	if (id < 0)
		return;
	if (natt == MAXATT)
		detach_at((int)rnd(MAXATT));
	int rdonly = rnd(4) == 0;
	void *p = shmat(id, NULL, rdonly ? SHM_RDONLY : 0);
	if (p == (void *)-1) {
		if (errno != EINVAL && errno != EIDRM) /* removed meanwhile */
			unexpected("shmat", errno);
		return;
	}
	atts[natt++] = (struct att){p, id, rdonly};
}

static int pick_rw(void)
{
	int n = 0, pick = -1;
	for (int i = 0; i < natt; i++)
		if (!atts[i].rdonly && rnd((unsigned)++n) == 0)
			pick = i;
	return pick;
}

static void write_record(int i)
{
	struct soak_hdr *h = atts[i].p;
	uint32_t slot = __atomic_fetch_add(&h->next, 1, __ATOMIC_ACQ_REL);
	if (slot >= SOAK_CAP)
		return;
	struct soak_rec *r = &soak_recs(h)[slot];
	r->pid = me;
	r->seq = ++seq;
	r->check = soak_check(me, seq);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	say("W %d %u %d %u\n", atts[i].id, slot, (int)me, seq);
}

static void op_write(void)
{
	int i = pick_rw();
	if (i >= 0)
		write_record(i);
}

static void op_read(void)
{
	if (!natt)
		return;
	struct att *a = &atts[rnd((unsigned)natt)];
	struct soak_hdr *h = a->p;
	uint32_t n = __atomic_load_n(&h->next, __ATOMIC_ACQUIRE);
	if (n > SOAK_CAP)
		n = SOAK_CAP;
	uint32_t from = n > 256 ? rnd(n - 255) : 0; /* a window of 256 */
	if (n > from + 256)
		n = from + 256;
	for (uint32_t s = from; s < n; s++) {
		struct soak_rec *r = &soak_recs(h)[s];
		if (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) != 1)
			continue;
		if (r->check != soak_check(r->pid, r->seq))
			say("E pid %d: record %u of %d is damaged\n", (int)me, s, a->id);
	}
}

static void op_detach(void)
{
	if (natt)
		detach_at((int)rnd((unsigned)natt));
}

/* IPC_STAT of a segment we have attached: it must exist, and count at
 * least our attaches (others' come on top). */
static void stat_attached(int id, int factor)
{
	struct shmid_ds d;
	if (shmctl(id, IPC_STAT, &d) < 0) {
		unexpected("IPC_STAT of an attached segment", errno);
		return;
	}
	unsigned long want = (unsigned long)(factor * mine(id));
	if (d.shm_segsz != SOAK_SEGSZ || (d.shm_perm.mode & 0777) != 0600 ||
	    d.shm_nattch < want)
		say("E pid %d: IPC_STAT of %d: size %zu mode %#o nattch %lu, want %d, "
		    "0600 and at least %lu\n", (int)me, id, d.shm_segsz,
		    (unsigned)d.shm_perm.mode, (unsigned long)d.shm_nattch, SOAK_SEGSZ, want);
	/* A removed segment has left the key space: IPC_PRIVATE and SHM_DEST. */
	int removed = (d.shm_perm.mode & SHM_DEST) != 0;
	key_t key = d.shm_perm.__key;
	if (removed ? key != IPC_PRIVATE
	            : key < SOAK_KEY0 || key >= SOAK_KEY0 + SOAK_KEYS)
		say("E pid %d: IPC_STAT of %d: key %#x with mode %#o\n", (int)me, id,
		    (unsigned)key, (unsigned)d.shm_perm.mode);
}

static void op_stat(void)
{
	if (natt && rnd(2)) {
		stat_attached(atts[rnd((unsigned)natt)].id, 1);
		return;
	}
	int id = ids[rnd(SOAK_KEYS)];
	struct shmid_ds d;
	if (id >= 0 && shmctl(id, IPC_STAT, &d) < 0 && errno != EINVAL && errno != EIDRM)
		unexpected("IPC_STAT", errno);
}

/* Only the first SOAK_CHURN_KEYS keys are ever removed: the segments of
 * the others live through the whole run and keep every write. */
static void op_remove(void)
{
	unsigned k = rnd(SOAK_CHURN_KEYS);
	int id = ids[k];
	if (id < 0)
		return;
	say("r %d\n", id);
	int r = shmctl(id, IPC_RMID, NULL);
	int e = r < 0 ? errno : 0;
	say("R %d %d\n", id, e);
	if (r < 0 && e != EINVAL && e != EIDRM)
		unexpected("IPC_RMID", e);
	ids[k] = -1;
}

/* A child inherits every attach.  While it waits at a gate, the parent
 * checks that they count twice; then the child writes through one and ends
 * with or without detaching, or killed. */
static void op_fork(void)
{
	int gate[2];
	if (pipe2(gate, O_CLOEXEC) < 0) {
		unexpected("pipe2", errno);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		unexpected("fork", errno);
		close(gate[0]);
		close(gate[1]);
		return;
	}
	if (pid == 0) {
		char c;
		close(gate[1]);
		while (read(gate[0], &c, 1) < 0 && errno == EINTR)
			;
		close(gate[0]);
		me = (int32_t)getpid();
		seq = 0;
		rng ^= (unsigned long long)me << 17;
		if (natt)
			stat_attached(atts[rnd((unsigned)natt)].id, 1);
		op_write();
		switch (rnd(3)) {
		case 0:
			while (natt)
				detach_at(0);
			_exit(0);
		case 1:
			_exit(0);
		default:
			raise(SIGKILL);
		}
	}
	close(gate[0]);
	if (natt)
		stat_attached(atts[rnd((unsigned)natt)].id, 2);
	close(gate[1]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (natt)
		stat_attached(atts[rnd((unsigned)natt)].id, 1);
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: soak_worker SEED\n");
		return 64;
	}
	me = (int32_t)getpid();
	rng = strtoull(argv[1], NULL, 0) ^ ((unsigned long long)me << 32);
	for (int k = 0; k < SOAK_KEYS; k++)
		ids[k] = -1;
	signal(SIGTERM, on_term);
	store = getenv("GOSHM_DIR");
	count_fds(0);
	say("H %d\n", (int)me); /* ready: SIGTERM now stops it cleanly */

	for (unsigned long ops = 0; !stop; ops++) {
		unsigned op = rnd(100);
		if (op < 20)
			op_get();
		else if (op < 40)
			op_attach();
		else if (op < 60)
			op_write();
		else if (op < 68)
			op_read();
		else if (op < 80)
			op_detach();
		else if (op < 92)
			op_stat();
		else if (op < 97)
			op_remove();
		else
			op_fork();
		if (ops % 32 == 31)
			check_resources();
		/* Leave the machine's two cores some air. */
		struct timespec ts = {0, (long)rnd(400) * 1000};
		nanosleep(&ts, NULL);
	}

	while (natt)
		detach_at(0);
	int data, tokens, presence;
	count_maps(&data, &tokens, &presence);
	new_fds = 0;
	count_fds(2);
	say("F newfds=%d data=%d tokens=%d presence=%d\n", new_fds, data, tokens, presence);
	return 0;
}
