/* deepbind_plugin.c - the ten-line plugin that a RTLD_DEEPBIND load hides
 * from LD_PRELOAD (issue 16): it makes or opens a segment by key and
 * writes or reads it.  plugin_whoami is defined here and in the host:
 * with RTLD_DEEPBIND the plugin's own must win (the isolation kept). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

void *dep_attach(int id);

const char *plugin_whoami(void) { return "plugin"; }
const char *plugin_scope(void) { return plugin_whoami(); } /* through the PLT */

int plugin_run(int key, const char *text, char *out, size_t len)
{
	int id = shmget(key, 4096, text ? IPC_CREAT | 0600 : 0);
	char *p = id < 0 ? (char *)-1 : dep_attach(id);
	if (p == (char *)-1)
		return -1;
	if (text)
		snprintf(p, 4096, "%s", text);
	snprintf(out, len, "%s", p);
	/* The plugin's own memory where an attach was: shmdt finds no attach
	 * there, and leaves the memory (goshm must see this module's munmap
	 * and mmap, capi/engine/mapwatch.c). */
	char *q = dep_attach(id);
	if (q == (char *)-1 || munmap(q, 4096) < 0 ||
	    mmap(q, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != q)
		return -1;
	q[0] = 'p';
	/* (Not errno: loaded by dlmopen, the plugin has a C library, and an
	 * errno, of its own.) */
	int refused = shmdt(q) == -1;
	if (q[0] != 'p' || munmap(q, 4096) < 0 || !refused)
		return -1;
	return shmdt(p) == 0 ? id : -1;
}

/* A semaphore set of one with the same key: made and set to value, or
 * found; its value, or -1.  (The semaphore calls were once left to the
 * kernel in such a module.) */
int plugin_sem(int key, int make, int value)
{
	int id = semget(key, 1, make ? IPC_CREAT | 0600 : 0);
	if (id < 0 || (make && semctl(id, 0, SETVAL, value) < 0))
		return -1;
	return semctl(id, 0, GETVAL);
}

/* The same with a POSIX object (shm_open, GOSHM_POSIX). */
int plugin_posix(const char *name, const char *text, char *out, size_t len)
{
	int fd = shm_open(name, text ? O_RDWR | O_CREAT : O_RDONLY, 0600);
	if (fd < 0 || (text && ftruncate(fd, 4096) < 0))
		return -1;
	char *p = mmap(NULL, 4096, text ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	if (text)
		snprintf(p, 4096, "%s", text);
	snprintf(out, len, "%s", p);
	munmap(p, 4096);
	return 0;
}
