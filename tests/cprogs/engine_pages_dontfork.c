/*
 * engine_pages_dontfork.c - MADV_DONTFORK over every page goshm mapped
 * for its own use, but not over the attach: a child must still find the
 * engine whole (its attach table, its stores, the registry, the
 * semaphore cache and set mappings), in its fork handler and in its next
 * calls.  With "wipe" as argv[2], MADV_WIPEONFORK over the anonymous
 * ones instead: the child must not find them zeroed.  With "race", a
 * thread keeps advising MADV_DONTFORK while 2000 children are forked.  Run under goshm
 * only: natively the calls map nothing but the attach.
 *
 * Notes the process's mappings, makes a segment (key argv[1]) and a
 * semaphore set (same key), attaches the segment and takes the semaphore,
 * then advises MADV_DONTFORK every page mapped since -- anonymous, a
 * file of the store, or a System V segment -- except the attach.  Then
 * forks; the child prints what it sees:
 *   "child nattch=N shmget=same|other detach=R after=N sem=V"
 * and the parent, once the child ended, "parent nattch=N status=S".
 * Exit 1 when a step fails.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

struct range {
	unsigned long lo, hi;
	int anon;
};

#define MAXR 4096
static struct range before[MAXR], after[MAXR];

/* The mappings the engine may own: anonymous ones, the store's files and
 * System V segments (goshm's presence attaches).  Not the heap or the
 * stack, nor the program's and libraries' files. */
static int engine_kind(const char *path)
{
	const char *store = getenv("GOSHM_DIR");
	if (!*path)
		return 1;
	if (!strncmp(path, "/SYSV", 5))
		return 1;
	return store && *store && !strncmp(path, store, strlen(store));
}

static int read_maps(struct range *r)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -1;
	while (n < MAXR && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		int path_at = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &path_at) < 2 || !path_at)
			continue;
		char *path = line + path_at;
		path[strcspn(path, "\n")] = 0;
		if (engine_kind(path))
			r[n++] = (struct range){lo, hi, !*path};
	}
	fclose(f);
	return n;
}

static int advice = MADV_DONTFORK;
static struct range advised_ranges[MAXR];
static int nadvised;

/* Advise the pages of [lo, hi) no range of old[] holds. */
static int advise_new(unsigned long lo, unsigned long hi, const struct range *old, int nold)
{
	int advised = 0;
	for (unsigned long p = lo; p < hi;) {
		unsigned long end = hi;
		int covered = 0;
		for (int i = 0; i < nold; i++) {
			if (old[i].lo <= p && p < old[i].hi) {
				covered = 1;
				end = old[i].hi < hi ? old[i].hi : hi;
				break;
			}
			if (old[i].lo > p && old[i].lo < end)
				end = old[i].lo;
		}
		if (!covered) {
			if (madvise((void *)p, end - p, advice) < 0) {
				perror("madvise");
				return -1;
			}
			if (nadvised < MAXR)
				advised_ranges[nadvised++] = (struct range){p, end, 1};
			advised++;
		}
		p = end;
	}
	return advised;
}

static unsigned long nattch(int id)
{
	struct shmid_ds d;
	return shmctl(id, IPC_STAT, &d) < 0 ? (unsigned long)-1 : (unsigned long)d.shm_nattch;
}

static int reattach_reads(int id)
{
	char *q = shmat(id, NULL, SHM_RDONLY);
	return q != (char *)-1 && !strcmp(q, "kept") && shmdt(q) == 0;
}

static volatile int stop;

/* Advise the same pages again and again: the engine undoes it each time. */
static void *advise_loop(void *arg)
{
	(void)arg;
	while (!stop)
		for (int i = 0; i < nadvised; i++)
			madvise((void *)advised_ranges[i].lo,
			        advised_ranges[i].hi - advised_ranges[i].lo, advice);
	return NULL;
}

/* Fork ROUNDS children while a thread keeps advising: each must find the
 * engine whole.  Prints "race ok ROUNDS", or the round that failed. */
#define ROUNDS 2000
static int race_forks(int id, int semid, char *p, int advised)
{
	pthread_t th;
	if (!advised || pthread_create(&th, NULL, advise_loop, NULL)) {
		printf("no advice or no thread\n");
		return 1;
	}
	int bad = 0, round;
	for (round = 0; round < ROUNDS && !bad; round++) {
		pid_t c = fork();
		if (c == 0) {
			struct sembuf up = {0, 1, 0};
			_exit(nattch(id) == 2 && shmdt(p) == 0 && nattch(id) == 1 &&
			      reattach_reads(id) && semop(semid, &up, 1) == 0 ? 0 : 4);
		}
		int st = 0;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = c < 0 ? -1 : st;
	}
	stop = 1;
	pthread_join(th, NULL);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	semctl(semid, 0, IPC_RMID);
	if (bad) {
		printf("round %d: child status %d\n", round, bad);
		return 1;
	}
	printf("race ok %d\n", ROUNDS);
	return 0;
}

int main(int argc, char **argv)
{
	key_t key = argc > 1 ? (key_t)strtol(argv[1], NULL, 0) : 0x7e5f0c1;
	int wipe = argc > 2 && !strcmp(argv[2], "wipe");
	int race = argc > 2 && !strcmp(argv[2], "race");
	if (wipe)
		advice = MADV_WIPEONFORK;
	int nbefore = read_maps(before);
	int id = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
	int semid = semget(key, 1, IPC_CREAT | IPC_EXCL | 0600);
	char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
	struct sembuf up = {0, 1, 0};
	if (nbefore < 0 || p == (char *)-1 || semid < 0 || semop(semid, &up, 1) < 0) {
		perror("setup");
		return 1;
	}
	strcpy(p, "kept");
	int nafter = read_maps(after), advised = 0;
	for (int i = 0; i < nafter; i++) {
		unsigned long lo = after[i].lo, hi = after[i].hi;
		unsigned long alo = (unsigned long)p, ahi = alo + 8192;
		/* MADV_WIPEONFORK applies to private anonymous memory only. */
		if (wipe && !after[i].anon)
			continue;
		/* The attach itself stays in the child. */
		if (lo < ahi && alo < hi) {
			int a = lo < alo ? advise_new(lo, alo, before, nbefore) : 0;
			int b = ahi < hi ? advise_new(ahi, hi, before, nbefore) : 0;
			if (a < 0 || b < 0)
				return 1;
			advised += a + b;
			continue;
		}
		int n = advise_new(lo, hi, before, nbefore);
		if (n < 0)
			return 1;
		advised += n;
	}
	fprintf(stderr, "advised %d ranges\n", advised);
	if (race)
		return race_forks(id, semid, p, advised);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		unsigned long n = nattch(id);
		int same = shmget(key, 0, 0) == id;
		int det = shmdt(p);
		unsigned long left = nattch(id);
		int val = semop(semid, &up, 1) < 0 ? -1 : semctl(semid, 0, GETVAL);
		if (!reattach_reads(id))
			_exit(3);
		printf("child nattch=%lu shmget=%s detach=%d after=%lu sem=%d\n", n,
		       same ? "same" : "other", det, left, val);
		fflush(stdout);
		_exit(0);
	}
	int st = 0;
	waitpid(c, &st, 0);
	printf("parent nattch=%lu status=%d\n", nattch(id),
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	semctl(semid, 0, IPC_RMID);
	return advised > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
