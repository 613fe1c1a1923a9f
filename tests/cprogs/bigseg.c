#define _GNU_SOURCE
/* bigseg: create (IPC_PRIVATE) a segment of argv[1] bytes, attach it,
 * touch its first and last byte, and report.  Exit 0 on success, 2 when
 * shmget fails (errno name printed), 3 on any later failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bigseg BYTES\n");
		return 64;
	}
	size_t size = strtoull(argv[1], NULL, 0);
	int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (id < 0) {
		printf("shmget: %s\n", strerrorname_np(errno));
		return 2;
	}
	char *p = shmat(id, NULL, 0);
	if (p == (char *)-1) {
		printf("shmat: %s\n", strerrorname_np(errno));
		shmctl(id, IPC_RMID, NULL);
		return 3;
	}
	p[0] = 'x';
	p[size - 1] = 'y';
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0 || ds.shm_segsz != size) {
		printf("stat: bad\n");
		return 3;
	}
	printf("ok %zu\n", ds.shm_segsz);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	return 0;
}
