#define _GNU_SOURCE
/*
 * real_stressng_calls: the System V calls that stress-ng's --shm-sysv
 * stressor makes (stress-shm-sysv.c: exercise_shmget, exercise_shmctl,
 * its main loop, exercise_shmat and its forked child), one after the
 * other, printing each call's result in a form that does not depend on
 * addresses or pids.  The test runs it natively in a fresh IPC namespace
 * and under goshm with a fresh store: the two outputs must be equal.
 *
 * Left out: shm_rss (resident pages vs blocks on disk; see
 * docs/DIFFERENCES.md).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SHM_HUGE_SHIFT
#define SHM_HUGE_SHIFT 26
#endif
#define SHM_HUGE_2MB (21 << SHM_HUGE_SHIFT)
#define SHM_HUGE_1GB (30 << SHM_HUGE_SHIFT)

#define KEY 0x5e11
#define SZ (8ul << 20)

static long page;

static void result(const char *call, long r)
{
	if (r < 0)
		printf("%s = -1 %s\n", call, strerrorname_np(errno));
	else
		printf("%s = %ld\n", call, r);
}

/* Addresses are printed as where they are, not what they are. */
static void *attach(const char *call, int id, const void *addr, int flg,
                    const void *expect)
{
	errno = 0;
	void *p = shmat(id, addr, flg);
	if (p == (void *)-1)
		printf("%s = -1 %s\n", call, strerrorname_np(errno));
	else
		printf("%s = %s\n", call, !expect ? "an address"
		                          : p == expect ? "the address asked for"
		                                        : "ANOTHER address");
	return p;
}

static void detach(const char *call, const void *p)
{
	errno = 0;
	result(call, shmdt(p));
}

static void stat_line(const char *when, int id)
{
	struct shmid_ds d;
	errno = 0;
	if (shmctl(id, IPC_STAT, &d) < 0) {
		printf("IPC_STAT %s = -1 %s\n", when, strerrorname_np(errno));
		return;
	}
	printf("IPC_STAT %s: key=%#x size=%zu nattch=%lu mode=%#o cpid=%s lpid=%s\n",
	       when, (unsigned)d.shm_perm.__key, d.shm_segsz,
	       (unsigned long)d.shm_nattch, (unsigned)d.shm_perm.mode,
	       d.shm_cpid == getpid() ? "me" : "other",
	       d.shm_lpid == getpid() ? "me" : d.shm_lpid == 0 ? "0" : "other");
}

static void exercise_shmget(void)
{
	puts("# exercise_shmget");
	errno = 0;
	int id = shmget(KEY, SZ, ~0);
	result("shmget(key, 8M, ~0)", id);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	errno = 0;
	id = shmget(KEY, SZ, IPC_CREAT);
	result("shmget(key, 8M, IPC_CREAT)", id);
	errno = 0;
	result("shmget(key, 8M, IPC_CREAT|IPC_EXCL)", shmget(KEY, SZ, IPC_CREAT | IPC_EXCL));
	errno = 0;
	result("shmget(key, 9M, IPC_CREAT)", shmget(KEY, SZ + (1 << 20), IPC_CREAT));
	stat_line("of the mode-0 segment", id);
	errno = 0;
	result("shmctl(id, IPC_RMID)", shmctl(id, IPC_RMID, NULL));
	errno = 0;
	result("shmget(key, 0, IPC_CREAT)", shmget(KEY, 0, IPC_CREAT));
	errno = 0;
	result("shmget(key, shmmax+1, IPC_CREAT)",
	       shmget(KEY, 18446744073692774399ul + 1, IPC_CREAT));
	errno = 0;
	result("shmget(IPC_PRIVATE, 8M, IPC_CREAT|SHM_HUGETLB|huge size 2^63)",
	       shmget(IPC_PRIVATE, SZ, IPC_CREAT | SHM_HUGETLB | (63 << SHM_HUGE_SHIFT) | 0600));
	errno = 0;
	id = shmget(IPC_PRIVATE, SZ, IPC_CREAT);
	result("shmget(IPC_PRIVATE, 8M, IPC_CREAT)", id);
	errno = 0;
	result("shmctl(id, IPC_RMID)", shmctl(id, IPC_RMID, NULL));
	errno = 0;
	result("shmget(key, 8M, IPC_EXCL)", shmget(KEY, SZ, IPC_EXCL));
}

static void exercise_shmctl(void)
{
	struct shmid_ds d;
	puts("# exercise_shmctl");
	errno = 0;
	result("shmctl(-1, IPC_STAT)", shmctl(~0, IPC_STAT, &d));
	errno = 0;
	int id = shmget(KEY, SZ, IPC_CREAT);
	result("shmget(key, 8M, IPC_CREAT)", id);
	errno = 0;
	result("shmctl(id, -1, NULL)", shmctl(id, -1, NULL));
	errno = 0;
	result("shmctl(id, 0x7ffffff, NULL)", shmctl(id, 0x7ffffff, NULL));
	errno = 0;
	result("shmctl(id, IPC_SET|IPC_RMID, NULL)", shmctl(id, IPC_SET | IPC_RMID, NULL));
	errno = 0;
	result("shmctl(bad id, IPC_RMID)", shmctl(~0, IPC_RMID, NULL));
	errno = 0;
	result("shmctl(id, IPC_RMID)", shmctl(id, IPC_RMID, NULL));
	stat_line("after IPC_RMID", id);
}

/* stress_shm_sysv_check(): one byte per page, written and read back. */
static int check(uint8_t *buf, size_t sz)
{
	uint8_t val = 0;
	for (uint8_t *p = buf; p < buf + sz; p += page)
		*p = val++;
	val = 0;
	for (uint8_t *p = buf; p < buf + sz; p += page)
		if (*p != val++)
			return -1;
	return 0;
}

static void exercise_shmat(int id, size_t sz, uint64_t *buffer)
{
	const uint8_t *unaligned = (uint8_t *)buffer + 1;
	void *p;
	puts("# exercise_shmat");
	attach("shmat(-1, NULL, 0)", -1, NULL, 0, NULL);
	p = attach("shmat(id, NULL, ~0)", id, NULL, ~0, NULL);
	if (p != (void *)-1)
		shmdt(p);
	p = attach("shmat(id, NULL, SHM_RDONLY)", id, NULL, SHM_RDONLY, NULL);
	if (p != (void *)-1)
		detach("shmdt(rdonly)", p);
	p = attach("shmat(id, NULL, SHM_EXEC)", id, NULL, SHM_EXEC, NULL);
	if (p != (void *)-1)
		detach("shmdt(exec)", p);
	p = attach("shmat(id, NULL, SHM_RND)", id, NULL, SHM_RND, NULL);
	if (p != (void *)-1) {
		detach("shmdt(rnd)", p);
		void *a = attach("shmat(id, addr, SHM_REMAP)", id, p, SHM_REMAP, p);
		if (a != (void *)-1) {
			stat_line("after a SHM_REMAP attach", id);
			void *r = attach("shmat(id, addr, SHM_REMAP|SHM_RDONLY) onto itself",
			                 id, a, SHM_REMAP | SHM_RDONLY, a);
			stat_line("after remapping onto itself", id);
			if (r != (void *)-1)
				detach("shmdt(remap)", r);
			if (a != r)
				detach("shmdt(addr)", a);
			stat_line("after detaching the remap", id);
		}
	}
	p = mmap(NULL, sz, PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (p != MAP_FAILED) {
		munmap(p, sz);
		void *a = attach("shmat(id, freed address, SHM_RND)", id, p, SHM_RND, p);
		if (a != (void *)-1)
			detach("shmdt(freed address)", a);
	}
	attach("shmat(id, NULL, SHM_REMAP)", id, NULL, SHM_REMAP, NULL);
	attach("shmat(id, unaligned, 0)", id, unaligned, 0, NULL);
	detach("shmdt(unaligned)", unaligned);
	p = attach("shmat(id, unaligned heap address, SHM_RND)", id, unaligned, SHM_RND, NULL);
	if (p != (void *)-1)
		detach("shmdt(rounded)", p);
}

/* One turn of the main loop of stress_shm_sysv_child() with 4 segments,
 * the flags it picks at random all tried in turn. */
static void main_loop(uint64_t *buffer)
{
	static const int flags[] = {SHM_HUGE_2MB, SHM_HUGE_1GB, 0, SHM_HUGE_2MB};
	int ids[4];
	void *addrs[4];
	size_t sz = 2ul << 20;
	puts("# main loop");
	for (int i = 0; i < 4; i++) {
		char call[96];
		/* Huge pages first, as the stressor asks: the machine's pools
		 * decide, and on a refusal it goes on with normal pages. */
		snprintf(call, sizeof call, "shmget(key+%d, 2M, IPC_CREAT|IPC_EXCL|SHM_HUGETLB|0600|%#x)",
		         i, (unsigned)flags[i]);
		errno = 0;
		ids[i] = shmget(KEY + 1 + i, sz, IPC_CREAT | IPC_EXCL | SHM_HUGETLB | 0600 | flags[i]);
		result(call, ids[i]);
		if (ids[i] >= 0)
			shmctl(ids[i], IPC_RMID, NULL);
		snprintf(call, sizeof call, "shmget(key+%d, 2M, IPC_CREAT|IPC_EXCL|0600|%#x)",
		         i, (unsigned)flags[i]);
		errno = 0;
		ids[i] = shmget(KEY + 1 + i, sz, IPC_CREAT | IPC_EXCL | 0600 | flags[i]);
		result(call, ids[i]);
		addrs[i] = attach("shmat(id, NULL, 0)", ids[i], NULL, 0, NULL);
		if (addrs[i] == (void *)-1)
			continue;
		msync(addrs[i], sz, i & 1 ? MS_ASYNC : MS_SYNC);
		madvise(addrs[i], sz, MADV_DONTNEED);
		printf("memory check = %d\n", check(addrs[i], sz));
		errno = 0;
		int r = shmctl(ids[i], SHM_LOCK, NULL);
		result("shmctl(id, SHM_LOCK)", r);
		stat_line("while locked", ids[i]);
		if (r == 0) {
			errno = 0;
			result("shmctl(id, SHM_UNLOCK)", shmctl(ids[i], SHM_UNLOCK, NULL));
		}
		stat_line("unlocked", ids[i]);
		struct shminfo si;
		errno = 0;
		r = shmctl(ids[i], IPC_INFO, (struct shmid_ds *)&si);
		result("shmctl(id, IPC_INFO)", r);
		if (r >= 0)
			printf("shminfo: shmmax=%lu shmmin=%lu shmmni=%lu shmseg=%lu shmall=%lu\n",
			       si.shmmax, si.shmmin, si.shmmni, si.shmseg, si.shmall);
		struct shm_info info;
		errno = 0;
		r = shmctl(ids[i], SHM_INFO, (struct shmid_ds *)&info);
		result("shmctl(id, SHM_INFO)", r);
		if (r >= 0)
			printf("shm_info: used_ids=%d shm_tot=%lu shm_swp=%lu\n",
			       info.used_ids, info.shm_tot, info.shm_swp);
		exercise_shmat(ids[i], sz, buffer);
		stat_line("after exercise_shmat", ids[i]);
	}

	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 4; i++) {
			stat_line("in the forked child", ids[i]);
			detach("child shmdt", addrs[i]);
		}
		for (int i = 0; i < 4; i++)
			detach("child shmdt again", addrs[i]);
		fflush(stdout);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	for (int i = 0; i < 4; i++) {
		stat_line("after the child", ids[i]);
		detach("shmdt", addrs[i]);
		errno = 0;
		result("shmctl(id, IPC_RMID)", shmctl(ids[i], IPC_RMID, NULL));
		stat_line("after IPC_RMID", ids[i]);
	}
}

int main(void)
{
	page = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t *buffer = calloc(page / sizeof(uint64_t) + 1, sizeof(uint64_t));
	if (!buffer)
		return 1;
	exercise_shmget();
	exercise_shmctl();
	main_loop(buffer);
	free(buffer);
	return 0;
}
