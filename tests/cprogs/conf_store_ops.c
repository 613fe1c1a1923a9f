/*
 * conf_store_ops - run System V shm operations named on the command line
 * and print one line per operation, for the tests of damaged, unusable and
 * full stores and of leaks (tests/conformance).
 *
 *   create KEY SIZE   shmget(KEY, SIZE, IPC_CREAT|0666)
 *   private SIZE      shmget(IPC_PRIVATE, SIZE, IPC_CREAT|0600)
 *   find KEY          shmget(KEY, 0, 0)
 *   attach ID         shmat(ID, NULL, 0); the address is kept
 *   attach-exec ID    shmat(ID, NULL, SHM_EXEC); the address is kept
 *   attach-ro ID      shmat(ID, NULL, SHM_RDONLY); the address is kept
 *   write             write the first and last byte of the last attach
 *   read              print the text at the start of the last attach
 *   detach            shmdt() of the last attach
 *   stat ID           IPC_STAT: the result and shm_nattch
 *   set ID            IPC_SET to mode 0666
 *   lock ID           SHM_LOCK then SHM_UNLOCK
 *   rm ID             IPC_RMID
 *   info              IPC_INFO and SHM_INFO
 *   shmstat INDEX     SHM_STAT
 *   unlink-tokens     delete the token files ($GOSHM_DIR/segments/seg-N.nsK.T)
 *   fill SLACK        shmget(IPC_PRIVATE) of all the free space of the store's
 *                     file system but SLACK pages
 *   cycles N          N x shmget, shmat, write, shmdt, IPC_RMID; failures
 *   fds / maps        entries of /proc/self/fd, lines of /proc/self/maps
 *   store-fds         descriptors open on the store or on /proc/self/maps
 *   store-maps        mappings of the store's files or of System V segments
 *   settle MS         sleep MS milliseconds
 *   as-limit KB       setrlimit(RLIMIT_AS) to the address space in use now
 *                     plus KB kilobytes: the program goes on, but a larger
 *                     mapping (the 2 MiB registry) fails
 *   ipcs              number of segments `ipcs -m` lists in this namespace
 *   exec OP...        run the rest in a fresh process (fork + exec)
 *   semcreate KEY N   semget(KEY, N, IPC_CREAT|0666); the id is kept as "$"
 *   semup ID          semop(ID, {0, +1, 0})
 *   semstat ID        semctl(ID, 0, IPC_STAT): the result and sem_nsems
 *   semval ID NUM     semctl(ID, NUM, GETVAL)
 *   semrm ID          semctl(ID, 0, IPC_RMID)
 *
 * ID may be "$" for the id of the last successful shmget.  Lines are
 * "<op> <arg> = <result>", with errno names for failures.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/statvfs.h>
#include <libgen.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/libc.h"

static int last_id = -1;
static char *last_addr = (char *)-1;
static size_t last_size;

static void say(const char *op, const char *arg, long r, int e)
{
	if (r < 0)
		printf("%s%s%s = -1 %s\n", op, arg ? " " : "", arg ? arg : "", conf_errname(e));
	else
		printf("%s%s%s = %ld\n", op, arg ? " " : "", arg ? arg : "", r);
	fflush(stdout);
}

static int id_arg(const char *s)
{
	return strcmp(s, "$") ? atoi(s) : last_id;
}

static int count_dir(const char *path)
{
	int n = 0;
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1; /* opendir's own descriptor, for /proc/self/fd */
}

static int count_lines(const char *path)
{
	int n = 0, c;
	FILE *f = fopen(path, "re");
	while (f && (c = getc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

static const char *store_dir(void)
{
	const char *store = getenv("GOSHM_DIR");
	return store && store[0] ? store : "/var/lib/goshm";
}

/* Descriptors the engine could have left open. */
static int store_fds(void)
{
	char path[512], target[4096];
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t k = readlink(path, target, sizeof target - 1);
		if (k <= 0)
			continue;
		target[k] = 0;
		n += strstr(target, store_dir()) != NULL || strstr(target, "/maps") != NULL;
	}
	if (d)
		closedir(d);
	return n;
}

/* Mappings the engine could have left: its files and SysV segments. */
static int store_maps(void)
{
	char line[8192];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "re");
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, store_dir()) != NULL || strstr(line, "/SYSV") != NULL;
	if (f)
		fclose(f);
	return n;
}

static int unlink_tokens(void)
{
	char dir[4096], path[8192];
	const char *store = getenv("GOSHM_DIR");
	int n = 0;
	snprintf(dir, sizeof dir, "%s/segments", store ? store : "/var/lib/goshm");
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strstr(e->d_name, ".ns"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		n += unlink(path) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

/* Segments `ipcs -m` lists: lines that start with a key ("0x"). */
static int ipcs_count(void)
{
	FILE *p = popen("ipcs -m", "re");
	char line[512];
	int n = 0;
	while (p && fgets(line, sizeof line, p))
		n += !strncmp(line, "0x", 2);
	if (p)
		pclose(p);
	return n;
}

/* Free bytes of the file system that holds (or will hold) the store. */
static unsigned long long free_bytes(void)
{
	char dir[4096];
	struct statvfs v;
	const char *store = getenv("GOSHM_DIR");
	snprintf(dir, sizeof dir, "%s", store ? store : "/var/lib/goshm");
	while (statvfs(dir, &v) < 0 && strcmp(dir, "/"))
		snprintf(dir, sizeof dir, "%s", dirname(dir));
	return (unsigned long long)v.f_bavail * v.f_frsize;
}

/* RLIMIT_AS at what is mapped now (VmSize) plus kb kilobytes. */
static int as_limit(long kb)
{
	char line[256];
	long vm = -1;
	FILE *f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmSize: %ld kB", &vm) == 1)
			break;
	if (f)
		fclose(f);
	if (vm < 0)
		return -1;
	struct rlimit rl = {(rlim_t)(vm + kb) * 1024, (rlim_t)(vm + kb) * 1024};
	return setrlimit(RLIMIT_AS, &rl);
}

static int cycles(int n)
{
	int failed = 0;
	for (int i = 0; i < n; i++) {
		int id = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
		char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
		if (p != (char *)-1) {
			p[0] = p[8191] = 1;
			failed += shmdt(p) < 0;
		}
		failed += id < 0 || p == (char *)-1 || shmctl(id, IPC_RMID, NULL) < 0;
	}
	return failed;
}

static int run_exec(char **argv)
{
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int st = 0;
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	struct shmid_ds d;
	for (int i = 1; i < argc; i++) {
		const char *op = argv[i], *a = i + 1 < argc ? argv[i + 1] : "0";
		long r;
		errno = 0;
		if (!strcmp(op, "create")) {
			const char *size = i + 2 < argc ? argv[i + 2] : "0";
			r = shmget((key_t)strtol(a, NULL, 0), strtoull(size, NULL, 0), IPC_CREAT | 0666);
			if (r >= 0)
				last_id = (int)r, last_size = strtoull(size, NULL, 0);
			say(op, a, r, errno);
			i += 2;
		} else if (!strcmp(op, "private")) {
			r = shmget(IPC_PRIVATE, strtoull(a, NULL, 0), IPC_CREAT | 0600);
			if (r >= 0)
				last_id = (int)r, last_size = strtoull(a, NULL, 0);
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "find")) {
			r = shmget((key_t)strtol(a, NULL, 0), 0, 0);
			if (r >= 0)
				last_id = (int)r;
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "attach") || !strcmp(op, "attach-exec") ||
		           !strcmp(op, "attach-ro")) {
			int flg = !strcmp(op, "attach-exec") ? SHM_EXEC :
			          !strcmp(op, "attach-ro") ? SHM_RDONLY : 0;
			last_addr = shmat(id_arg(a), NULL, flg);
			say(op, a, last_addr == (char *)-1 ? -1 : 0, errno);
			i++;
		} else if (!strcmp(op, "write")) {
			if (last_addr == (char *)-1) {
				say(op, NULL, -1, EFAULT);
				continue;
			}
			last_addr[0] = 1;
			if (last_size)
				last_addr[last_size - 1] = 1;
			say(op, NULL, 0, 0);
		} else if (!strcmp(op, "read")) {
			if (last_addr == (char *)-1) {
				say(op, NULL, -1, EFAULT);
				continue;
			}
			printf("read = %.64s\n", last_addr);
		} else if (!strcmp(op, "detach")) {
			r = shmdt(last_addr);
			say(op, NULL, r, errno);
		} else if (!strcmp(op, "stat")) {
			r = shmctl(id_arg(a), IPC_STAT, &d);
			if (r < 0)
				say(op, a, r, errno);
			else
				printf("stat %s = 0 nattch %lu\n", a, (unsigned long)d.shm_nattch);
			i++;
		} else if (!strcmp(op, "set")) {
			memset(&d, 0, sizeof d);
			d.shm_perm.uid = geteuid();
			d.shm_perm.gid = getegid();
			d.shm_perm.mode = 0666;
			r = shmctl(id_arg(a), IPC_SET, &d);
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "lock")) {
			r = shmctl(id_arg(a), SHM_LOCK, NULL);
			if (r == 0)
				r = shmctl(id_arg(a), SHM_UNLOCK, NULL);
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "semcreate") && i + 2 < argc) {
			r = semget((key_t)strtol(a, NULL, 0), atoi(argv[i + 2]), IPC_CREAT | 0666);
			if (r >= 0)
				last_id = r;
			say(op, a, r, errno);
			i += 2;
		} else if (!strcmp(op, "semup")) {
			struct sembuf up = {0, 1, 0};
			r = semop(id_arg(a), &up, 1);
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "semstat")) {
			struct semid_ds sd;
			r = semctl(id_arg(a), 0, IPC_STAT, &sd);
			if (r < 0)
				say(op, a, r, errno);
			else
				printf("semstat %s = 0 nsems %lu\n", a, (unsigned long)sd.sem_nsems);
			i++;
		} else if (!strcmp(op, "semval") && i + 2 < argc) {
			r = semctl(id_arg(a), atoi(argv[i + 2]), GETVAL);
			say(op, a, r, errno);
			i += 2;
		} else if (!strcmp(op, "semrm")) {
			r = semctl(id_arg(a), 0, IPC_RMID);
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "rm")) {
			r = shmctl(id_arg(a), IPC_RMID, NULL);
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "info")) {
			struct shm_info si;
			r = shmctl(0, IPC_INFO, &d);
			say("IPC_INFO", NULL, r, errno);
			r = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si);
			say("SHM_INFO", NULL, r, errno);
		} else if (!strcmp(op, "shmstat")) {
			r = shmctl(atoi(a), SHM_STAT, &d);
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "unlink-tokens")) {
			r = unlink_tokens();
			say(op, NULL, r, 0);
		} else if (!strcmp(op, "fill")) {
			unsigned long long want = free_bytes() - strtoull(a, NULL, 0) * 4096;
			r = shmget(IPC_PRIVATE, (size_t)want, IPC_CREAT | 0600);
			if (r >= 0)
				last_id = (int)r, last_size = (size_t)want;
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "cycles")) {
			printf("cycles %s = %d failed\n", a, cycles(atoi(a)));
			i++;
		} else if (!strcmp(op, "fds")) {
			printf("fds = %d\n", count_dir("/proc/self/fd"));
		} else if (!strcmp(op, "maps")) {
			printf("maps = %d\n", count_lines("/proc/self/maps"));
		} else if (!strcmp(op, "store-fds")) {
			printf("store-fds = %d\n", store_fds());
		} else if (!strcmp(op, "store-maps")) {
			printf("store-maps = %d\n", store_maps());
		} else if (!strcmp(op, "settle")) {
			usleep((useconds_t)atoi(a) * 1000);
			i++;
		} else if (!strcmp(op, "as-limit")) {
			r = as_limit(atol(a));
			say(op, a, r, errno);
			i++;
		} else if (!strcmp(op, "ipcs")) {
			printf("ipcs = %d\n", ipcs_count());
		} else if (!strcmp(op, "exec")) {
			argv[i] = argv[0];
			printf("exec = %d\n", run_exec(argv + i));
			break;
		} else {
			fprintf(stderr, "conf_store_ops: unknown operation %s\n", op);
			return 64;
		}
		fflush(stdout);
	}
	return 0;
}
