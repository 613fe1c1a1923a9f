/*
 * presence_advice.c - MADV_DONTFORK over goshm's own pages, not over the
 * attach: a child that inherits the attach must still count it, and
 * keep the segment's token mapped (capi/engine/attach_table.c
 * gs_table_fork_advice_locked puts them back).  Run under goshm only:
 * natively there are no such pages.
 *
 * Attaches a new segment, finds in /proc/self/maps the one-page kernel
 * attach of a key-0 segment (goshm's presence attach) and the mapping of
 * the segment's token file (segments/seg-*.ns*), advises both
 * MADV_DONTFORK, forks, and prints what the child sees:
 * "child nattch=N token=yes|no".  Exit 1 when a step fails.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

/* The start of the first mapping whose line contains what, or NULL. */
static void *find_mapping(const char *what)
{
	char line[4096];
	void *at = NULL;
	FILE *f = fopen("/proc/self/maps", "re");
	while (f && !at && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (strstr(line, what) && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			at = (void *)lo;
	}
	if (f)
		fclose(f);
	return at;
}

int main(void)
{
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
	if (p == (char *)-1) {
		perror("shmget/shmat");
		return 1;
	}
	void *presence = find_mapping("/SYSV00000000 ");
	void *token = find_mapping(".ns");
	if (!presence || !token) {
		printf("presence or token mapping not found (not under goshm?)\n");
		return 1;
	}
	if (madvise(presence, 4096, MADV_DONTFORK) < 0 || madvise(token, 4096, MADV_DONTFORK) < 0) {
		perror("madvise");
		return 1;
	}
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		struct shmid_ds d;
		if (shmctl(id, IPC_STAT, &d) < 0)
			_exit(2);
		printf("child nattch=%lu token=%s\n", (unsigned long)d.shm_nattch,
		       find_mapping(".ns") ? "yes" : "no");
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
