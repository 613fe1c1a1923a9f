#define _GNU_SOURCE
/*
 * soak_check: what the soak test's segments hold once every worker is
 * gone (tests/realprog/soak_test.go, soak_layout.h).
 *
 *   soak_check list         every segment: "S ID KEY NATTCH SIZE MODE" (IPC_STAT
 *                           before attaching), "n ID NEXT" (slots taken),
 *                           then "w ID SLOT PID SEQ" for
 *                           each complete record, "bad ID SLOT" for a
 *                           damaged one; last "used=N" (SHM_INFO)
 *   soak_check remove-all   IPC_RMID every segment, then "used=N"
 *
 * Exit 0, or 2 with "error: CALL: ERRNO".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "soak_layout.h"

static int fail(const char *call)
{
	printf("error: %s: %s\n", call, strerrorname_np(errno));
	return 2;
}

static int dump(int id)
{
	struct soak_hdr *h = shmat(id, NULL, SHM_RDONLY);
	if (h == (void *)-1)
		return fail("shmat");
	printf("n %d %u\n", id, h->next);
	uint32_t n = h->next > SOAK_CAP ? (uint32_t)SOAK_CAP : h->next;
	for (uint32_t s = 0; s < n; s++) {
		struct soak_rec *r = &soak_recs(h)[s];
		if (r->done != 1)
			continue;
		if (r->check == soak_check(r->pid, r->seq))
			printf("w %d %u %d %u\n", id, s, (int)r->pid, r->seq);
		else
			printf("bad %d %u\n", id, s);
	}
	if (shmdt(h) < 0)
		return fail("shmdt");
	return 0;
}

static int used(void)
{
	struct shm_info info;
	if (shmctl(0, SHM_INFO, (struct shmid_ds *)&info) < 0)
		return fail("shmctl SHM_INFO");
	printf("used=%d\n", info.used_ids);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "remove-all"))) {
		fprintf(stderr, "usage: soak_check list|remove-all\n");
		return 64;
	}
	int list = !strcmp(argv[1], "list");
	struct shm_info info;
	int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
	if (max < 0)
		return fail("shmctl SHM_INFO");
	for (int i = 0; i <= max; i++) {
		struct shmid_ds d;
		int id = shmctl(i, SHM_STAT, &d);
		if (id < 0) {
			if (errno == EINVAL)
				continue; /* a free index */
			return fail("shmctl SHM_STAT");
		}
		if (!list) {
			if (shmctl(id, IPC_RMID, NULL) < 0)
				return fail("shmctl IPC_RMID");
			continue;
		}
		printf("S %d %#x %lu %zu %#o\n", id, (unsigned)d.shm_perm.__key,
		       (unsigned long)d.shm_nattch, d.shm_segsz, (unsigned)d.shm_perm.mode);
		int r = dump(id);
		if (r)
			return r;
	}
	return used();
}
