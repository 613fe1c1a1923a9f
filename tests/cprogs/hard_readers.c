/*
 * hard_readers - lock-free readers against writers (issue 10's "correctness
 * stays first").
 *
 *   hard_readers SECONDS [shared]
 *
 * Writers create, change (IPC_SET) and remove segments of a few keys in a
 * loop, in two IPC namespaces on one store, and a killer SIGKILLs writers
 * at random moments (they are restarted).  Readers in both namespaces call
 * shmget(key, 0, 0) and IPC_STAT as fast as they can, on threads, and check
 * every answer against what the writers announced in shared memory:
 *
 *   - a key is never found once its IPC_RMID has returned (the writer bumps
 *     removed[] after the call returns; a reader that saw the bump before
 *     its call must not get that segment);
 *   - IPC_STAT never shows a size other than the segment's, nor an owner
 *     and mode other than the two (uid, gid, mode) triples the writers set
 *     with IPC_SET -- never half of one and half of the other -- nor a key
 *     other than its own (or IPC_PRIVATE once removed);
 *   - an id never answers IPC_STAT once the writer saw it destroyed -- in
 *     the writer's namespace, or with "shared" (goshm: one store is one id
 *     space for every namespace) in any.
 *
 * It prints "ok READS" or the first violations, and exits 1 on any; a
 * reader or writer that hangs is a test timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYS 4
#define KEY0 0x6c6b0000
#define WRITERS_PER_NS 2
#define READERS_PER_NS 2
#define THREADS 3
/* The two owners and modes IPC_SET switches between. */
#define UID_A 101
#define MODE_A 0640
#define UID_B 202
#define MODE_B 0604

/* What the writers announce, in memory shared by every process. */
struct shared {
	/* Per key: the id of its current segment (-1 none) and its size. */
	int id[KEYS];
	uint64_t size[KEYS];
	/* Per key: bumped after an IPC_RMID of id[key] returned, with the id. */
	uint64_t removed_seq[KEYS];
	int removed_id[KEYS];
	/* Ids seen destroyed (IPC_RMID with nothing attached returned). */
	int dead[256];
	int dead_ns[256];
	uint64_t ndead;
	uint64_t reads;
	int violations;
	char first[4][160];
	pthread_mutex_t mu;
};

static struct shared *sh;
static volatile sig_atomic_t stop;
static int my_ns, shared_ids;

static void violation(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&sh->mu);
	if (sh->violations < 4)
		snprintf(sh->first[sh->violations], sizeof sh->first[0], "%s", line);
	sh->violations++;
	pthread_mutex_unlock(&sh->mu);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A writer owns key k: create, set modes, remove, forever. */
static void writer(int k, uint64_t seed)
{
	key_t key = KEY0 + k;
	for (;;) {
		uint64_t size = 4096 * (1 + rnd(&seed) % 4) + (uint64_t)k;
		int id = shmget(key, size, IPC_CREAT | IPC_EXCL | MODE_A);
		if (id < 0 && errno == EEXIST) {
			/* Left by a killed writer of this key: take it over. */
			id = shmget(key, 0, 0);
			struct shmid_ds d;
			if (id >= 0 && shmctl(id, IPC_STAT, &d) == 0)
				size = d.shm_segsz;
			else
				continue;
		} else if (id < 0) {
			violation("writer shmget: %s", strerror(errno));
			sleep(1);
			continue;
		}
		__atomic_store_n(&sh->size[k], size, __ATOMIC_SEQ_CST);
		__atomic_store_n(&sh->id[k], id, __ATOMIC_SEQ_CST);
		for (int i = rnd(&seed) % 20; i > 0; i--) {
			struct shmid_ds d;
			memset(&d, 0, sizeof d);
			d.shm_perm.uid = d.shm_perm.gid = (i & 1) ? UID_A : UID_B;
			d.shm_perm.mode = (i & 1) ? MODE_A : MODE_B;
			shmctl(id, IPC_SET, &d);
		}
		__atomic_store_n(&sh->id[k], -1, __ATOMIC_SEQ_CST);
		if (shmctl(id, IPC_RMID, NULL) == 0) {
			__atomic_store_n(&sh->removed_id[k], id, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&sh->removed_seq[k], 1, __ATOMIC_SEQ_CST);
			/* Nothing attaches these: removed is destroyed. */
			uint64_t n = __atomic_fetch_add(&sh->ndead, 1, __ATOMIC_SEQ_CST);
			__atomic_store_n(&sh->dead_ns[n % 256], my_ns, __ATOMIC_SEQ_CST);
			__atomic_store_n(&sh->dead[n % 256], id, __ATOMIC_SEQ_CST);
		}
	}
}

static void check_stat(int k, int id, const struct shmid_ds *d)
{
	unsigned mode = d->shm_perm.mode & 0777;
	uid_t uid = d->shm_perm.uid, gid = d->shm_perm.gid;
	int made = (mode == MODE_A && uid == 0 && gid == 0) ||   /* as created */
	           (mode == MODE_A && uid == UID_A && gid == UID_A) ||
	           (mode == MODE_B && uid == UID_B && gid == UID_B);
	if (!made)
		violation("id %d: uid %u gid %u mode %o, never set together", id, uid, gid, mode);
	if (d->shm_segsz < 4096 || d->shm_segsz > 4 * 4096 + KEYS ||
	    d->shm_segsz % 4096 != (size_t)k)
		violation("id %d: size %zu is no size of key %d", id, (size_t)d->shm_segsz, k);
	if (d->shm_perm.__key != KEY0 + k && d->shm_perm.__key != IPC_PRIVATE)
		violation("id %d: key %#x, not %#x", id, d->shm_perm.__key, KEY0 + k);
}

static void *reader(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
	while (!stop) {
		int k = (int)(rnd(&seed) % KEYS);
		struct shmid_ds d;
		/* 1. Found after its removal returned? */
		uint64_t seq = __atomic_load_n(&sh->removed_seq[k], __ATOMIC_SEQ_CST);
		int gone = __atomic_load_n(&sh->removed_id[k], __ATOMIC_SEQ_CST);
		int id = shmget(KEY0 + k, 0, 0);
		if (id >= 0 && seq && id == gone &&
		    __atomic_load_n(&sh->removed_seq[k], __ATOMIC_SEQ_CST) == seq)
			violation("key %#x found as id %d after its IPC_RMID returned", KEY0 + k, id);
		/* 2. What IPC_STAT shows is something a writer made. */
		if (id >= 0 && shmctl(id, IPC_STAT, &d) == 0)
			check_stat(k, id, &d);
		/* 3. A destroyed id answers no more. */
		uint64_t n = __atomic_load_n(&sh->ndead, __ATOMIC_SEQ_CST);
		if (n) {
			int dead = __atomic_load_n(&sh->dead[(n - 1) % 256], __ATOMIC_SEQ_CST);
			int ns = __atomic_load_n(&sh->dead_ns[(n - 1) % 256], __ATOMIC_SEQ_CST);
			/* Nothing attaches the writers' segments: removed is
			 * destroyed, and ids are not reused this soon. */
			if (dead >= 0 && (ns == my_ns || shared_ids) && shmctl(dead, IPC_STAT, &d) == 0)
				violation("id %d answers IPC_STAT after it was destroyed", dead);
		}
		__atomic_add_fetch(&sh->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static pid_t spawn_writer(int k, int newns, uint64_t seed)
{
	pid_t p = fork();
	if (p == 0) {
		if (newns && unshare(CLONE_NEWIPC) < 0)
			_exit(3);
		my_ns = newns;
		writer(k, seed);
		_exit(0);
	}
	return p;
}

static pid_t spawn_reader(int newns, int n)
{
	pid_t p = fork();
	if (p == 0) {
		if (newns && unshare(CLONE_NEWIPC) < 0)
			_exit(3);
		my_ns = newns;
		signal(SIGTERM, on_term);
		pthread_t t[THREADS];
		for (long i = 0; i < THREADS; i++)
			pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)(n * THREADS + i + 1));
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		_exit(0);
	}
	return p;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 20;
	shared_ids = argc > 2 && !strcmp(argv[2], "shared");
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&sh->mu, &ma);
	for (int k = 0; k < KEYS; k++)
		sh->id[k] = sh->removed_id[k] = -1;
	for (int i = 0; i < 256; i++)
		sh->dead[i] = -1;

	/* Writers: keys split between the two namespaces, each key one
	 * writer at a time (a killed one is replaced by one of its ns). */
	pid_t writers[KEYS];
	uint64_t seed = (uint64_t)time(NULL) | 1;
	for (int k = 0; k < KEYS; k++)
		writers[k] = spawn_writer(k, k & 1, rnd(&seed));
	pid_t readers[2 * READERS_PER_NS];
	for (int i = 0; i < 2 * READERS_PER_NS; i++)
		readers[i] = spawn_reader(i & 1, i);

	int kills = 0;
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		usleep((useconds_t)(1000 + rnd(&seed) % 20000));
		int k = (int)(rnd(&seed) % KEYS);
		kill(writers[k], SIGKILL);
		waitpid(writers[k], NULL, 0);
		writers[k] = spawn_writer(k, k & 1, rnd(&seed));
		kills++;
	}
	for (int k = 0; k < KEYS; k++) {
		kill(writers[k], SIGKILL);
		waitpid(writers[k], NULL, 0);
	}
	int bad_end = 0;
	for (int i = 0; i < 2 * READERS_PER_NS; i++) {
		int st;
		kill(readers[i], SIGTERM);
		waitpid(readers[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stdout, "reader %d ended with status %#x\n", i, st);
			bad_end = 1;
		}
	}
	for (int i = 0; i < sh->violations && i < 4; i++)
		printf("violation: %s\n", sh->first[i]);
	if (sh->violations || bad_end) {
		printf("%d violations in %llu reads, %d writers killed\n", sh->violations,
		       (unsigned long long)sh->reads, kills);
		return 1;
	}
	printf("ok %llu reads, %d writers killed\n", (unsigned long long)sh->reads, kills);
	return 0;
}
