#define _GNU_SOURCE
/*
 * crash_writer - one writer of the power-cut test (tests/crash).
 *
 *   crash_writer MODE NONCE KEY0 NKEYS SEED
 *
 * Until SIGTERM it creates, writes and removes segments of keys KEY0 ..
 * KEY0+NKEYS-1, which no other process uses.  The first half of the keys
 * are hot: created, written and removed in a tight loop.  The others are
 * cold: touched (created and written, written, or removed) every 1 to 12
 * seconds, so that at any moment some of them have been left alone for
 * longer than the kernel takes to write pages back.  Every page is written
 * whole at each version, word by word (crash_page.h).  MODE says how a
 * version is flushed:
 *
 *   sync     goshm_sync(shmid) after the write
 *   detach   shmdt() after the write (run it with GOSHM_SYNC=detach)
 *   none     not at all: the kernel writes pages back when it chooses
 *
 * It reports on stdout, one write(2) per line, "OP KEY INC A B T" with T
 * the CLOCK_MONOTONIC time in nanoseconds, taken before the step for what
 * it is about to do (capitals) and after the step returned for what it did:
 *
 *   C KEY INC SEGSZ 0 T   about to shmget(KEY, SEGSZ, IPC_CREAT|IPC_EXCL)
 *   c KEY INC SHMID 0 T   shmget returned SHMID
 *   W KEY INC V 0 T       about to write version V into every page
 *   w KEY INC V 0 T       every page holds version V (mode none)
 *   S KEY INC V T0 T      version V is flushed: goshm_sync or shmdt, called
 *                         at T0, returned 0 (modes sync and detach)
 *   R KEY INC 0 0 T       about to shmdt and IPC_RMID, in either order
 *   r KEY INC 0 0 T       both returned: the segment is destroyed
 *   E TEXT                something failed; the writer exits 1
 *
 * INC numbers the creations of a key from 1.  At SIGTERM it says "D" and
 * exits 0 without removing anything.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "crash_page.h"

#define MAXKEYS 64

enum mode { SYNC, DETACH, NONE };

struct key {
	int32_t key;
	int hot;
	int present;
	uint32_t inc;
	int shmid;
	volatile uint64_t *addr; /* NULL when detached */
	size_t segsz;
	uint32_t npages;
	uint32_t version;
	long long next; /* cold keys: when to touch it next */
};

static enum mode mode;
static uint64_t nonce;
static struct key keys[MAXKEYS];
static int nkeys;
static unsigned long long rng;
static volatile sig_atomic_t stop;
static int (*sync_fn)(int);

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng >> 33) % n;
}

static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(1, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3); /* the test stopped listening */
		off += (int)w;
	}
}

static void event(char op, const struct key *k, long long a, long long b, long long t)
{
	say("%c %d %u %lld %lld %lld", op, k->key, k->inc, a, b, t);
}

static void fail(const struct key *k, const char *what)
{
	say("E key %d inc %u: %s: %s", k->key, k->inc, what, strerrorname_np(errno));
	exit(1);
}

static void create(struct key *k)
{
	if (k->inc == CRASH_MAX) {
		errno = EOVERFLOW;
		fail(k, "too many creations");
	}
	k->inc++;
	k->npages = 1 + rnd(k->hot ? 4 : 12);
	k->segsz = (size_t)k->npages * CRASH_PAGE - rnd(64);
	k->version = 0;
	event('C', k, (long long)k->segsz, 0, now_ns());
	k->shmid = shmget(k->key, k->segsz, IPC_CREAT | IPC_EXCL | 0600);
	if (k->shmid < 0)
		fail(k, "shmget");
	k->present = 1;
	event('c', k, k->shmid, 0, now_ns());
}

static void detach(struct key *k)
{
	if (shmdt((const void *)k->addr) < 0)
		fail(k, "shmdt");
	k->addr = NULL;
}

static void write_version(struct key *k)
{
	if (!k->addr) {
		void *p = shmat(k->shmid, NULL, 0);
		if (p == (void *)-1)
			fail(k, "shmat");
		k->addr = p;
	}
	uint32_t v = k->version + 1;
	event('W', k, v, 0, now_ns());
	for (uint32_t p = 0; p < k->npages; p++)
		for (uint32_t w = 0; w < CRASH_WORDS; w++)
			k->addr[(size_t)p * CRASH_WORDS + w] = crash_word(nonce, k->key, k->inc, p, w, v);
	k->version = v;
	long long t0 = now_ns();
	switch (mode) {
	case SYNC:
		if (sync_fn(k->shmid) < 0)
			fail(k, "goshm_sync");
		event('S', k, v, t0, now_ns());
		if (rnd(4) == 0)
			detach(k);
		break;
	case DETACH:
		detach(k);
		event('S', k, v, t0, now_ns());
		break;
	case NONE:
		event('w', k, v, 0, t0);
		if (rnd(4) == 0)
			detach(k);
		break;
	}
}

/* Destroyed by the IPC_RMID itself, or by the shmdt after it. */
static void remove_segment(struct key *k)
{
	int rmid_first = k->addr && rnd(2);
	event('R', k, 0, 0, now_ns());
	if (k->addr && !rmid_first)
		detach(k);
	if (shmctl(k->shmid, IPC_RMID, NULL) < 0)
		fail(k, "IPC_RMID");
	if (k->addr)
		detach(k);
	k->present = 0;
	event('r', k, 0, 0, now_ns());
}

static void touch(struct key *k)
{
	if (!k->present) {
		create(k);
		if (!k->hot)
			write_version(k);
		return;
	}
	if (k->version == CRASH_MAX || rnd(100) < (k->hot ? 50u : 30u))
		remove_segment(k);
	else
		write_version(k);
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: crash_writer sync|detach|none NONCE KEY0 NKEYS SEED\n");
		return 2;
	}
	if (!strcmp(argv[1], "sync"))
		mode = SYNC;
	else if (!strcmp(argv[1], "detach"))
		mode = DETACH;
	else if (!strcmp(argv[1], "none"))
		mode = NONE;
	else {
		fprintf(stderr, "crash_writer: unknown mode %s\n", argv[1]);
		return 2;
	}
	nonce = strtoull(argv[2], NULL, 0);
	int32_t key0 = (int32_t)strtol(argv[3], NULL, 0);
	nkeys = atoi(argv[4]);
	rng = strtoull(argv[5], NULL, 0) * 2 + 1;
	if (nkeys < 2 || nkeys > MAXKEYS) {
		fprintf(stderr, "crash_writer: NKEYS must be 2..%d\n", MAXKEYS);
		return 2;
	}
	if (mode == SYNC) {
		/* Under LD_PRELOAD the library's goshm_sync is in the global
		 * scope; the program is not linked with it. */
		sync_fn = (int (*)(int))dlsym(RTLD_DEFAULT, "goshm_sync");
		if (!sync_fn) {
			say("E goshm_sync not found: run under LD_PRELOAD=libgoshm.so");
			return 1;
		}
	}
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	long long start = now_ns();
	for (int i = 0; i < nkeys; i++) {
		keys[i].key = key0 + i;
		keys[i].hot = i < nkeys / 2;
		keys[i].next = start + (long long)rnd(2000) * 1000000LL;
	}
	say("H %d", (int)getpid());
	while (!stop) {
		long long now = now_ns();
		struct key *k = NULL;
		for (int i = nkeys / 2; i < nkeys && !k; i++)
			if (keys[i].next <= now)
				k = &keys[i];
		if (k)
			k->next = now + (1000 + (long long)rnd(11000)) * 1000000LL;
		else
			k = &keys[rnd((unsigned)nkeys / 2)];
		touch(k);
		usleep(rnd(1000));
	}
	say("D");
	return 0;
}
