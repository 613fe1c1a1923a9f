/*
 * sem_churn - a process that goes through many semaphore sets keeps a
 * bounded number of mappings of them, and unmaps none in use.
 *
 *   sem_churn loop N      N x semget, semop (with and without SEM_UNDO,
 *                         adjustments left or not), semctl, IPC_RMID
 *   sem_churn live N      N live sets each used once with SEM_UNDO; then
 *                         a child holds adjustments on 100 of them while
 *                         it goes through N more: its exit undoes them
 *   sem_churn threads N   threads blocked in semop on two sets while the
 *                         main thread goes through N others; then they
 *                         are released (one set by values, one by IPC_RMID)
 *   sem_churn race N      4 threads each go through N sets and share one
 *   sem_churn lru N       4 threads make N uses each of 200 live sets at random
 *   sem_churn fork N      2 threads do so while the main thread forks N
 *                         children that use them too
 *
 * Prints "name = value" lines that are the same natively and under goshm,
 * and "sem-maps-max = N": the most mappings of the store's sem/ directory
 * ($GOSHM_DIR/sem/, from /proc/self/maps) seen while it ran (0 natively).
 * tests/conformance/sem_test.go compares the first and bounds the second.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static char semdir[PATH_MAX + 8];
static int maps_max, errors;

/* Mappings of files in the store's sem/ directory. */
static int sem_maps(void)
{
	/* The store's directory exists once a first call has made it. */
	const char *store = getenv("GOSHM_DIR");
	char real[PATH_MAX];
	if (!semdir[0] && store && store[0] && realpath(store, real))
		snprintf(semdir, sizeof semdir, "%s/sem/", real);
	if (!semdir[0])
		return 0;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[PATH_MAX + 256];
	int n = 0;
	size_t len = strlen(semdir);
	while (fgets(line, sizeof line, f)) {
		char *p = strchr(line, '/');
		n += p && !strncmp(p, semdir, len);
	}
	fclose(f);
	return n;
}

static void sample(void)
{
	int n = sem_maps(), m = __atomic_load_n(&maps_max, __ATOMIC_RELAXED);
	while (n > m && !__atomic_compare_exchange_n(&maps_max, &m, n, 0, __ATOMIC_RELAXED,
	                                             __ATOMIC_RELAXED))
		;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1; /* the directory's own */
}

static void fail(const char *what, int i)
{
	if (__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED) < 5)
		fprintf(stderr, "sem_churn: %s (set %d): %s\n", what, i, strerror(errno));
}

static int op(int id, unsigned short num, short delta, short flg)
{
	struct sembuf b = {num, delta, flg};
	return semop(id, &b, 1);
}

/* One set's life, in one of four ways. */
static void one_set(int i)
{
	int n = 1 + i % 3;
	int id = semget(IPC_PRIVATE, n, 0600);
	if (id < 0) {
		fail("semget", i);
		return;
	}
	struct semid_ds d;
	switch (i % 4) {
	case 0:
		if (op(id, 0, 1, 0) < 0 || op(id, 0, -1, 0) < 0)
			fail("semop", i);
		break;
	case 1: /* SEM_UNDO, adjustments back to 0 */
		if (op(id, 0, 1, SEM_UNDO) < 0 || op(id, 0, -1, SEM_UNDO) < 0)
			fail("semop undo", i);
		break;
	case 2: /* SEM_UNDO, an adjustment left when the set goes */
		if (semctl(id, 0, SETVAL, (union semun){.val = 1}) < 0 ||
		    op(id, (unsigned short)(n - 1), 1, SEM_UNDO) < 0 || op(id, 0, -1, SEM_UNDO) < 0)
			fail("semop undo held", i);
		break;
	default:
		if (semctl(id, 0, SETVAL, (union semun){.val = 3}) < 0 ||
		    semctl(id, 0, GETVAL) != 3 || semctl(id, 0, IPC_STAT, (union semun){.buf = &d}) < 0)
			fail("semctl", i);
	}
	if (i % 97 == 0)
		sample(); /* with this set mapped */
	if (semctl(id, 0, IPC_RMID) < 0)
		fail("IPC_RMID", i);
	/* The id is gone. */
	if (semctl(id, 0, GETVAL) != -1 || (errno != EINVAL && errno != EIDRM))
		fail("GETVAL after IPC_RMID", i);
}

static void churn(int from, int n)
{
	for (int i = from; i < from + n; i++) {
		one_set(i);
		if (i % 97 == 0)
			sample();
	}
}

static void loop(int n)
{
	one_set(0); /* warm up: the engine's own state */
	int fds = count_fds();
	churn(1, n);
	printf("errors = %d\n", errors);
	printf("fds = %+d\n", count_fds() - fds);
}

static void live(int n)
{
	int *ids = calloc((size_t)n, sizeof *ids);
	for (int i = 0; i < n; i++) {
		ids[i] = semget(IPC_PRIVATE, 1, 0600);
		if (ids[i] < 0 || semctl(ids[i], 0, SETVAL, (union semun){.val = 1}) < 0 ||
		    op(ids[i], 0, -1, SEM_UNDO) < 0 || op(ids[i], 0, 1, SEM_UNDO) < 0)
			fail("live set", i);
		if (i % 97 == 0)
			sample();
	}
	sample();
	fflush(NULL);
	pid_t k = fork();
	if (k == 0) {
		/* Adjustments on 100 sets must outlive the churn. */
		for (int i = 0; i < 100 && i < n; i++)
			if (op(ids[i * (n / 100)], 0, -1, SEM_UNDO) < 0)
				fail("child hold", i);
		churn(0, n);
		_exit(errors ? 1 : 0);
	}
	int st;
	waitpid(k, &st, 0);
	printf("child = %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	int back = 0;
	for (int i = 0; i < n; i++)
		back += semctl(ids[i], 0, GETVAL) == 1;
	printf("values back = %d/%d\n", back, n);
	for (int i = 0; i < n; i++)
		if (semctl(ids[i], 0, IPC_RMID) < 0)
			fail("IPC_RMID", i);
	sample();
	printf("errors = %d\n", errors);
	free(ids);
}

/* ---- threads ---- */

enum { T = 8 };
static int wset, xset;
static int result[T + 2], got[T + 2];

static void *waiter(void *arg)
{
	int i = (int)(long)arg;
	if (i < T) {
		/* takes i+1 units of semaphore i, some with SEM_UNDO */
		result[i] = op(wset, (unsigned short)i, (short)-(i + 1), i % 2 ? SEM_UNDO : 0);
		got[i] = result[i] < 0 ? errno : 0;
	} else {
		result[i] = op(xset, 0, -1, 0);
		got[i] = result[i] < 0 ? errno : 0;
	}
	return NULL;
}

/* A thread that keeps a SEM_UNDO adjustment on a set another thread
 * removes, then goes on with semaphore calls (its robust list still
 * names the removed set's presence mutex until it lets it go). */
static int yset, zset;
static pthread_barrier_t hold_bar;

static void *holder(void *arg)
{
	(void)arg;
	if (op(yset, 0, 1, SEM_UNDO) < 0)
		fail("holder", 0);
	pthread_barrier_wait(&hold_bar); /* main removes yset and churns */
	pthread_barrier_wait(&hold_bar);
	for (int i = 0; i < 100; i++)
		if (op(zset, 0, 1, SEM_UNDO) < 0 || op(zset, 0, -1, SEM_UNDO) < 0)
			fail("holder after", i);
	return NULL;
}

/* Sets used once and left: more than the idle mappings kept. */
static void live_sets(int *ids, int n)
{
	for (int i = 0; i < n; i++) {
		ids[i] = semget(IPC_PRIVATE, 1, 0600);
		if (ids[i] < 0 || op(ids[i], 0, 1, i % 2 ? SEM_UNDO : 0) < 0 ||
		    op(ids[i], 0, -1, i % 2 ? SEM_UNDO : 0) < 0)
			fail("live set", i);
		if (i % 97 == 0)
			sample();
	}
}

static int all_blocked(void)
{
	for (int i = 0; i < T; i++)
		if (semctl(wset, i, GETNCNT) != 1)
			return 0;
	return semctl(xset, 0, GETNCNT) == 2;
}

static void threads(int n)
{
	wset = semget(IPC_PRIVATE, T, 0600);
	xset = semget(IPC_PRIVATE, 1, 0600);
	one_set(0);
	int fds = count_fds();
	pthread_t th[T + 2];
	for (int i = 0; i < T + 2; i++)
		pthread_create(&th[i], NULL, waiter, (void *)(long)i);
	for (int w = 0; w < 5000 && !all_blocked(); w++)
		usleep(1000);
	printf("blocked = %d\n", all_blocked());
	yset = semget(IPC_PRIVATE, 1, 0600);
	zset = semget(IPC_PRIVATE, 1, 0600);
	pthread_barrier_init(&hold_bar, NULL, 2);
	pthread_t h;
	pthread_create(&h, NULL, holder, NULL);
	pthread_barrier_wait(&hold_bar);
	printf("removed held = %d\n", semctl(yset, 0, IPC_RMID));
	int ids[300];
	live_sets(ids, 300);
	churn(1, n);
	printf("still blocked = %d\n", all_blocked());
	pthread_barrier_wait(&hold_bar);
	pthread_join(h, NULL);
	printf("holder done = %d\n", semctl(zset, 0, GETVAL));
	semctl(zset, 0, IPC_RMID);
	for (int i = 0; i < 300; i++)
		semctl(ids[i], 0, IPC_RMID);
	for (int i = 0; i < T; i++)
		if (op(wset, (unsigned short)i, (short)(i + 1), 0) < 0)
			fail("post", i);
	semctl(xset, 0, IPC_RMID);
	for (int i = 0; i < T + 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < T + 2; i++)
		printf("waiter %d = %d %s\n", i, result[i], got[i] ? strerrorname_np(got[i]) : "-");
	unsigned short v[T];
	semctl(wset, 0, GETALL, (union semun){.array = v});
	int sum = 0;
	for (int i = 0; i < T; i++)
		sum += v[i];
	printf("values = %d\n", sum);
	semctl(wset, 0, IPC_RMID);
	churn(n + 1, 200);
	printf("errors = %d\n", errors);
	printf("fds = %+d\n", count_fds() - fds);
}

/* ---- race ---- */

static int shared_set, race_n;

static void *racer(void *arg)
{
	int base = (int)(long)arg * 1000000;
	for (int i = 0; i < race_n; i++) {
		one_set(base + i);
		if (op(shared_set, 0, -1, SEM_UNDO) < 0 || op(shared_set, 0, 1, SEM_UNDO) < 0)
			fail("shared", i);
	}
	return NULL;
}

static void race(int n)
{
	race_n = n;
	shared_set = semget(IPC_PRIVATE, 1, 0600);
	semctl(shared_set, 0, SETVAL, (union semun){.val = 2});
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, racer, (void *)(long)i);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	sample();
	printf("shared = %d\n", semctl(shared_set, 0, GETVAL));
	semctl(shared_set, 0, IPC_RMID);
	printf("errors = %d\n", errors);
}

/* ---- lru ---- */

enum { LRU_SETS = 200 };
static int lru_ids[LRU_SETS];

/* Threads use sets at random, more of them than the idle mappings kept:
 * mappings are dropped and made again while other threads pin them. */
static void *lru_user(void *arg)
{
	unsigned seed = (unsigned)(long)arg * 7919u + 1;
	for (int i = 0; i < __atomic_load_n(&race_n, __ATOMIC_RELAXED); i++) {
		int id = lru_ids[rand_r(&seed) % LRU_SETS];
		if (op(id, 0, -1, 0) < 0 || op(id, 0, 1, 0) < 0)
			fail("lru", i);
		if (i % 97 == 0)
			sample();
	}
	return NULL;
}

/* LRU_SETS private sets of one semaphore, each at 1. */
static void make_lru_sets(const char *what)
{
	for (int i = 0; i < LRU_SETS; i++) {
		lru_ids[i] = semget(IPC_PRIVATE, 1, 0600);
		if (lru_ids[i] < 0 || semctl(lru_ids[i], 0, SETVAL, (union semun){.val = 1}) < 0)
			fail(what, i);
	}
}

static void lru(int n)
{
	race_n = n;
	make_lru_sets("lru set");
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, lru_user, (void *)(long)i);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	int ones = 0;
	for (int i = 0; i < LRU_SETS; i++) {
		ones += semctl(lru_ids[i], 0, GETVAL) == 1;
		semctl(lru_ids[i], 0, IPC_RMID);
	}
	printf("values = %d/%d\n", ones, LRU_SETS);
	printf("errors = %d\n", errors);
}

/* ---- fork ---- */

/* A process forks while its threads use sets (the cache is copied, never
 * half-changed): each child uses sets, makes and removes one, and exits. */
static void forks(int n)
{
	race_n = 1000000000;
	make_lru_sets("fork set");
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, lru_user, (void *)(long)i);
	int ok = 0;
	for (int k = 0; k < n; k++) {
		fflush(NULL);
		pid_t c = fork();
		if (c == 0) {
			unsigned seed = (unsigned)k;
			for (int i = 0; i < 20; i++) {
				int id = lru_ids[rand_r(&seed) % LRU_SETS];
				if (op(id, 0, -1, SEM_UNDO) < 0 || op(id, 0, 1, SEM_UNDO) < 0)
					_exit(1);
			}
			one_set(k);
			_exit(errors ? 2 : 0);
		}
		int st;
		waitpid(c, &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	__atomic_store_n(&race_n, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("children ok = %d/%d\n", ok, n);
	int ones = 0;
	for (int i = 0; i < LRU_SETS; i++) {
		ones += semctl(lru_ids[i], 0, GETVAL) == 1;
		semctl(lru_ids[i], 0, IPC_RMID);
	}
	printf("values = %d/%d\n", ones, LRU_SETS);
	printf("errors = %d\n", errors);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sem_churn loop|live|threads|race|lru|fork N\n");
		return 64;
	}
	int n = atoi(argv[2]);
	if (!strcmp(argv[1], "loop"))
		loop(n);
	else if (!strcmp(argv[1], "live"))
		live(n);
	else if (!strcmp(argv[1], "threads"))
		threads(n);
	else if (!strcmp(argv[1], "race"))
		race(n);
	else if (!strcmp(argv[1], "lru"))
		lru(n);
	else if (!strcmp(argv[1], "fork"))
		forks(n);
	else
		return 64;
	printf("sem-maps-max = %d\n", maps_max);
	return errors ? 1 : 0;
}
