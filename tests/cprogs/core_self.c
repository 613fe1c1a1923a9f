/*
 * core_self DIR - a process whose core holds a segment's contents or not.
 *
 * Attaches a new segment, writes a marker into it, and has gcore(1) write
 * this process's core to DIR/core.PID while it waits; then removes the
 * segment.  gcore, as the kernel does, dumps a shared mapping of a file
 * only when bit 3 of /proc/PID/coredump_filter is set (the default 0x33
 * has it clear), and one of an unlinked file -- the kernel's System V
 * segments -- under bit 1 (set by default): docs/DIFFERENCES.md.
 * Prints "core=PATH"; exit 1 when a call or gcore fails.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#define MARKER "goshm-core-marker-5b1f"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: core_self DIR\n");
		return 64;
	}
	int id = shmget(IPC_PRIVATE, 1 << 16, IPC_CREAT | 0600);
	if (id < 0) {
		perror("shmget");
		return 1;
	}
	char *p = shmat(id, NULL, 0);
	if (p == (char *)-1) {
		perror("shmat");
		return 1;
	}
	strcpy(p + 4096, MARKER);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "gcore -o %s/core %d >/dev/null 2>&1", argv[1], (int)getpid());
	int st = system(cmd);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	if (st != 0) {
		fprintf(stderr, "gcore failed: %d\n", st);
		return 1;
	}
	printf("core=%s/core.%d\n", argv[1], (int)getpid());
	return 0;
}
