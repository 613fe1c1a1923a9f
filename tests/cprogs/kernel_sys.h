/*
 * kernel_sys.h - a system call made by the instruction itself, past every
 * library: the kernel's own view of its segments and sets.  syscall(3) is
 * the C library's function, which goshm interposes, and whose System V
 * numbers it serves from the store like shmget & co. (capi/engine/exports.c
 * gs_sysv_syscall).  Returns the result or -errno.
 */
#ifndef KERNEL_SYS_H
#define KERNEL_SYS_H

static inline long kernel_sys4(long n, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	long r;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
	                 : "rcx", "r11", "memory");
	return r;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory", "cc");
	return x0;
#else
#error "kernel_sys.h: no inline system call for this machine"
#endif
}

#endif
