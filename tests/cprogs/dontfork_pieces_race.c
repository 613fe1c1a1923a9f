/*
 * dontfork_pieces_race.c - two advices on one attach of three pages, in
 * two threads: MADV_DONTFORK on its first page (the other two left out
 * already: the attach is then out of children piece by piece, which the
 * library reads from /proc/self/smaps without its mutex) and MADV_DOFORK
 * on the whole attach.  Whichever the kernel applies last, a child
 * inherits at least the last two pages, and its shmdt at the attach's
 * address detaches them (the kernel's rule: a piece whose file offset is
 * its distance from the address).  A library that applied what /proc said
 * after the other advice had come would leave the attach out of the
 * child's table: EINVAL (capi/engine/attach_table.c gs_table_fork_pieces).
 *
 *   dontfork_pieces_race ROUNDS
 *
 * Prints "ok ROUNDS" and exits 0, or names the first round whose child
 * could not detach and exits 1.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
static char *attach;
static atomic_int go, rounds_done;

/* One MADV_DONTFORK of the first page per round the main thread starts;
 * go < 0 ends it. */
static void *first_page_advisor(void *arg)
{
	(void)arg;
	for (;;) {
		int g;
		while ((g = atomic_load(&go)) == 0)
			;
		if (g < 0)
			return NULL;
		madvise(attach, PAGE, MADV_DONTFORK);
		atomic_store(&go, 0);
		atomic_fetch_add(&rounds_done, 1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dontfork_pieces_race ROUNDS\n");
		return 64;
	}
	int rounds = atoi(argv[1]);
	int id = shmget(IPC_PRIVATE, 3 * PAGE, IPC_CREAT | 0600);
	attach = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
	if (attach == (char *)-1) {
		perror("shmget/shmat");
		return 2;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, first_page_advisor, NULL) != 0)
		return 2;
	int bad = 0;
	for (int i = 0; i < rounds && !bad; i++) {
		madvise(attach, 3 * PAGE, MADV_DOFORK);
		madvise(attach + PAGE, 2 * PAGE, MADV_DONTFORK);
		int before = atomic_load(&rounds_done);
		atomic_store(&go, 1);
		/* A varying head start, so that the two advices meet at every
		 * point of each other. */
		for (volatile int spin = 0; spin < (i % 50) * 2000; spin++)
			;
		madvise(attach, 3 * PAGE, MADV_DOFORK);
		while (atomic_load(&rounds_done) == before)
			;
		pid_t c = fork();
		if (c == 0)
			_exit(shmdt(attach) == 0 ? 0 : 1);
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("round %d: the child's shmdt at the attach failed\n", i);
			bad = 1;
		}
	}
	atomic_store(&go, -1);
	pthread_join(t, NULL);
	shmdt(attach);
	shmctl(id, IPC_RMID, NULL);
	if (!bad)
		printf("ok %d\n", rounds);
	return bad;
}
