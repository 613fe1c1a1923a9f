#define _GNU_SOURCE
/*
 * real_interop: the C side of the interop test with Python's sysv_ipc and
 * Perl's IPC::SharedMem (tests/realprog/testdata/interop.py and .pl).  The
 * segment holds text: lines, then zeros.
 *
 *   real_interop KEY create LINE   create the 4096-byte segment (mode 0666,
 *                                  IPC_EXCL), then as append
 *   real_interop KEY append LINE   print the text, then append LINE "\n"
 *   real_interop KEY gone          exit 0 if KEY has no segment (ENOENT)
 *
 * Before printing it checks what IPC_STAT says: 4096 bytes, nattch 0
 * before its attach and 1 after (each step runs alone in a fresh IPC
 * namespace).  Exit 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#define SEGSZ 4096

static int fail(const char *what)
{
	fprintf(stderr, "real_interop: %s: %s\n", what, strerrorname_np(errno));
	return 1;
}

static int check_stat(int id, unsigned long nattch)
{
	struct shmid_ds d;
	if (shmctl(id, IPC_STAT, &d) < 0)
		return fail("shmctl IPC_STAT");
	if (d.shm_segsz != SEGSZ || d.shm_nattch != nattch) {
		fprintf(stderr, "real_interop: IPC_STAT: size %zu nattch %lu, want %d and %lu\n",
		        d.shm_segsz, (unsigned long)d.shm_nattch, SEGSZ, nattch);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: real_interop KEY create|append LINE | KEY gone\n");
		return 64;
	}
	key_t key = (key_t)strtoul(argv[1], NULL, 0);
	const char *mode = argv[2];
	if (!strcmp(mode, "gone")) {
		if (shmget(key, 0, 0) >= 0 || errno != ENOENT)
			return fail("shmget of a removed key");
		return 0;
	}
	if (argc != 4)
		return 64;
	int create = !strcmp(mode, "create");
	int id = create ? shmget(key, SEGSZ, IPC_CREAT | IPC_EXCL | 0666)
	                : shmget(key, 0, 0);
	if (id < 0)
		return fail("shmget");
	if (check_stat(id, 0))
		return 1;
	char *p = shmat(id, NULL, 0);
	if (p == (char *)-1)
		return fail("shmat");
	if (check_stat(id, 1))
		return 1;
	size_t len = strnlen(p, SEGSZ);
	size_t add = strlen(argv[3]);
	if (len + add + 2 > SEGSZ) {
		fprintf(stderr, "real_interop: the segment is full\n");
		return 1;
	}
	fwrite(p, 1, len, stdout);
	memcpy(p + len, argv[3], add);
	p[len + add] = '\n';
	if (shmdt(p) < 0)
		return fail("shmdt");
	return check_stat(id, 0);
}
