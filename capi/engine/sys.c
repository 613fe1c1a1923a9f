/*
 * sys.c - the kernel's own System V calls, by system call number.  The
 * engine exports shmget & co., so calling them by name would call itself.
 * Each returns the result or -errno and leaves errno as it found it.
 */
#include "engine.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

static long raw(long r)
{
	return r < 0 ? -errno : r;
}

#define SAVE_ERRNO(expr)                                                     \
	do {                                                                     \
		int saved_ = errno;                                                  \
		long r_ = raw(expr);                                                 \
		errno = saved_;                                                      \
		return r_;                                                           \
	} while (0)

long gs_sys_shmget(key_t key, size_t size, int flg)
{
	SAVE_ERRNO(gs_syscall(SYS_shmget, key, size, flg));
}

long gs_sys_shmat(int id, const void *addr, int flg)
{
	int saved = errno;
	long r = gs_syscall(SYS_shmat, id, addr, flg);
	if (r == -1)
		r = -errno;
	errno = saved;
	return r;
}

long gs_sys_shmdt(const void *addr)
{
	SAVE_ERRNO(gs_syscall(SYS_shmdt, addr));
}

long gs_sys_shmctl(int id, int cmd, void *buf)
{
	/* x86_64's shmctl always uses the 64-bit layout; IPC_64 in cmd would
	 * make it an unknown command. */
	SAVE_ERRNO(gs_syscall(SYS_shmctl, id, cmd, buf));
}
