/*
 * detach_loop.c - attaches and detaches one segment N times, for
 * tests/integration/mapwatch_test.go, which counts the opens of
 * /proc/self/maps under strace.
 *
 *   detach_loop N            plain shmat + shmdt
 *   detach_loop N unmap      with an unrelated mmap + munmap between the
 *                            two: shmdt may no longer trust its table
 *   detach_loop N dlopen LIB through goshm_shmat/goshm_shmdt of LIB loaded
 *                            with dlopen(), which the program's munmap
 *                            never reaches
 *   detach_loop N held       while the program holds another attach of the
 *                            segment, made before the loop: each attach
 *                            is a duplicate of it (capi/engine/shmat.c)
 *   detach_loop N held-mprotect
 *                            the same, the held attach made read-only and
 *                            writable again before the loop: no attach
 *                            may be a duplicate of it any more
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>

typedef int (*shmget_fn)(key_t, size_t, int);
typedef void *(*shmat_fn)(int, const void *, int);
typedef int (*shmdt_fn)(const void *);
typedef int (*shmctl_fn)(int, int, struct shmid_ds *);

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: detach_loop N [unmap | dlopen LIB | held | held-mprotect]\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	const char *mode = argc > 2 ? argv[2] : "";
	shmget_fn get = shmget;
	shmat_fn at = shmat;
	shmdt_fn dt = shmdt;
	shmctl_fn ctl = shmctl;
	if (!strcmp(mode, "dlopen")) {
		void *h = argc > 3 ? dlopen(argv[3], RTLD_NOW | RTLD_LOCAL) : NULL;
		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 1;
		}
		get = (shmget_fn)dlsym(h, "goshm_shmget");
		at = (shmat_fn)dlsym(h, "goshm_shmat");
		dt = (shmdt_fn)dlsym(h, "goshm_shmdt");
		ctl = (shmctl_fn)dlsym(h, "goshm_shmctl");
		if (!get || !at || !dt || !ctl)
			return 1;
	}
	int id = get(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (id < 0) {
		perror("shmget");
		return 1;
	}
	int unmap = !strcmp(mode, "unmap");
	if (!strncmp(mode, "held", 4)) {
		char *held = at(id, NULL, 0);
		if (held == (char *)-1) {
			perror("shmat");
			return 1;
		}
		if (!strcmp(mode, "held-mprotect") &&
		    (mprotect(held, 4096, PROT_READ) < 0 ||
		     mprotect(held, 4096, PROT_READ | PROT_WRITE) < 0)) {
			perror("mprotect");
			return 1;
		}
		held[0] = 'h';
	}
	for (long i = 0; i < n; i++) {
		char *p = at(id, NULL, 0);
		if (p == (char *)-1) {
			perror("shmat");
			return 1;
		}
		p[0] = (char)i;
		if (unmap) {
			void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED || munmap(m, 4096) < 0)
				return 1;
		}
		if (dt(p) < 0) {
			perror("shmdt");
			return 1;
		}
	}
	ctl(id, IPC_RMID, NULL);
	printf("%ld attaches detached\n", n);
	return 0;
}
