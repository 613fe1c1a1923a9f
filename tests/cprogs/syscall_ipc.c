/*
 * syscall_ipc write KEY TEXT | read KEY - a segment and a semaphore set
 * made and read through syscall(2) with the System V numbers, as programs
 * that avoid the C library's wrappers do.  Under goshm they are served
 * from the store like the wrappers' calls (capi/engine/exports.c
 * gs_sysv_syscall), so a reader in a fresh IPC namespace finds them.
 *
 *   write: creates KEY's segment and set, stores TEXT and sets the
 *          semaphore to its length, detaches; prints "id=N"
 *   read:  finds them, prints "text=TEXT sem=N", removes both
 * Exit 1 when a call fails (the message names it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what)
{
	printf("%s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "write") == 0 && argc < 4)) {
		fprintf(stderr, "usage: syscall_ipc write KEY TEXT | read KEY\n");
		return 64;
	}
	key_t key = (key_t)strtol(argv[2], NULL, 0);
	int writing = strcmp(argv[1], "write") == 0;
	long id = syscall(SYS_shmget, key, 4096, writing ? IPC_CREAT | 0600 : 0);
	if (id < 0)
		die("shmget");
	char *p = (char *)syscall(SYS_shmat, id, NULL, 0);
	if (p == (char *)-1)
		die("shmat");
	long sid = syscall(SYS_semget, key, 1, writing ? IPC_CREAT | 0600 : 0);
	if (sid < 0)
		die("semget");
	if (writing) {
		snprintf(p, 4096, "%s", argv[3]);
		struct sembuf up = {0, (short)strlen(argv[3]), 0};
		if (syscall(SYS_semop, sid, &up, 1) < 0)
			die("semop");
		printf("id=%ld\n", id);
	} else {
		long v = syscall(SYS_semctl, sid, 0, GETVAL, 0);
		if (v < 0)
			die("semctl GETVAL");
		struct shmid_ds ds;
		if (syscall(SYS_shmctl, id, IPC_STAT, &ds) < 0)
			die("shmctl IPC_STAT");
		printf("text=%s sem=%ld nattch=%lu\n", p, v, (unsigned long)ds.shm_nattch);
		if (syscall(SYS_shmctl, id, IPC_RMID, NULL) < 0)
			die("shmctl IPC_RMID");
		if (syscall(SYS_semctl, sid, 0, IPC_RMID, 0) < 0)
			die("semctl IPC_RMID");
	}
	if (syscall(SYS_shmdt, p) < 0)
		die("shmdt");
	return 0;
}
