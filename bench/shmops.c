/* shmops: the System V shared-memory operations a legacy server performs,
 * each timed in a loop.  The same binary is run twice by scripts/bench.sh:
 * natively in a fresh IPC namespace, and with LD_PRELOAD=libgoshm.so and a
 * private store; the ratio of the two is goshm's cost.
 *
 *   shmops [-i ITERS] [-r ROUNDS] [OP...]
 *
 * Each operation runs ROUNDS rounds (default 5) of ITERS iterations; without
 * -i, ITERS is calibrated so that a round lasts about 0.1 s in the mode being
 * measured (so goshm and native do different numbers of iterations, which
 * ns/op makes comparable; give -i for instruction counts).  One line per
 * operation:
 *
 *   op NAME MEDIAN_NS_PER_OP MIN_NS_PER_OP ITERS ROUNDS
 *
 * The median round is the result; the minimum shows the spread.  Any
 * failing call ends the program with exit 1 (see DIE). */
#include "clock.h"

#include <dlfcn.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB 1024ul
#define MIB (1024ul * KIB)
#define BENCH_KEY 0x62656e63 /* "benc"; the namespace and store are private */
#define MAX_SEGS 4

struct ctx {
	int ids[MAX_SEGS];
	char *addrs[MAX_SEGS];
	size_t size;
};

static int create(key_t key, size_t size)
{
	int id = shmget(key, size, IPC_CREAT | 0600);
	if (id < 0)
		DIE("shmget(IPC_CREAT)");
	return id;
}

static char *attach(int id)
{
	char *p = shmat(id, NULL, 0);
	if (p == (char *)-1)
		DIE("shmat");
	return p;
}

static void detach(const void *p)
{
	if (shmdt(p) < 0)
		DIE("shmdt");
}

static void destroy(int id)
{
	if (shmctl(id, IPC_RMID, NULL) < 0)
		DIE("shmctl(IPC_RMID)");
}

/* Writes one byte per page, so that every page is backed. */
static void touch_pages(char *p, size_t size)
{
	for (size_t off = 0; off < size; off += 4096)
		p[off] = (char)off;
}

/* ---- Set-ups and tear-downs shared by several operations. ---- */

static void one_segment(struct ctx *c, key_t key, size_t size, int attached)
{
	c->size = size;
	c->ids[0] = create(key, size);
	c->addrs[0] = attach(c->ids[0]);
	touch_pages(c->addrs[0], size); /* a live server's segment is backed */
	if (!attached) {
		detach(c->addrs[0]);
		c->addrs[0] = NULL;
	}
}

static void setup_key_4k(struct ctx *c) { one_segment(c, BENCH_KEY, 4 * KIB, 0); }
static void setup_4k(struct ctx *c) { one_segment(c, IPC_PRIVATE, 4 * KIB, 0); }
static void setup_64m(struct ctx *c) { one_segment(c, IPC_PRIVATE, 64 * MIB, 0); }
static void setup_4k_attached(struct ctx *c) { one_segment(c, IPC_PRIVATE, 4 * KIB, 1); }
static void setup_64m_attached(struct ctx *c) { one_segment(c, IPC_PRIVATE, 64 * MIB, 1); }

static void setup_four_attaches(struct ctx *c)
{
	for (int i = 0; i < MAX_SEGS; i++) {
		c->ids[i] = create(IPC_PRIVATE, MIB);
		c->addrs[i] = attach(c->ids[i]);
		touch_pages(c->addrs[i], MIB);
	}
}

static void teardown(struct ctx *c)
{
	for (int i = 0; i < MAX_SEGS; i++) {
		if (c->addrs[i])
			detach(c->addrs[i]);
		if (c->ids[i] >= 0)
			destroy(c->ids[i]);
	}
}

/* ---- The operations: each runs n iterations. ---- */

static void op_shmget_existing(struct ctx *c, long n)
{
	for (long i = 0; i < n; i++)
		if (shmget(BENCH_KEY, 0, 0) != c->ids[0])
			DIE("shmget(existing key)");
}

static void op_create_destroy(struct ctx *c, long n)
{
	(void)c;
	for (long i = 0; i < n; i++)
		destroy(create(IPC_PRIVATE, 4 * KIB));
}

static void op_attach_detach(struct ctx *c, long n)
{
	for (long i = 0; i < n; i++)
		detach(attach(c->ids[0]));
}

/* shmat + shmdt of the segment of ids[0] while the process holds another
 * attach of it (addrs[1]): what a server that attaches per request pays. */
static void setup_4k_held(struct ctx *c)
{
	one_segment(c, IPC_PRIVATE, 4 * KIB, 1);
	c->addrs[1] = c->addrs[0];
	c->addrs[0] = NULL;
}

/* Attach, change a byte, detach: under GOSHM_SYNC=detach the detach
 * flushes the segment to disk. */
static void op_attach_write_detach(struct ctx *c, long n)
{
	for (long i = 0; i < n; i++) {
		char *p = attach(c->ids[0]);
		p[0] = (char)i;
		detach(p);
	}
}

/* A byte changed, then goshm_sync() of the segment: the cost of a flush
 * called by the program (the library's, found at run time: natively
 * there is none, and this operation says so). */
static void op_write_sync(struct ctx *c, long n)
{
	int (*sync_fn)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "goshm_sync");
	if (!sync_fn) {
		errno = ENOSYS;
		DIE("goshm_sync (the library is not loaded)");
	}
	for (long i = 0; i < n; i++) {
		c->addrs[0][0] = (char)i;
		if (sync_fn(c->ids[0]) < 0)
			DIE("goshm_sync");
	}
}

static void op_ipc_stat(struct ctx *c, long n)
{
	struct shmid_ds ds;
	for (long i = 0; i < n; i++)
		if (shmctl(c->ids[0], IPC_STAT, &ds) < 0 || ds.shm_nattch != 1)
			DIE("shmctl(IPC_STAT)");
}

static void op_write(struct ctx *c, long n)
{
	for (long i = 0; i < n; i++)
		memset(c->addrs[0], (int)i, c->size);
}

static void op_create_touch_destroy(struct ctx *c, long n)
{
	(void)c;
	for (long i = 0; i < n; i++) {
		int id = create(IPC_PRIVATE, 64 * MIB);
		char *p = attach(id);
		touch_pages(p, 64 * MIB);
		detach(p);
		destroy(id);
	}
}

static void op_fork(struct ctx *c, long n)
{
	(void)c;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			DIE("fork");
		if (pid == 0)
			_exit(0);
		int status;
		if (waitpid(pid, &status, 0) != pid || status != 0)
			DIE("waitpid");
	}
}

struct op {
	const char *name;
	void (*setup)(struct ctx *);
	void (*run)(struct ctx *, long);
};

static const struct op ops[] = {
	{ "shmget_existing", setup_key_4k, op_shmget_existing },
	{ "create_destroy", NULL, op_create_destroy },
	{ "attach_detach_4k", setup_4k, op_attach_detach },
	{ "attach_detach_64m", setup_64m, op_attach_detach },
	{ "attach_detach_4k_held", setup_4k_held, op_attach_detach },
	{ "attach_write_detach", setup_4k, op_attach_write_detach },
	{ "write_sync", setup_4k_attached, op_write_sync },
	{ "ipc_stat", setup_4k_attached, op_ipc_stat },
	{ "write_64m", setup_64m_attached, op_write },
	{ "create_touch_destroy_64m", NULL, op_create_touch_destroy },
	{ "fork_0", NULL, op_fork },
	{ "fork_4", setup_four_attaches, op_fork },
};

/* time_rounds' run: one operation on its context. */
struct op_in_ctx {
	const struct op *op;
	struct ctx *c;
};

static void run_in_ctx(void *arg, long n)
{
	struct op_in_ctx *o = arg;
	o->op->run(o->c, n);
}

static void bench(const struct op *op, long iters, int rounds)
{
	struct ctx c;
	memset(&c, 0, sizeof c);
	for (int i = 0; i < MAX_SEGS; i++)
		c.ids[i] = -1;
	if (op->setup)
		op->setup(&c);
	struct op_in_ctx o = {op, &c};
	time_rounds(op->name, run_in_ctx, &o, iters, rounds);
	teardown(&c);
}

static void usage(void)
{
	fprintf(stderr, "usage: shmops [-i ITERS] [-r ROUNDS(1..64)] [OP...]\nops:");
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		fprintf(stderr, " %s", ops[i].name);
	fprintf(stderr, "\n");
	exit(64);
}

int main(int argc, char **argv)
{
	long iters = 0;
	int rounds = 5, opt;
	while ((opt = getopt(argc, argv, "i:r:")) != -1) {
		switch (opt) {
		case 'i':
			iters = atol(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (iters < 0 || rounds < 1 || rounds > 64)
		usage();
	int matched = 0;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		int wanted = optind == argc;
		for (int a = optind; a < argc; a++)
			wanted |= strcmp(argv[a], ops[i].name) == 0;
		if (wanted) {
			bench(&ops[i], iters, rounds);
			matched++;
		}
	}
	if (matched == 0 || (optind < argc && matched != argc - optind))
		usage();
	return 0;
}
