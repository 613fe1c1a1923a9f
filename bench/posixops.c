/* posixops: POSIX shared memory (shm_open) as a program uses it, each
 * operation timed in a loop.  scripts/bench.sh runs it natively (the
 * objects in /dev/shm, a tmpfs) and with a goshm library preloaded and
 * GOSHM_POSIX=1 (the objects in the store's posix/ directory); the ratio
 * is goshm's cost.
 *
 *   posixops [-i ITERS] [-r ROUNDS] [OP...]
 *
 * Output and calibration as shmops': one line per operation,
 *
 *   op NAME MEDIAN_NS_PER_OP MIN_NS_PER_OP ITERS ROUNDS
 */
#include "clock.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE 4096

static char name[64];

/* shm_open of an existing object, mmap of its 4 KiB, munmap, close: what
 * a process attaching to a server's object does. */
static void op_open_map_close(void *unused, long n)
{
	(void)unused;
	for (long i = 0; i < n; i++) {
		int fd = shm_open(name, O_RDWR, 0);
		if (fd < 0)
			DIE("shm_open");
		char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			DIE("mmap");
		p[0] = (char)i;
		if (munmap(p, SIZE) < 0)
			DIE("munmap");
		close(fd);
	}
}

/* A new object and its removal: shm_open(O_CREAT|O_EXCL), close,
 * shm_unlink. */
static void op_create_unlink(void *unused, long n)
{
	(void)unused;
	char other[80];
	snprintf(other, sizeof other, "%s.new", name);
	for (long i = 0; i < n; i++) {
		int fd = shm_open(other, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			DIE("shm_open(O_CREAT|O_EXCL)");
		close(fd);
		if (shm_unlink(other) < 0)
			DIE("shm_unlink");
	}
}

struct op {
	const char *name;
	void (*run)(void *, long);
};

static const struct op ops[] = {
	{ "open_map_close", op_open_map_close },
	{ "create_unlink", op_create_unlink },
};

static void usage(void)
{
	fprintf(stderr, "usage: posixops [-i ITERS] [-r ROUNDS(1..64)] [OP...]\n"
	                "ops: open_map_close create_unlink\n");
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
	/* One object per process: native runs share the host's /dev/shm. */
	snprintf(name, sizeof name, "/goshm-bench.%d", (int)getpid());
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, SIZE) < 0)
		DIE("shm_open of the object");
	close(fd);
	int matched = 0;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		int wanted = optind == argc;
		for (int a = optind; a < argc; a++)
			wanted |= strcmp(argv[a], ops[i].name) == 0;
		if (wanted) {
			time_rounds(ops[i].name, ops[i].run, NULL, iters, rounds);
			matched++;
		}
	}
	shm_unlink(name);
	if (matched == 0 || (optind < argc && matched != argc - optind))
		usage();
	return 0;
}
