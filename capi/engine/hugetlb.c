/*
 * hugetlb.c - SHM_HUGETLB answered as the kernel answers it.
 *
 * goshm backs every segment with its data file's normal pages, but whether
 * shmget(SHM_HUGETLB) succeeds is the kernel's decision, and programs take
 * different paths on it: PostgreSQL's huge_pages=try falls back to normal
 * pages, stress-ng halves its size and tries again.  So a creation with
 * SHM_HUGETLB fails where the kernel's would (ipc/shm.c newseg(),
 * fs/hugetlbfs/inode.c hugetlb_file_setup(), mm/hugetlb.c
 * hugetlb_reserve_pages()), from what the machine's huge page pools say
 * at the moment of the call:
 *
 *   EINVAL  the flag's size (bits 26-31, 0: the default) is not one the
 *           kernel has huge pages of (/sys/kernel/mm/hugepages);
 *   EPERM   the caller has neither CAP_IPC_LOCK in the initial user
 *           namespace nor the group vm.hugetlb_shm_group;
 *   ENOMEM  without SHM_NORESERVE, the pool cannot reserve the segment's
 *           huge pages: free ones not yet reserved, plus the surplus
 *           vm.nr_overcommit_hugepages still allows.
 *
 * A segment the kernel would accept is created with normal pages
 * (docs/DIFFERENCES.md), its huge page size recorded in its slot's flags:
 * an attach at an address that is not a multiple of it fails, as
 * hugetlbfs's mmap does.  Without sysfs goshm cannot tell, and accepts.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <unistd.h>

#ifndef SHM_HUGE_SHIFT
#define SHM_HUGE_SHIFT 26
#endif
#ifndef SHM_HUGE_MASK
#define SHM_HUGE_MASK 0x3f
#endif
#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif

#define GS_HUGEPAGES_DIR "/sys/kernel/mm/hugepages"

/* The default huge page size in KiB, from /proc/meminfo's Hugepagesize,
 * read in small overlapping windows: a thread with a small stack may ask
 * (conf_threads smallstack), and the line is past the first kilobyte. */
static unsigned long long default_size_kb(void)
{
	static const char key[] = "\nHugepagesize:";
	char buf[512];
	unsigned long long kb = 0;
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (off_t at = 0;; at += (off_t)(sizeof buf - 64)) {
		ssize_t n = pread(fd, buf, sizeof buf - 1, at);
		if (n <= 0)
			break;
		buf[n] = 0;
		const char *p = strstr(buf, key);
		/* The number must be whole in this window: it ends in " kB". */
		if (p && strstr(p, " kB")) {
			kb = strtoull(p + sizeof key - 1, NULL, 10);
			break;
		}
		if ((size_t)n < sizeof buf - 1)
			break;
	}
	close(fd);
	return kb;
}

/* A line of /proc/self/uid_map or gid_map: "inside outside count". */
static int map_line(const char *line, unsigned long long v[3])
{
	char *end;
	for (int i = 0; i < 3; i++) {
		v[i] = strtoull(line, &end, 10);
		if (end == line)
			return 0;
		line = end;
	}
	return 1;
}

/* Is this process in the initial user namespace?  Its uid map is then
 * the identity over every uid. */
static int in_initial_userns(void)
{
	char buf[256];
	unsigned long long m[3];
	if (gs_read_text("/proc/self/uid_map", buf, sizeof buf) <= 0)
		return 1; /* no /proc: judge by the capability alone */
	const char *nl = strchr(buf, '\n');
	if (nl && nl[1])
		return 0; /* more than one range */
	return map_line(buf, m) && m[0] == 0 && m[1] == 0 && m[2] == 4294967295ull;
}

/* vm.hugetlb_shm_group names a group of the initial user namespace; this
 * process sees it through its gid map.  -1: no group of ours is it. */
static long long shm_group_here(void)
{
	long long g = gs_read_number("/proc/sys/vm/hugetlb_shm_group");
	char buf[1024];
	if (g < 0)
		g = 0; /* unreadable: the kernel's default, the root group */
	if (gs_read_text("/proc/self/gid_map", buf, sizeof buf) <= 0)
		return g;
	for (char *line = buf; *line; ) {
		unsigned long long m[3]; /* inside, outside, count */
		if (map_line(line, m) && (unsigned long long)g >= m[1] &&
		    (unsigned long long)g - m[1] < m[2])
			return (long long)(m[0] + ((unsigned long long)g - m[1]));
		char *nl = strchr(line, '\n');
		if (!nl)
			break;
		line = nl + 1;
	}
	return -1;
}

/* can_do_hugetlb_shm(): capable(CAP_IPC_LOCK) -- in the initial user
 * namespace -- or in_group_p(vm.hugetlb_shm_group). */
static int may_use_hugetlb(void)
{
	if (gs_has_cap(CAP_IPC_LOCK) && in_initial_userns())
		return 1;
	long long g = shm_group_here();
	return g >= 0 && gs_in_group((gid_t)g);
}

/* hugetlb_acct_memory() for a reservation of need pages: the free pages
 * others have not reserved, plus the surplus pages the overcommit limit
 * still allows.  (The kernel may still fail to allocate a surplus page,
 * or a cpuset may keep some nodes' pages out of reach.) */
static int pool_can_reserve(const char *dir, unsigned long long need)
{
	char path[160];
	static const char *const names[] = {"free_hugepages", "resv_hugepages",
	                                    "surplus_hugepages", "nr_overcommit_hugepages"};
	long long v[4];
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		v[i] = gs_read_number(path);
		if (v[i] < 0)
			return 1; /* cannot tell: accept */
	}
	long long unreserved = v[0] - v[1], more = v[3] - v[2];
	long long can = (unreserved > 0 ? unreserved : 0) + (more > 0 ? more : 0);
	return need <= (unsigned long long)can;
}

int gs_hugetlb_check(int shmflg, uint64_t size, unsigned *page_log)
{
	char dir[96];
	*page_log = 0;
	if (!(shmflg & SHM_HUGETLB))
		return 0;
	if (access(GS_HUGEPAGES_DIR, F_OK) < 0)
		/* sysfs but no pools: a kernel without huge pages, whose
		 * hstate_sizelog() finds none.  No sysfs: cannot tell. */
		return access("/sys/kernel/mm", F_OK) == 0 ? -EINVAL : 0;

	unsigned log = ((unsigned)shmflg >> SHM_HUGE_SHIFT) & SHM_HUGE_MASK;
	unsigned long long kb;
	if (log == 0)
		kb = default_size_kb(); /* 0: no /proc/meminfo, size unknown */
	else if (log < 10)
		return -EINVAL; /* below 1 KiB: smaller than any page */
	else
		kb = (1ull << log) >> 10;
	if (kb) {
		snprintf(dir, sizeof dir, GS_HUGEPAGES_DIR "/hugepages-%llukB", kb);
		if (access(dir, F_OK) < 0)
			return -EINVAL;
	}

	if (!may_use_hugetlb())
		return -EPERM;
	if (kb && !(kb & (kb - 1)))
		*page_log = (unsigned)__builtin_ctzll(kb) + 10; /* kb is 2^(log - 10) */
	if ((shmflg & SHM_NORESERVE) || kb == 0)
		return 0; /* no reservation (the kernel's pages would come at
		           * faults), or a pool goshm cannot find: accept */
	uint64_t bytes = (uint64_t)kb << 10;
	unsigned long long need = size / bytes + (size % bytes != 0);
	return pool_can_reserve(dir, need) ? 0 : -ENOMEM;
}
