#define _GNU_SOURCE
/*
 * crash_check - what a store holds after a power cut, for the power-cut
 * test (tests/crash).  Run under goshm on the store a cut left: its first
 * call is the first use of the store after the "reboot", which repairs it.
 *
 *   crash_check NONCE KEY0 NKEYS [KEY0 NKEYS]...
 *
 * For each key of the ranges, one line:
 *
 *   absent KEY                          shmget(KEY, 0, 0) is ENOENT
 *   err KEY CALL ERRNO                  a call failed otherwise
 *   seg KEY SHMID SEGSZ NATTCH INC P... the segment, as IPC_STAT tells and
 *                                       as its pages read (crash_page.h)
 *
 * INC is the creation the pages' words name (0: every word is 0).  One
 * item per page: "V" when every word holds version V (0: never written),
 * "LO-HI" when its words hold versions LO to HI, "bad" when a word does
 * not decode as this key's at that place or names another creation (a
 * torn word, another segment's page, garbage); then a line
 *
 *   bad KEY PAGE WORD VALUE             the first such word, in hex
 *
 * Then every segment of the store, by index (SHM_INFO, SHM_STAT):
 *
 *   stat INDEX SHMID KEY SEGSZ MODE     (MODE in octal)
 *
 * Then it uses the store: every key found absent is created, written,
 * detached and removed again, as a program starting after the reboot
 * would; a failure is "err KEY CALL ERRNO".  Last, "end".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "crash_page.h"

static uint64_t nonce;
static int32_t absent[1024];
static int nabsent;

/* A key the repair left free can be used again. */
static void use_key(int32_t key)
{
	int id = shmget(key, 3 * CRASH_PAGE, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0) {
		printf("err %d create %s\n", key, strerrorname_np(errno));
		return;
	}
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		printf("err %d attach-new %s\n", key, strerrorname_np(errno));
	} else {
		memset(p, 0x5a, 3 * CRASH_PAGE);
		if (shmdt(p) < 0)
			printf("err %d detach-new %s\n", key, strerrorname_np(errno));
	}
	if (shmctl(id, IPC_RMID, NULL) < 0)
		printf("err %d remove-new %s\n", key, strerrorname_np(errno));
}

static void check_key(int32_t key)
{
	int id = shmget(key, 0, 0);
	if (id < 0) {
		if (errno == ENOENT) {
			printf("absent %d\n", key);
			if (nabsent < 1024)
				absent[nabsent++] = key;
		} else
			printf("err %d shmget %s\n", key, strerrorname_np(errno));
		return;
	}
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		printf("err %d IPC_STAT %s\n", key, strerrorname_np(errno));
		return;
	}
	const volatile uint64_t *p = shmat(id, NULL, SHM_RDONLY);
	if (p == (void *)-1) {
		printf("err %d shmat %s\n", key, strerrorname_np(errno));
		return;
	}
	uint32_t npages = (uint32_t)((ds.shm_segsz + CRASH_PAGE - 1) / CRASH_PAGE);
	uint32_t inc = 0;
	/* The creation: the first word written. */
	for (size_t i = 0; i < (size_t)npages * CRASH_WORDS && !inc; i++) {
		uint32_t in, v;
		if (p[i] && crash_decode(nonce, key, (uint32_t)(i / CRASH_WORDS),
		                         (uint32_t)(i % CRASH_WORDS), p[i], &in, &v) == 0)
			inc = in;
	}
	char line[16384];
	int n = snprintf(line, sizeof line, "seg %d %d %zu %lu %u", key, id, (size_t)ds.shm_segsz,
	                 (unsigned long)ds.shm_nattch, inc);
	int bad_page = -1, bad_word = 0;
	uint64_t bad_value = 0;
	for (uint32_t pg = 0; pg < npages; pg++) {
		uint32_t lo = CRASH_MAX + 1, hi = 0;
		int bad = 0;
		for (uint32_t w = 0; w < CRASH_WORDS && !bad; w++) {
			uint64_t x = p[(size_t)pg * CRASH_WORDS + w];
			uint32_t in, v;
			if (crash_decode(nonce, key, pg, w, x, &in, &v) < 0 || (x && in != inc)) {
				bad = 1;
				if (bad_page < 0) {
					bad_page = (int)pg;
					bad_word = (int)w;
					bad_value = x;
				}
				break;
			}
			if (v < lo)
				lo = v;
			if (v > hi)
				hi = v;
		}
		if (n >= (int)sizeof line - 32)
			break;
		if (bad)
			n += snprintf(line + n, sizeof line - (size_t)n, " bad");
		else if (lo == hi)
			n += snprintf(line + n, sizeof line - (size_t)n, " %u", lo);
		else
			n += snprintf(line + n, sizeof line - (size_t)n, " %u-%u", lo, hi);
	}
	printf("%s\n", line);
	if (bad_page >= 0)
		printf("bad %d %d %d %016llx\n", key, bad_page, bad_word,
		       (unsigned long long)bad_value);
	if (shmdt((const void *)p) < 0)
		printf("err %d shmdt %s\n", key, strerrorname_np(errno));
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc % 2) {
		fprintf(stderr, "usage: crash_check NONCE KEY0 NKEYS [KEY0 NKEYS]...\n");
		return 2;
	}
	nonce = strtoull(argv[1], NULL, 0);
	for (int a = 2; a + 1 < argc; a += 2) {
		int32_t key0 = (int32_t)strtol(argv[a], NULL, 0);
		int nkeys = atoi(argv[a + 1]);
		for (int i = 0; i < nkeys; i++)
			check_key(key0 + i);
	}
	struct shm_info info;
	int maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&info);
	if (maxidx < 0)
		printf("err 0 SHM_INFO %s\n", strerrorname_np(errno));
	for (int idx = 0; idx <= maxidx; idx++) {
		struct shmid_ds ds;
		int id = shmctl(idx, SHM_STAT, &ds);
		if (id < 0) {
			if (errno != EINVAL)
				printf("err %d SHM_STAT %s\n", idx, strerrorname_np(errno));
			continue;
		}
		printf("stat %d %d %d %zu %o\n", idx, id, ds.shm_perm.__key, (size_t)ds.shm_segsz,
		       (unsigned)ds.shm_perm.mode);
	}
	for (int i = 0; i < nabsent; i++)
		use_key(absent[i]);
	printf("end\n");
	return 0;
}
