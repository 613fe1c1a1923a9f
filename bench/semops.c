/* semops: System V semaphores, natively or under goshm (served from the store).
 *
 *   semops [-i ITERS] OP
 *
 * OPs:
 *   pair         semop(-1) + semop(+1) on an uncontended set: a mutex
 *                taken and released (what the issue calls a lock+unlock)
 *   pair_undo    the same with SEM_UNDO
 *   handoff      two processes pass a token back and forth through two
 *                semaphores; the time is per handoff (one wake-up)
 *
 * Prints "semops OP NS_PER_OP ITERS".  ITERS is calibrated to ~0.2 s. */
#include "clock.h"

#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

static void P(int id, int n, int flg)
{
	struct sembuf b = {(unsigned short)n, -1, (short)flg};
	if (semop(id, &b, 1) < 0)
		DIE("semop(-1)");
}

static void V(int id, int n, int flg)
{
	struct sembuf b = {(unsigned short)n, 1, (short)flg};
	if (semop(id, &b, 1) < 0)
		DIE("semop(+1)");
}

static uint64_t pairs(int id, long n, int flg)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		P(id, 0, flg);
		V(id, 0, flg);
	}
	return now_ns() - t0;
}

/* The child answers every token on semaphore 1 with one on semaphore 0. */
static uint64_t handoff(int id, long n)
{
	pid_t c = fork();
	if (c < 0)
		DIE("fork");
	if (c == 0) {
		for (long i = 0; i < n; i++) {
			P(id, 1, 0);
			V(id, 0, 0);
		}
		_exit(0);
	}
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		V(id, 1, 0);
		P(id, 0, 0);
	}
	uint64_t dt = now_ns() - t0;
	waitpid(c, NULL, 0);
	return dt / 2; /* two handoffs per round trip */
}

static uint64_t run(const char *op, int id, long n)
{
	if (!strcmp(op, "pair"))
		return pairs(id, n, 0);
	if (!strcmp(op, "pair_undo"))
		return pairs(id, n, SEM_UNDO);
	if (!strcmp(op, "handoff"))
		return handoff(id, n);
	fprintf(stderr, "semops: no op %s (pair, pair_undo, handoff)\n", op);
	exit(64);
}

int main(int argc, char **argv)
{
	long iters = 0;
	int opt;
	while ((opt = getopt(argc, argv, "i:")) != -1) {
		if (opt != 'i') {
			fprintf(stderr, "usage: semops [-i ITERS] OP\n");
			return 64;
		}
		iters = atol(optarg);
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: semops [-i ITERS] OP\n");
		return 64;
	}
	const char *op = argv[optind];
	int id = semget(IPC_PRIVATE, 2, 0600);
	if (id < 0)
		DIE("semget");
	V(id, 0, 0);
	long n = iters;
	if (!n) { /* warm up and calibrate */
		n = 1;
		for (;;) {
			uint64_t dt = run(op, id, n);
			if (dt >= 40000000ull || n >= (1l << 28)) {
				n = (long)((double)n * 200000000.0 / (double)(dt ? dt : 1));
				n = n > 0 ? n : 1;
				break;
			}
			n *= 2;
		}
	}
	uint64_t dt = run(op, id, n);
	if (semctl(id, 0, IPC_RMID) < 0)
		DIE("semctl(IPC_RMID)");
	printf("semops %s %llu %ld\n", op, (unsigned long long)(dt / (uint64_t)n), n);
	return 0;
}
