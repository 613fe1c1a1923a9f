/* roundtrip: the write-up's writer and reader in one program, built by a
 * project that uses goshm as a library (CMake's goshm::goshm or
 * pkg-config), not by LD_PRELOAD.
 *
 *   roundtrip write KEY MESSAGE   create KEY (4 KiB), store MESSAGE in it
 *   roundtrip read KEY            print what KEY holds
 *
 * It calls the plain System V functions, which the link resolves to
 * libgoshm, and goshm.h's own functions, which exist nowhere else.  Output
 * is "name value" lines for the test to read.  Exit 0 on success, 1 when a
 * call fails (its errno name is printed), 64 on bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <goshm.h>

#define SEGMENT_SIZE 4096

static int fail(const char *call)
{
	printf("error %s %s\n", call, strerrorname_np(errno));
	return 1;
}

static int write_message(key_t key, const char *message)
{
	if (strlen(message) >= SEGMENT_SIZE) {
		fprintf(stderr, "roundtrip: message longer than %d bytes\n",
		        SEGMENT_SIZE - 1);
		return 64;
	}
	int id = shmget(key, SEGMENT_SIZE, IPC_CREAT | 0666);
	if (id < 0)
		return fail("shmget");
	char *p = shmat(id, NULL, 0);
	if (p == (char *)-1)
		return fail("shmat");
	strcpy(p, message);
	if (shmdt(p) < 0)
		return fail("shmdt");
	printf("shmid %d\n", id);
	return 0;
}

static int read_message(key_t key)
{
	int id = shmget(key, 0, 0);
	if (id < 0)
		return fail("shmget");
	const char *p = shmat(id, NULL, SHM_RDONLY);
	if (p == (const char *)-1)
		return fail("shmat");
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return fail("shmctl");
	printf("shmid %d\n", id);
	printf("nattch %lu\n", (unsigned long)ds.shm_nattch);
	printf("message %.*s\n", SEGMENT_SIZE, p);
	if (shmdt(p) < 0)
		return fail("shmdt");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "write") == 0 && argc != 4) ||
	    (strcmp(argv[1], "read") == 0 && argc != 3)) {
		fprintf(stderr, "usage: roundtrip write KEY MESSAGE | read KEY\n");
		return 64;
	}
	goshm_store *store = goshm_store_open(NULL);
	if (store == NULL)
		return fail("goshm_store_open");
	printf("version %s\n", goshm_version());
	printf("store %s\n", goshm_store_path(store));

	key_t key = (key_t)strtol(argv[2], NULL, 0);
	if (strcmp(argv[1], "write") == 0)
		return write_message(key, argv[3]);
	if (strcmp(argv[1], "read") == 0)
		return read_message(key);
	fprintf(stderr, "roundtrip: unknown command %s\n", argv[1]);
	return 64;
}
