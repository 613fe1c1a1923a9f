/*
 * twin_race.c - a second attach made as a duplicate of a held one
 * (capi/engine/shmat.c map_twin) while another thread detaches the held
 * attach and a third attaches another segment, which the kernel may put
 * where the held attach was.  A duplicate made of whatever is there then
 * would give an attach of X the pages of Y.
 *
 *   twin_race SECONDS
 *
 * Three threads for SECONDS: one attaches and detaches X, one attaches X
 * (a duplicate of the first thread's attach whenever it holds one) and
 * reads X's mark, one attaches and detaches Y and reads Y's mark.  Prints
 * "ok N" (N: attaches of X read) and exits 0, or names the first wrong
 * read and exits 1.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/shm.h>
#include <time.h>

static int seg_x, seg_y;
static atomic_int stop, wrong;
static atomic_long reads;

static void fail(const char *what)
{
	perror(what);
	exit(2);
}

static void *detacher(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		char *h = shmat(seg_x, NULL, 0);
		if (h == (char *)-1)
			fail("shmat(X) to hold");
		if (shmdt(h) < 0)
			fail("shmdt(X) held");
	}
	return NULL;
}

static void *reader(void *arg)
{
	int id = *(int *)arg;
	char mark = id == seg_x ? 'X' : 'Y';
	while (!atomic_load(&stop)) {
		char *p = shmat(id, NULL, 0);
		if (p == (char *)-1)
			fail("shmat");
		if (p[0] != mark) {
			fprintf(stderr, "an attach of %c reads %c\n", mark, p[0]);
			atomic_store(&wrong, 1);
			atomic_store(&stop, 1);
		}
		if (mark == 'X')
			atomic_fetch_add(&reads, 1);
		if (shmdt(p) < 0)
			fail("shmdt");
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: twin_race SECONDS\n");
		return 2;
	}
	seg_x = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	seg_y = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (seg_x < 0 || seg_y < 0)
		fail("shmget");
	char *x = shmat(seg_x, NULL, 0), *y = shmat(seg_y, NULL, 0);
	if (x == (char *)-1 || y == (char *)-1)
		fail("shmat");
	x[0] = 'X';
	y[0] = 'Y';
	if (shmdt(x) < 0 || shmdt(y) < 0)
		fail("shmdt");

	pthread_t t[3];
	if (pthread_create(&t[0], NULL, detacher, NULL) ||
	    pthread_create(&t[1], NULL, reader, &seg_x) ||
	    pthread_create(&t[2], NULL, reader, &seg_y))
		fail("pthread_create");
	struct timespec d = {atoi(argv[1]), 0};
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);

	struct shmid_ds ds;
	if (shmctl(seg_x, IPC_STAT, &ds) < 0 || ds.shm_nattch != 0) {
		fprintf(stderr, "X is still attached %lu times\n", (unsigned long)ds.shm_nattch);
		return 1;
	}
	shmctl(seg_x, IPC_RMID, NULL);
	shmctl(seg_y, IPC_RMID, NULL);
	if (atomic_load(&wrong))
		return 1;
	printf("ok %ld\n", atomic_load(&reads));
	return 0;
}
