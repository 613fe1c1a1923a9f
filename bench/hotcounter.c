/* hotcounter: a legacy server's hottest pattern, a counter in shared
 * memory rewritten as fast as the CPU allows.  Run natively the segment is
 * shmem and never reaches a disk; under goshm it is a file in the store,
 * and the kernel writes its dirty pages back.  scripts/bench.sh measures
 * the store's block device while this runs.
 *
 *   hotcounter SECONDS MIB [init]
 *
 * Creates an IPC_PRIVATE segment of MIB MiB, attaches it, with "init"
 * first writes every byte (a server initialising its state), then
 * increments a 64-bit counter in the first page for SECONDS seconds,
 * detaches and removes the segment.  Prints "hotcounter INCREMENTS". */
#include "clock.h"

#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "init") != 0)) {
		fprintf(stderr, "usage: hotcounter SECONDS MIB [init]\n");
		return 64;
	}
	double seconds = atof(argv[1]);
	size_t size = (size_t)atol(argv[2]) << 20;
	if (seconds <= 0 || size == 0) {
		fprintf(stderr, "hotcounter: SECONDS and MIB must be positive\n");
		return 64;
	}

	int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (id < 0)
		DIE("shmget");
	char *p = shmat(id, NULL, 0);
	if (p == (char *)-1)
		DIE("shmat");
	if (argc == 4)
		memset(p, 0x5a, size);

	volatile uint64_t *counter = (volatile uint64_t *)p;
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), done = 0;
	while (now_ns() < end) {
		for (int i = 0; i < 1000000; i++)
			(*counter)++;
		done += 1000000;
	}

	if (shmdt(p) < 0)
		DIE("shmdt");
	if (shmctl(id, IPC_RMID, NULL) < 0)
		DIE("shmctl(IPC_RMID)");
	printf("hotcounter %llu\n", (unsigned long long)done);
	return 0;
}
