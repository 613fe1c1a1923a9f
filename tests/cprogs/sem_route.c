/*
 * sem_route - GOSHM_KEYS routes semaphore keys as it routes segment keys.
 * Makes a set with key 0x5e00 and one with key 0x7e00, uses both, and
 * says for each whether the kernel has it (the kernel's own semctl, by the
 * system call instruction: kernel_sys.h) and whether its id is in goshm's
 * routed range.  Run with GOSHM_KEYS=0x5e00 (tests/conformance/
 * sem_test.go).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel_sys.h"

static void one(key_t key)
{
	int id = semget(key, 1, IPC_CREAT | 0600);
	struct sembuf up = {0, 2, 0};
	struct semid_ds d;
	if (id < 0 || semop(id, &up, 1) < 0) {
		printf("%#x: %s\n", (unsigned)key, strerror(errno));
		return;
	}
	long k = kernel_sys4(SYS_semctl, id, 0, IPC_STAT, (long)&d);
	printf("%#x: value=%d kernel=%s routed=%s\n", (unsigned)key, semctl(id, 0, GETVAL),
	       k == 0 ? "yes" : "no", (id & 0x7fff) >= 16384 ? "yes" : "no");
	if (semctl(id, 0, IPC_RMID) < 0)
		printf("%#x: IPC_RMID: %s\n", (unsigned)key, strerror(errno));
}

int main(void)
{
	one(0x5e00);
	one(0x7e00);
	return 0;
}
