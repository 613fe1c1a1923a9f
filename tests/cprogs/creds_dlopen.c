/*
 * creds_dlopen LIB - the goshm_* API of a library loaded with dlopen(),
 * as a Python program would load it with ctypes.  The program's own
 * seteuid() binds to the C library, not to the library's watch
 * (capi/engine/creds.c), so the library must not keep the ids it read:
 * run as root, a 0600 segment of root's is refused to euid 1000 and
 * granted again to root, as the kernel would answer.  Prints one line per
 * step.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

typedef int (*get_fn)(key_t, size_t, int);
typedef int (*ctl_fn)(int, int, struct shmid_ds *);

static void stat_line(ctl_fn ctl, int id)
{
	struct shmid_ds d;
	int r = ctl(id, IPC_STAT, &d);
	printf("IPC_STAT as euid %u = %s\n", (unsigned)geteuid(),
	       r < 0 ? strerrorname_np(errno) : "0");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: creds_dlopen LIB\n");
		return 64;
	}
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	get_fn get = (get_fn)dlsym(lib, "goshm_shmget");
	ctl_fn ctl = (ctl_fn)dlsym(lib, "goshm_shmctl");
	if (!get || !ctl)
		return 1;
	int id = get(0x7e57, 4096, IPC_CREAT | 0600);
	if (id < 0) {
		perror("goshm_shmget");
		return 1;
	}
	stat_line(ctl, id);
	printf("seteuid(1000) = %d\n", seteuid(1000));
	stat_line(ctl, id);
	printf("seteuid(0) = %d\n", seteuid(0));
	stat_line(ctl, id);
	ctl(id, IPC_RMID, NULL);
	return 0;
}
