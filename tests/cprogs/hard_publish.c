/*
 * hard_publish - another IPC namespace's attach count under lock-free
 * churn (docs/FORMAT.md, "Reading without the lock": the pub words).
 *
 *   hard_publish SECONDS
 *
 * One segment, two IPC namespaces on one store.  In namespace A churner
 * processes attach and detach it on several threads as fast as they can
 * -- lock-free attaches add one to A's published count, lock-free detaches
 * publish the kernel's exact count -- and now and then fork a child that
 * inherits their attaches and detaches them or just exits.  Each thread
 * announces in shared memory when it holds an attach (a counter made odd
 * after shmat returned, even before shmdt).  In namespace B a watcher
 * calls IPC_STAT in a loop: A's published count is all it knows of A.
 * Threads whose counter is odd and unchanged before and after the call
 * held an attach throughout it, so nattch must be at least their number:
 * a published count below the truth is what would let a destroyer in B
 * remove a segment A still has attached.
 *
 * It prints "ok STATS stats, LOW with attaches held" (how many stats had
 * a lower bound above 0) or the first violation, and exits 1 on any.
 * Only meaningful under goshm: natively the namespaces have different
 * segments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHURNERS 3
#define THREADS 3
#define KEY 0x0c4b0001

static volatile sig_atomic_t stop;
static int id;
/* Per churner thread, in memory shared by both namespaces: odd while it
 * holds an attach, bumped at every change. */
static unsigned *held;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	printf("E %s: %s\n", what, strerrorname_np(errno));
	fflush(stdout);
	_exit(1);
}

static void *churn(void *arg)
{
	unsigned slot = (unsigned)(uintptr_t)arg, r = slot * 2654435761u;
	while (!stop) {
		char *p = shmat(id, NULL, 0);
		if (p == (void *)-1)
			die("shmat in namespace A");
		__atomic_add_fetch(&held[slot], 1, __ATOMIC_SEQ_CST); /* odd: held */
		p[0]++;
		r = r * 1103515245u + 12345u;
		if ((r >> 16) % 64 == 0) {
			pid_t c = fork();
			if (c == 0) {
				if ((r >> 8) & 1)
					shmdt(p);
				_exit(0);
			}
			if (c > 0)
				waitpid(c, NULL, 0);
		}
		__atomic_add_fetch(&held[slot], 1, __ATOMIC_SEQ_CST); /* even: letting go */
		if (shmdt(p) < 0)
			die("shmdt in namespace A");
	}
	return NULL;
}

static void churner(int n)
{
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(n * THREADS + i));
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	_exit(0);
}

/* Namespace A: its first process starts the churners. */
static pid_t namespace_a(int ready[2])
{
	pid_t a = fork();
	if (a)
		return a;
	if (unshare(CLONE_NEWIPC) < 0)
		die("unshare A");
	pid_t kids[CHURNERS];
	for (int i = 0; i < CHURNERS; i++)
		if ((kids[i] = fork()) == 0)
			churner(i);
	if (write(ready[1], "r", 1) != 1)
		die("write");
	while (!stop)
		pause();
	for (int i = 0; i < CHURNERS; i++) {
		kill(kids[i], SIGTERM);
		waitpid(kids[i], NULL, 0);
	}
	_exit(0);
}

/* Attaches held throughout: counters odd and unchanged. */
static unsigned held_throughout(const unsigned *before)
{
	unsigned n = 0;
	for (int i = 0; i < CHURNERS * THREADS; i++)
		n += (before[i] & 1) && __atomic_load_n(&held[i], __ATOMIC_SEQ_CST) == before[i];
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	int seconds = atoi(argv[1]);
	signal(SIGTERM, on_term);
	setvbuf(stdout, NULL, _IOLBF, 0);
	held = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (held == MAP_FAILED)
		die("mmap");
	id = shmget(KEY, 4096, IPC_CREAT | 0600);
	if (id < 0)
		die("shmget");
	int ready[2];
	if (pipe(ready) < 0)
		die("pipe");
	pid_t a = namespace_a(ready);
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("namespace A did not start");

	if (unshare(CLONE_NEWIPC) < 0) /* the watcher: namespace B */
		die("unshare B");
	long stats = 0, bounded = 0;
	int bad = 0;
	for (time_t end = time(NULL) + seconds; time(NULL) < end && !bad; stats++) {
		unsigned before[CHURNERS * THREADS];
		for (int i = 0; i < CHURNERS * THREADS; i++)
			before[i] = __atomic_load_n(&held[i], __ATOMIC_SEQ_CST);
		struct shmid_ds d;
		if (shmctl(id, IPC_STAT, &d) < 0)
			die("IPC_STAT in namespace B");
		unsigned low = held_throughout(before);
		bounded += low > 0;
		if (d.shm_nattch < low) {
			printf("E IPC_STAT in namespace B after %ld stats: nattch %lu, "
			       "while namespace A held %u attaches throughout\n",
			       stats, (unsigned long)d.shm_nattch, low);
			bad = 1;
		}
	}
	kill(a, SIGTERM);
	int st;
	waitpid(a, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("E namespace A ended with status %#x\n", st);
		bad = 1;
	}
	if (shmctl(id, IPC_RMID, NULL) < 0)
		die("IPC_RMID");
	if (!bad)
		printf("ok %ld stats, %ld with attaches held\n", stats, bounded);
	return bad;
}
