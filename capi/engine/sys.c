/*
 * sys.c - the kernel's own System V calls, by system call number.  The
 * engine exports shmget & co., so calling them by name would call itself.
 * Each returns the result or -errno and leaves errno as it found it.
 */
#include "engine.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The system call itself, made inline on the machines whose convention is
 * written here: the C library's syscall() is a variadic call that sets
 * errno, and on IPC_STAT's fast path (one system call) it was a tenth of
 * goshm's own time.  Elsewhere, the C library's.  -errno on failure.
 */
static inline long sys3(long n, long a, long b, long c)
{
#if defined(__x86_64__)
	long r;
	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "a"(n), "D"(a), "S"(b), "d"(c)
	                 : "rcx", "r11", "memory");
	return r;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory", "cc");
	return x0;
#else
	int saved = errno;
	long r = gs_syscall(n, a, b, c);
	if (r == -1)
		r = -errno;
	errno = saved;
	return r;
#endif
}

long gs_sys_shmget(key_t key, size_t size, int flg)
{
	return sys3(SYS_shmget, key, (long)size, flg);
}

/* An address is never in the kernel's error range [-4095, -1]. */
long gs_sys_shmat(int id, const void *addr, int flg)
{
	return sys3(SYS_shmat, id, (long)addr, flg);
}

long gs_sys_shmdt(const void *addr)
{
	return sys3(SYS_shmdt, (long)addr, 0, 0);
}

long gs_sys_shmctl(int id, int cmd, void *buf)
{
	/* x86_64's shmctl always uses the 64-bit layout; IPC_64 in cmd would
	 * make it an unknown command. */
	return sys3(SYS_shmctl, id, cmd, (long)buf);
}
