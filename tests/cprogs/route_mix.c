/*
 * route_mix - GOSHM_KEYS: a program whose keyed segments goshm keeps while
 * other keys and IPC_PRIVATE go to the kernel (tests/conformance
 * routing_test.go runs it with GOSHM_KEYS=0x5000-0x5fff).
 *
 *   route_mix make      create key 0x5001 (goshm) and 0x7001 (kernel) with
 *                       text, and 40 IPC_PRIVATE segments (kernel) kept
 *                       attached, then check every call on each kind
 *   route_mix find      after a "restart": which of the two keys are there,
 *                       and their text
 *
 * One line per check: "name = value".  The kernel's view, for comparison,
 * comes from the system call instruction itself, which goshm never sees
 * (kernel_sys.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel_sys.h"

#define GOSHM_KEY 0x5001
#define KERNEL_KEY 0x7001
#define PRIVATES 40

static int kernel_has(int id)
{
	struct shmid_ds d;
	return kernel_sys4(SYS_shmctl, id, IPC_STAT, (long)&d, 0) == 0;
}

static const char *err(int r)
{
	static char b[64];
	if (r >= 0)
		return "ok";
	snprintf(b, sizeof b, "%s", strerrorname_np(errno));
	return b;
}

/* IPC_STAT of id as "ok nattch N" or the errno's name. */
static const char *stat_line(int id)
{
	static char b[64];
	struct shmid_ds d;
	if (shmctl(id, IPC_STAT, &d) < 0)
		return err(-1);
	snprintf(b, sizeof b, "ok nattch %lu", (unsigned long)d.shm_nattch);
	return b;
}

static int make(void)
{
	int g = shmget(GOSHM_KEY, 4096, IPC_CREAT | 0600);
	int k = shmget(KERNEL_KEY, 4096, IPC_CREAT | 0600);
	printf("goshm key shmget = %s\n", err(g));
	printf("kernel key shmget = %s\n", err(k));
	if (g < 0 || k < 0)
		return 1;
	printf("goshm id index >= 16384 = %d\n", (g & 0x7fff) >= 16384);
	printf("goshm id in the kernel = %d\n", kernel_has(g));
	printf("kernel key id in the kernel = %d\n", kernel_has(k));
	char *pg = shmat(g, NULL, 0), *pk = shmat(k, NULL, 0);
	printf("shmat both = %s %s\n", err(pg == (void *)-1 ? -1 : 0), err(pk == (void *)-1 ? -1 : 0));
	strcpy(pg, "kept by goshm");
	strcpy(pk, "the kernel's");

	int ids[PRIVATES], distinct = 1, kernel = 0;
	void *at[PRIVATES];
	for (int i = 0; i < PRIVATES; i++) {
		ids[i] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		at[i] = shmat(ids[i], NULL, 0);
		kernel += ids[i] >= 0 && kernel_has(ids[i]) && at[i] != (void *)-1;
		distinct &= ids[i] != g;
	}
	printf("private segments in the kernel, attached = %d of %d\n", kernel, PRIVATES);
	printf("no private id is the goshm id = %d\n", distinct);

	struct shmid_ds d;
	printf("IPC_STAT goshm = %s\n", stat_line(g));
	printf("IPC_STAT kernel = %s\n", stat_line(k));

	/* ipcs' walk: SHM_INFO's highest index, then SHM_STAT of each. */
	struct shm_info si;
	int max = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si);
	int seen_g = 0, seen_k = 0, seen = 0, tiny = 0;
	for (int i = 0; i <= max; i++) {
		int id = shmctl(i, SHM_STAT, &d);
		if (id < 0)
			continue;
		seen++;
		seen_g += id == g;
		seen_k += id == k;
		tiny += d.shm_segsz == 1;
	}
	printf("SHM_INFO used_ids = %d\n", (int)si.used_ids);
	printf("SHM_STAT walk: segments %d, goshm's %d, kernel key's %d, one-byte %d\n", seen,
	       seen_g, seen_k, tiny);

	printf("shmdt goshm = %s\n", err(shmdt(pg)));
	printf("shmdt kernel = %s\n", err(shmdt(pk)));
	for (int i = 0; i < PRIVATES; i++) {
		shmdt(at[i]);
		shmctl(ids[i], IPC_RMID, NULL);
	}
	printf("IPC_STAT goshm after shmdt = %s\n", stat_line(g));
	return 0;
}

static int find(void)
{
	int g = shmget(GOSHM_KEY, 0, 0), k = shmget(KERNEL_KEY, 0, 0);
	printf("goshm key after restart = %s\n", err(g));
	printf("kernel key after restart = %s\n", err(k));
	if (g >= 0) {
		char *p = shmat(g, NULL, SHM_RDONLY);
		printf("goshm text = %s\n", p == (void *)-1 ? "?" : p);
		printf("rm goshm = %s\n", err(shmctl(g, IPC_RMID, NULL)));
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "make"))
		return make();
	if (argc == 2 && !strcmp(argv[1], "find"))
		return find();
	fprintf(stderr, "usage: route_mix make|find\n");
	return 64;
}
