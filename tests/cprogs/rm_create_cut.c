#define _GNU_SOURCE
/*
 * rm_create_cut - the two steps of the power-cut test of a removal
 * followed by a creation (tests/crash, TestPowerCutAfterRemoveAndCreate).
 *
 *   rm_create_cut write KEYA KEYB   under LD_PRELOAD=libgoshm.so
 *
 *     Makes segment A (one page), writes pattern A into it and flushes it
 *     with goshm_sync, then detaches and removes it.  Makes segment B of
 *     the same size, writes pattern B, and has the kernel write B's pages
 *     to the disk with sync_file_range -- what page writeback does at any
 *     moment, without the journal commit an fsync would force.  Prints
 *     "inode A B", the inode numbers of the two data files.
 *
 *   rm_create_cut check KEY...      after the cut, under LD_PRELOAD
 *
 *     Prints one line per key: "KEY absent", or "KEY A", "KEY B",
 *     "KEY zero" when every word of the segment is that pattern's (or 0),
 *     or "KEY mixed WORD VALUE" at the first word that is none of them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE 4096u
#define WORDS (SIZE / 8u)

static uint64_t pattern(char which, unsigned w)
{
	return (which == 'A' ? 0xaaaa000000000000ull : 0xbbbb000000000000ull) | (uint64_t)w << 8 |
	       (uint64_t)which;
}

static void die(const char *what)
{
	fprintf(stderr, "rm_create_cut: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The file a mapping at addr shows in /proc/self/maps, opened. */
static int open_mapped_file(const void *addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		die("/proc/self/maps");
	char line[4096];
	int fd = -1;
	while (fd < 0 && fgets(line, sizeof line, f)) {
		uintptr_t lo;
		int off = 0;
		if (sscanf(line, "%" SCNxPTR "-%*x %*s %*x %*s %*u %n", &lo, &off) < 1 ||
		    lo != (uintptr_t)addr || !off)
			continue;
		line[strcspn(line, "\n")] = 0;
		fd = open(line + off, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(line + off);
	}
	fclose(f);
	if (fd < 0) {
		errno = ENOENT;
		die("the segment's mapping in /proc/self/maps");
	}
	return fd;
}

/* Makes KEY's segment and writes pattern which into it; returns its
 * address, with its id in *shmid and its data file's inode in *ino. */
static uint64_t *make(key_t key, char which, int *shmid, ino_t *ino)
{
	*shmid = shmget(key, SIZE, IPC_CREAT | IPC_EXCL | 0600);
	if (*shmid < 0)
		die("shmget");
	uint64_t *p = shmat(*shmid, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	for (unsigned w = 0; w < WORDS; w++)
		p[w] = pattern(which, w);
	int fd = open_mapped_file(p);
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	*ino = st.st_ino;
	close(fd);
	return p;
}

static int write_both(key_t ka, key_t kb)
{
	int (*sync_fn)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "goshm_sync");
	if (!sync_fn) {
		fprintf(stderr, "rm_create_cut: goshm_sync not found: run under LD_PRELOAD=libgoshm.so\n");
		return 1;
	}
	int ida, idb;
	ino_t ina, inb;
	uint64_t *a = make(ka, 'A', &ida, &ina);
	if (sync_fn(ida) < 0)
		die("goshm_sync A");
	if (shmdt(a) < 0 || shmctl(ida, IPC_RMID, NULL) < 0)
		die("remove A");
	uint64_t *b = make(kb, 'B', &idb, &inb);
	int fd = open_mapped_file(b);
	if (sync_file_range(fd, 0, 0,
	                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
	                            SYNC_FILE_RANGE_WAIT_AFTER) < 0)
		die("sync_file_range B");
	close(fd);
	if (shmdt(b) < 0)
		die("shmdt B");
	printf("inode %ju %ju\n", (uintmax_t)ina, (uintmax_t)inb);
	return 0;
}

static void check(key_t key)
{
	int id = shmget(key, 0, 0);
	if (id < 0) {
		if (errno != ENOENT)
			die("shmget");
		printf("%d absent\n", (int)key);
		return;
	}
	const uint64_t *p = shmat(id, NULL, SHM_RDONLY);
	if (p == (void *)-1)
		die("shmat");
	char seen = 0;
	for (unsigned w = 0; w < WORDS; w++) {
		char is = p[w] == 0 ? 'z' : p[w] == pattern('A', w) ? 'A' : p[w] == pattern('B', w) ? 'B' : '?';
		if (w == 0)
			seen = is;
		if (is != seen) {
			printf("%d mixed %u %016" PRIx64 "\n", (int)key, w, p[w]);
			shmdt(p);
			return;
		}
	}
	printf("%d %s\n", (int)key, seen == 'z' ? "zero" : seen == 'A' ? "A" : seen == 'B' ? "B" : "other");
	shmdt(p);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "write"))
		return write_both((key_t)strtol(argv[2], NULL, 0), (key_t)strtol(argv[3], NULL, 0));
	if (argc >= 3 && !strcmp(argv[1], "check")) {
		for (int i = 2; i < argc; i++)
			check((key_t)strtol(argv[i], NULL, 0));
		return 0;
	}
	fprintf(stderr, "usage: rm_create_cut write KEYA KEYB | rm_create_cut check KEY...\n");
	return 2;
}
