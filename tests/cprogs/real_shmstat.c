#define _GNU_SOURCE
/*
 * real_shmstat: what IPC_STAT says about System V segments, one line each,
 * from a process that has attached nothing itself.
 *
 *   real_shmstat key KEY     the segment of KEY (decimal or 0x...)
 *   real_shmstat id ID       the segment ID
 *   real_shmstat all         every segment (SHM_INFO, then SHM_STAT by index)
 *
 * Output: "id=I key=K size=S nattch=N mode=M cpid=C lpid=L" per segment
 * (mode in octal, with SHM_DEST 01000 and SHM_LOCKED 02000 bits), and for
 * `all` a last line "used=U".  Exit 0, or 2 with "error: CALL: ERRNO" when
 * a named segment cannot be found or read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

static void print(int id, const struct shmid_ds *d)
{
	printf("id=%d key=%#x size=%zu nattch=%lu mode=%#o cpid=%d lpid=%d\n", id,
	       (unsigned)d->shm_perm.__key, d->shm_segsz,
	       (unsigned long)d->shm_nattch, (unsigned)d->shm_perm.mode,
	       (int)d->shm_cpid, (int)d->shm_lpid);
}

static int fail(const char *call)
{
	printf("error: %s: %s\n", call, strerrorname_np(errno));
	return 2;
}

static int stat_id(int id)
{
	struct shmid_ds d;
	if (shmctl(id, IPC_STAT, &d) < 0)
		return fail("shmctl IPC_STAT");
	print(id, &d);
	return 0;
}

static int stat_all(void)
{
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
		print(id, &d);
	}
	printf("used=%d\n", info.used_ids);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "all"))
		return stat_all();
	if (argc == 3 && !strcmp(argv[1], "id"))
		return stat_id(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "key")) {
		key_t key = (key_t)strtoul(argv[2], NULL, 0);
		int id = shmget(key, 0, 0);
		if (id < 0)
			return fail("shmget");
		return stat_id(id);
	}
	fprintf(stderr, "usage: real_shmstat key KEY | id ID | all\n");
	return 64;
}
