#define _GNU_SOURCE
/* ctr_shmsh: a System V shared-memory session driven line by line on
 * stdin, so that a test can hold an attach open in one container and act
 * on it while it looks from another.
 *
 *   ctr_shmsh [-c SIZE] [-A] KEY
 *
 * Finds segment KEY (with -c: creates it if missing, SIZE bytes, mode
 * 0666) and, unless -A, attaches it; prints "id N".  Then answers each
 * command with one line:
 *   w TEXT   store TEXT and a NUL at offset 0        -> "ok"
 *   r        the bytes at offset 0 up to the first NUL -> "data TEXT"
 *   s        IPC_STAT                                  -> "nattch N segsz N"
 *   n        this process's IPC namespace              -> "ns ipc:[N]"
 *   q        detach and exit
 * End of input is q.  Failures print "<call>: ERRNO" and exit 2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

static int fail(const char *call)
{
	printf("%s: %s\n", call, strerrorname_np(errno));
	return 2;
}

int main(int argc, char **argv)
{
	size_t size = 0;
	int create = 0, attach = 1, opt;

	while ((opt = getopt(argc, argv, "c:A")) != -1) {
		switch (opt) {
		case 'c':
			create = 1;
			size = strtoull(optarg, NULL, 0);
			break;
		case 'A':
			attach = 0;
			break;
		default:
			fprintf(stderr, "usage: ctr_shmsh [-c SIZE] [-A] KEY\n");
			return 64;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: ctr_shmsh [-c SIZE] [-A] KEY\n");
		return 64;
	}
	/* Answers go through a pipe to the test: one flush per line. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	key_t key = (key_t)strtol(argv[optind], NULL, 0);
	int id = shmget(key, size, create ? IPC_CREAT | 0666 : 0);
	if (id < 0)
		return fail("shmget");
	char *p = NULL;
	if (attach) {
		p = shmat(id, NULL, 0);
		if (p == (char *)-1)
			return fail("shmat");
	}
	printf("id %d\n", id);

	char line[4096];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = 0;
		if (line[0] == 'q')
			break;
		if ((line[0] == 'w' || line[0] == 'r') && !p) {
			printf("not attached\n");
			continue;
		}
		switch (line[0]) {
		case 'w': {
			const char *text = line[1] ? line + 2 : "";
			memcpy(p, text, strlen(text) + 1);
			printf("ok\n");
			break;
		}
		case 'r':
			printf("data %s\n", p);
			break;
		case 's': {
			struct shmid_ds ds;
			if (shmctl(id, IPC_STAT, &ds) < 0)
				return fail("shmctl");
			printf("nattch %lu segsz %zu\n", (unsigned long)ds.shm_nattch,
			       ds.shm_segsz);
			break;
		}
		case 'n': {
			char ns[64];
			ssize_t n = readlink("/proc/self/ns/ipc", ns, sizeof ns - 1);
			if (n < 0)
				return fail("readlink");
			ns[n] = 0;
			printf("ns %s\n", ns);
			break;
		}
		default:
			printf("unknown command\n");
		}
	}
	if (p && shmdt(p) < 0)
		return fail("shmdt");
	return 0;
}
