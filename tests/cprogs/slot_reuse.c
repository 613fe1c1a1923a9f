#define _GNU_SOURCE
/*
 * slot_reuse: the steps of TestLockFreeCallRacingSlotReuse
 * (tests/realprog/slot_reuse_test.go): a lock-free shmdt or shmat held (by
 * gdb) while its segment is destroyed and its registry slot given to a
 * new segment that another IPC namespace attaches.
 *
 *   slot_reuse cycle KEY
 *       shmget(KEY, 4096, IPC_CREAT|0666), shmat, shmdt; prints "id ID"
 *       first and "done" at the end.  The test stops it inside shmdt.
 *   slot_reuse reattach KEY
 *       the same, then shmat of the id again (lock-free: the process has
 *       attached it before), which prints "shmat: OK" or its errno, and
 *       "done".  The test stops it inside that shmat.
 *   slot_reuse evict KEY
 *       attach KEY's segment (made if missing), then attach and detach 70
 *       private segments, more than the 64 idle tokens a process keeps,
 *       so that KEY's token is the least recently used; then, after a
 *       call to slot_reuse_before_last_detach(), detach KEY's: the token
 *       goes with that detach.  The private segments are removed last.
 *       Prints "id ID" first, "done" at the end.
 *   slot_reuse refill OLDID KEY
 *       IPC_RMID of OLDID, then segments of KEY are made (and removed
 *       again) until one lands on OLDID's index; prints "id ID" of that
 *       one, which is kept.
 *   slot_reuse rmid KEY
 *       IPC_RMID of KEY's segment; prints "removed".
 *
 * Failures print "<call>: ERRNO" and exit 2.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

/* An id's index part (ipc/util.h ipcid_to_idx, IPCMNI 32768). */
#define INDEX_OF(id) ((id) & 0x7fff)

static int fail(const char *call)
{
	printf("%s: %s\n", call, strerrorname_np(errno));
	return 2;
}

/* The segment of key, made if need be, and "id N": its id, or -1 once
 * fail() said why. */
static int get_printed(key_t key)
{
	int id = shmget(key, 4096, IPC_CREAT | 0666);
	if (id < 0)
		return fail("shmget"), -1;
	printf("id %d\n", id);
	return id;
}

/* get_printed, then one attach and detach of it. */
static int get_attached_once(key_t key)
{
	int id = get_printed(key);
	if (id < 0)
		return -1;
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return fail("shmat"), -1;
	if (shmdt(p) < 0)
		return fail("shmdt"), -1;
	return id;
}

static int cycle(key_t key)
{
	if (get_attached_once(key) < 0)
		return 2;
	printf("done\n");
	return 0;
}

static int reattach(key_t key)
{
	int id = get_attached_once(key);
	if (id < 0)
		return 2;
	void *p = shmat(id, NULL, 0);
	printf("shmat: %s\n", p == (void *)-1 ? strerrorname_np(errno) : "OK");
	printf("done\n");
	return 0;
}

/* Where the test's gdb stops before the detach it wants (evict). */
__attribute__((noinline)) void slot_reuse_before_last_detach(void)
{
	__asm__ volatile("" ::: "memory");
}

static int evict(key_t key)
{
	int id = get_printed(key);
	if (id < 0)
		return 2;
	void *held = shmat(id, NULL, 0);
	if (held == (void *)-1)
		return fail("shmat");
	/* Kept until the end: a destroyed segment's idle token goes with it. */
	int others[70];
	for (int i = 0; i < 70; i++) {
		others[i] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		if (others[i] < 0)
			return fail("shmget(IPC_PRIVATE)");
		void *p = shmat(others[i], NULL, 0);
		if (p == (void *)-1)
			return fail("shmat(IPC_PRIVATE)");
		if (shmdt(p) < 0)
			return fail("shmdt(IPC_PRIVATE)");
	}
	slot_reuse_before_last_detach();
	if (shmdt(held) < 0)
		return fail("shmdt");
	for (int i = 0; i < 70; i++)
		if (shmctl(others[i], IPC_RMID, NULL) < 0)
			return fail("shmctl(IPC_RMID)");
	printf("done\n");
	return 0;
}

static int refill(int old, key_t key)
{
	if (shmctl(old, IPC_RMID, NULL) < 0)
		return fail("shmctl(IPC_RMID)");
	for (int tries = 0; tries < 100000; tries++) {
		int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0666);
		if (id < 0)
			return fail("shmget");
		if (INDEX_OF(id) == INDEX_OF(old)) {
			printf("id %d\n", id);
			return 0;
		}
		if (shmctl(id, IPC_RMID, NULL) < 0)
			return fail("shmctl(IPC_RMID)");
	}
	printf("refill: index %d never came back\n", INDEX_OF(old));
	return 2;
}

static int rmid(key_t key)
{
	int id = shmget(key, 0, 0);
	if (id < 0)
		return fail("shmget");
	if (shmctl(id, IPC_RMID, NULL) < 0)
		return fail("shmctl(IPC_RMID)");
	printf("removed\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Waits for the test's gdb to attach (and continue it). */
	if (getenv("SLOT_REUSE_STOP"))
		raise(SIGSTOP);
	if (argc == 3 && !strcmp(argv[1], "cycle"))
		return cycle((key_t)strtol(argv[2], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "reattach"))
		return reattach((key_t)strtol(argv[2], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "evict"))
		return evict((key_t)strtol(argv[2], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "refill"))
		return refill(atoi(argv[2]), (key_t)strtol(argv[3], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "rmid"))
		return rmid((key_t)strtol(argv[2], NULL, 0));
	fprintf(stderr, "usage: slot_reuse cycle KEY | reattach KEY | evict KEY | refill OLDID KEY | rmid KEY\n");
	return 64;
}
