/*
 * posix_probe - the differential test of shm_open and shm_unlink.
 *
 *   posix_probe DIR
 *   posix_probe put NAME TEXT    create NAME (0600), 4096 bytes holding TEXT
 *   posix_probe get NAME         print what NAME holds, or the errno
 *   posix_probe rm NAME          shm_unlink NAME
 *
 * DIR is where the objects land: /dev/shm natively, <store>/posix under
 * goshm with GOSHM_POSIX=1 (the probe plants a symlink and a directory
 * there).  Prints one line per step, "<call> = <result>", with nothing in
 * it that depends on the file system (no st_dev, st_ino, st_blocks):
 * tests/conformance runs it natively and under goshm, each with a fresh
 * tmpfs on /dev/shm, and the two outputs must be the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
#define E(x) case x: return #x
	E(EINVAL); E(ENOENT); E(EEXIST); E(EACCES); E(EPERM); E(ENAMETOOLONG);
	E(ELOOP); E(ENOTDIR); E(EISDIR); E(EBADF); E(ENOTEMPTY); E(EFAULT);
	E(EROFS); E(ENOSPC); E(ETXTBSY); E(EOVERFLOW); E(ENXIO); E(EIO);
#undef E
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno%d", e);
	return buf;
}

static int step;

static void out(const char *call, long r, int e)
{
	if (r < 0)
		printf("%d %s = %ld %s\n", step++, call, r, errname(e));
	else
		printf("%d %s = %s\n", step++, call, r >= 0 ? "ok" : "");
	fflush(stdout);
}

/* A descriptor's number is the process's business: print ok or the error. */
#define CALL(expr) ({ errno = 0; long r_ = (long)(expr); out(#expr, r_, errno); r_; })

static void show_stat(const char *what, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		printf("%d fstat(%s) = -1 %s\n", step++, what, errname(errno));
		return;
	}
	printf("%d fstat(%s) = mode=%#o uid=%u gid=%u size=%lld nlink=%lu\n", step++, what,
	       st.st_mode, st.st_uid, st.st_gid, (long long)st.st_size,
	       (unsigned long)st.st_nlink);
}

static void show_flags(const char *what, int fd)
{
	int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
	printf("%d flags(%s) = fl=%#x fd=%#x\n", step++, what, fl, fdf);
}

static char *name_of_len(size_t n)
{
	char *s = malloc(n + 2);
	s[0] = '/';
	memset(s + 1, 'n', n);
	s[n + 1] = 0;
	return s;
}

static void names(void)
{
	int fd;
	CALL(shm_open("", O_RDWR | O_CREAT, 0600));
	CALL(shm_open("/", O_RDWR | O_CREAT, 0600));
	CALL(shm_open("//", O_RDWR | O_CREAT, 0600));
	CALL(shm_open("/a/b", O_RDWR | O_CREAT, 0600));
	CALL(shm_open("a/", O_RDWR | O_CREAT, 0600));
	CALL(shm_open(".", O_RDWR, 0));
	CALL(shm_open("..", O_RDWR | O_CREAT, 0600));
	CALL(shm_unlink(""));
	CALL(shm_unlink("/"));
	CALL(shm_unlink("/a/b"));
	CALL(shm_unlink("/."));
	CALL(shm_unlink(".."));
	size_t lens[] = {254, 255, 256, 259, 260, 261, 300, 5000};
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		char *n = name_of_len(lens[i]);
		printf("%d len %zu\n", step++, lens[i]);
		fd = CALL(shm_open(n, O_RDWR | O_CREAT | O_EXCL, 0600));
		if (fd >= 0)
			close(fd);
		CALL(shm_unlink(n));
		CALL(shm_unlink(n + 1));
		free(n);
	}
	/* Leading slashes are dropped: "p", "/p" and "///p" are one object. */
	fd = CALL(shm_open("///p", O_RDWR | O_CREAT | O_EXCL, 0600));
	CALL(shm_open("p", O_RDWR | O_CREAT | O_EXCL, 0600));
	CALL(shm_open("/p", O_RDWR | O_CREAT | O_EXCL, 0600));
	CALL(close(fd));
	CALL(shm_unlink("p"));
	CALL(shm_unlink("/p"));
}

static void flags(void)
{
	int fd, fd2;
	CALL(shm_open("/f", O_RDWR, 0));
	CALL(shm_open("/f", O_RDONLY, 0));
	fd = CALL(shm_open("/f", O_RDWR | O_CREAT | O_EXCL, 0640));
	show_stat("new", fd);
	show_flags("new", fd);
	CALL(shm_open("/f", O_RDWR | O_CREAT | O_EXCL, 0600));
	CALL(ftruncate(fd, 10000));
	show_stat("truncated", fd);
	char *p = mmap(NULL, 10000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("%d mmap = %s\n", step++, p == MAP_FAILED ? errname(errno) : "ok");
	strcpy(p, "hello");
	CALL(munmap(p, 10000));
	/* O_CREAT of an existing object keeps its mode and contents. */
	fd2 = CALL(shm_open("/f", O_RDWR | O_CREAT, 0777));
	show_stat("reopened", fd2);
	char buf[8] = {0};
	CALL(pread(fd2, buf, 5, 0));
	printf("%d data = %s\n", step++, buf);
	CALL(close(fd2));
	/* Read-only: no writing, no shared writable mapping. */
	fd2 = CALL(shm_open("/f", O_RDONLY, 0));
	show_flags("rdonly", fd2);
	CALL(ftruncate(fd2, 4096));
	CALL(write(fd2, "x", 1));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	printf("%d mmap rw of rdonly = %s\n", step++, p == MAP_FAILED ? errname(errno) : "ok");
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd2, 0);
	printf("%d mmap ro = %s %.5s\n", step++, p == MAP_FAILED ? errname(errno) : "ok",
	       p == MAP_FAILED ? "" : p);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	CALL(close(fd2));
	fd2 = CALL(shm_open("/f", O_WRONLY | O_APPEND | O_NONBLOCK, 0));
	show_flags("wronly|append|nonblock", fd2);
	CALL(close(fd2));
	/* O_TRUNC empties it, even read-only (open(2)). */
	fd2 = CALL(shm_open("/f", O_RDONLY | O_TRUNC, 0));
	show_stat("O_RDONLY|O_TRUNC", fd2);
	CALL(close(fd2));
	CALL(ftruncate(fd, 100));
	fd2 = CALL(shm_open("/f", O_RDWR | O_TRUNC, 0));
	show_stat("O_RDWR|O_TRUNC", fd2);
	CALL(close(fd2));
	CALL(shm_open("/f", O_RDWR | O_DIRECTORY, 0));
	/* O_EXCL without O_CREAT: ignored. */
	fd2 = CALL(shm_open("/f", O_EXCL | O_RDWR, 0));
	if (fd2 >= 0)
		close(fd2);
	/* Bits open(2) does not know are dropped, not refused. */
	fd2 = CALL(shm_open("/f", O_RDWR | 0x40000000, 0));
	if (fd2 >= 0)
		close(fd2);
	fd2 = CALL(shm_open("/f", O_PATH | O_RDWR | O_TRUNC, 0));
	show_flags("O_PATH", fd2);
	if (fd2 >= 0)
		close(fd2);
	CALL(fchmod(fd, 0604));
	show_stat("fchmod", fd);
	CALL(fchown(fd, 1000, 1000));
	show_stat("fchown", fd);
	CALL(fchown(fd, 0, 0));
	CALL(shm_unlink("/f"));
	show_stat("unlinked", fd);
	CALL(shm_unlink("/f"));
	CALL(shm_open("/f", O_RDWR, 0));
	CALL(close(fd));
	CALL(close(fd));
}

static void modes(void)
{
	mode_t masks[] = {022, 0, 077, 0777};
	mode_t ms[] = {0666, 0777, 01777 | 06000, 0100644, 0};
	for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
		umask(masks[i]);
		for (size_t j = 0; j < sizeof ms / sizeof ms[0]; j++) {
			printf("%d umask %#o mode %#o\n", step++, masks[i], ms[j]);
			int fd = CALL(shm_open("/m", O_RDWR | O_CREAT | O_EXCL, ms[j]));
			if (fd >= 0) {
				show_stat("m", fd);
				close(fd);
			}
			CALL(shm_unlink("/m"));
		}
	}
	umask(022);
}

static void fork_and_share(void)
{
	int fd = CALL(shm_open("/k", O_RDWR | O_CREAT | O_TRUNC, 0600));
	CALL(ftruncate(fd, 4096));
	int *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	p[0] = 1;
	pid_t pid = fork();
	if (pid == 0) {
		p[0] = 42;
		/* The inherited descriptor, and a new one by name. */
		int v = 7;
		if (pwrite(fd, &v, sizeof v, 4) != sizeof v)
			_exit(2);
		int fd2 = shm_open("/k", O_RDWR, 0);
		if (fd2 < 0 || pwrite(fd2, &v, sizeof v, 8) != sizeof v)
			_exit(3);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("%d child = %d, p = %d %d %d\n", step++, WEXITSTATUS(st), p[0], p[1], p[2]);
	munmap(p, 4096);
	CALL(close(fd));
	CALL(shm_unlink("/k"));
}

/* Another user, in a child: the objects' modes and the sticky directory. */
static void other_user(void)
{
	int fd600 = CALL(shm_open("/u600", O_RDWR | O_CREAT, 0600));
	int fd644 = CALL(shm_open("/u644", O_RDWR | O_CREAT, 0644));
	pid_t pid = fork();
	if (pid == 0) {
		if (setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0)
			_exit(9);
		CALL(shm_open("/u600", O_RDONLY, 0));
		CALL(shm_open("/u600", O_RDWR | O_CREAT, 0666));
		int fd = CALL(shm_open("/u644", O_RDONLY, 0));
		if (fd >= 0)
			close(fd);
		CALL(shm_open("/u644", O_RDWR, 0));
		CALL(shm_open("/u644", O_RDONLY | O_TRUNC, 0));
		CALL(shm_unlink("/u644"));
		fd = CALL(shm_open("/mine", O_RDWR | O_CREAT | O_EXCL, 0600));
		show_stat("mine", fd);
		CALL(fchown(fd, 0, 0));
		CALL(fchmod(fd, 0666));
		CALL(close(fd));
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("%d child = %d\n", step++, WEXITSTATUS(st));
	/* root may open the user's 0600 object, and remove it. */
	int fd = CALL(shm_open("/mine", O_RDWR, 0));
	show_stat("mine as root", fd);
	CALL(close(fd));
	CALL(shm_unlink("/mine"));
	CALL(close(fd600));
	CALL(close(fd644));
	CALL(shm_unlink("/u600"));
	CALL(shm_unlink("/u644"));
}

/* What the directory holds besides objects: a symlink, a directory. */
static void planted(const char *dir)
{
	char path[4096], path2[4096];
	snprintf(path, sizeof path, "%s/link", dir);
	snprintf(path2, sizeof path2, "%s/target", dir);
	int fd = CALL(shm_open("/target", O_RDWR | O_CREAT, 0600));
	CALL(close(fd));
	if (symlink(path2, path) < 0)
		printf("symlink: %s\n", strerror(errno));
	CALL(shm_open("/link", O_RDWR, 0));
	CALL(shm_open("/link", O_RDWR | O_CREAT, 0600));
	CALL(shm_unlink("/link"));
	CALL(shm_open("/link", O_RDWR, 0));
	snprintf(path, sizeof path, "%s/adir", dir);
	if (mkdir(path, 0755) < 0)
		printf("mkdir: %s\n", strerror(errno));
	CALL(shm_open("/adir", O_RDWR, 0));
	CALL(shm_open("/adir", O_RDWR | O_CREAT, 0600));
	CALL(shm_unlink("/adir"));
	rmdir(path);
	CALL(shm_unlink("/target"));
}

/* The one-object commands, for the tests that restart things. */
static int one(int argc, char **argv)
{
	const char *cmd = argv[1], *name = argv[2];
	if (!strcmp(cmd, "put") && argc == 4) {
		int fd = shm_open(name, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || ftruncate(fd, 4096) < 0) {
			printf("put %s: %s\n", name, errname(errno));
			return 1;
		}
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			printf("mmap: %s\n", errname(errno));
			return 1;
		}
		snprintf(p, 4096, "%s", argv[3]);
		munmap(p, 4096);
		close(fd);
		printf("put %s\n", name);
		return 0;
	}
	if (!strcmp(cmd, "get") && argc == 3) {
		int fd = shm_open(name, O_RDONLY, 0);
		if (fd < 0) {
			printf("get %s: %s\n", name, errname(errno));
			return 1;
		}
		struct stat st;
		fstat(fd, &st);
		char *p = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)
		                     : MAP_FAILED;
		printf("get %s: size=%lld %.*s\n", name, (long long)st.st_size,
		       p == MAP_FAILED ? 0 : (int)strnlen(p, (size_t)st.st_size),
		       p == MAP_FAILED ? "" : p);
		close(fd);
		return 0;
	}
	if (!strcmp(cmd, "rm") && argc == 3) {
		if (shm_unlink(name) < 0) {
			printf("rm %s: %s\n", name, errname(errno));
			return 1;
		}
		printf("rm %s\n", name);
		return 0;
	}
	fprintf(stderr, "usage: posix_probe DIR | put NAME TEXT | get NAME | rm NAME\n");
	return 2;
}

/* Open descriptors of this process: none may be left behind. */
static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

int main(int argc, char **argv)
{
	if (argc >= 3)
		return one(argc, argv);
	if (argc != 2) {
		fprintf(stderr, "usage: posix_probe DIR\n");
		return 2;
	}
	umask(022);
	int fds = count_fds();
	names();
	flags();
	modes();
	fork_and_share();
	if (geteuid() == 0)
		other_user();
	planted(argv[1]);
	/* Nothing left behind: no descriptor (the probe closes what it
	 * opens), and the directory is empty again (the test looks). */
	printf("%d descriptors left = %d\n", step++, count_fds() - fds);
	return 0;
}
