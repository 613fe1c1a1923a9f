/*
 * libc.h - what the programs that compare goshm with the kernel need of
 * the C library beyond POSIX, under glibc and under musl: make builds
 * conf_scenarios, conf_fork and conf_store_ops with musl-gcc as well
 * (build/musl/tests/), to run them under build/musl/libgoshm.so.  Both
 * builds print the same lines for the same results, so a musl program's
 * run under goshm compares line by line with its native run.
 *
 *   conf_errname(e)      the errno's name, "EINVAL" (glibc's
 *                        strerrorname_np; musl has none: a table)
 *   conf_sigabbrev(s)    the signal's name without SIG, "SEGV", or NULL
 *                        (glibc's sigabbrev_np; under musl a table)
 *   CONF_DS_RESERVED(d)  whether a struct shmid_ds's reserved words are
 *                        nonzero (glibc's __glibc_reservedN, musl's __padN)
 *   CONF_SHMINFO_RESERVED(si), and struct shm_info's used_ids,
 *   swap_attempts and swap_successes (musl prefixes them with __)
 *   conf_pkey_mprotect   pkey_mprotect(); musl has none: the system call
 */
#ifndef CONF_LIBC_H
#define CONF_LIBC_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/shm.h>

#ifdef __GLIBC__

static inline const char *conf_errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

static inline const char *conf_sigabbrev(int s) { return sigabbrev_np(s); }

#define CONF_DS_RESERVED(d)                                                            \
	((d)->shm_perm.__pad2 || (d)->shm_perm.__glibc_reserved1 ||                    \
	 (d)->shm_perm.__glibc_reserved2 || (d)->__glibc_reserved5 || (d)->__glibc_reserved6)
#define CONF_SHMINFO_RESERVED(si)                                                      \
	((si)->__glibc_reserved1 || (si)->__glibc_reserved2 || (si)->__glibc_reserved3 || \
	 (si)->__glibc_reserved4)
#define CONF_SHM_INFO_USED_IDS(si) ((si)->used_ids)
#define CONF_SHM_INFO_SWAP_ATTEMPTS(si) ((si)->swap_attempts)
#define CONF_SHM_INFO_SWAP_SUCCESSES(si) ((si)->swap_successes)

#define conf_pkey_mprotect pkey_mprotect

#else /* musl */

/* Every errno of Linux's asm-generic headers, by number (the aliases
 * EWOULDBLOCK and EDEADLOCK left out, as strerrorname_np leaves them). */
static inline const char *conf_errname(int e)
{
	switch (e) {
#define CONF_E(name) case name: return #name;
	CONF_E(EPERM)
	CONF_E(ENOENT)
	CONF_E(ESRCH)
	CONF_E(EINTR)
	CONF_E(EIO)
	CONF_E(ENXIO)
	CONF_E(E2BIG)
	CONF_E(ENOEXEC)
	CONF_E(EBADF)
	CONF_E(ECHILD)
	CONF_E(EAGAIN)
	CONF_E(ENOMEM)
	CONF_E(EACCES)
	CONF_E(EFAULT)
	CONF_E(ENOTBLK)
	CONF_E(EBUSY)
	CONF_E(EEXIST)
	CONF_E(EXDEV)
	CONF_E(ENODEV)
	CONF_E(ENOTDIR)
	CONF_E(EISDIR)
	CONF_E(EINVAL)
	CONF_E(ENFILE)
	CONF_E(EMFILE)
	CONF_E(ENOTTY)
	CONF_E(ETXTBSY)
	CONF_E(EFBIG)
	CONF_E(ENOSPC)
	CONF_E(ESPIPE)
	CONF_E(EROFS)
	CONF_E(EMLINK)
	CONF_E(EPIPE)
	CONF_E(EDOM)
	CONF_E(ERANGE)
	CONF_E(EDEADLK)
	CONF_E(ENAMETOOLONG)
	CONF_E(ENOLCK)
	CONF_E(ENOSYS)
	CONF_E(ENOTEMPTY)
	CONF_E(ELOOP)
	CONF_E(ENOMSG)
	CONF_E(EIDRM)
	CONF_E(ECHRNG)
	CONF_E(EL2NSYNC)
	CONF_E(EL3HLT)
	CONF_E(EL3RST)
	CONF_E(ELNRNG)
	CONF_E(EUNATCH)
	CONF_E(ENOCSI)
	CONF_E(EL2HLT)
	CONF_E(EBADE)
	CONF_E(EBADR)
	CONF_E(EXFULL)
	CONF_E(ENOANO)
	CONF_E(EBADRQC)
	CONF_E(EBADSLT)
	CONF_E(EBFONT)
	CONF_E(ENOSTR)
	CONF_E(ENODATA)
	CONF_E(ETIME)
	CONF_E(ENOSR)
	CONF_E(ENONET)
	CONF_E(ENOPKG)
	CONF_E(EREMOTE)
	CONF_E(ENOLINK)
	CONF_E(EADV)
	CONF_E(ESRMNT)
	CONF_E(ECOMM)
	CONF_E(EPROTO)
	CONF_E(EMULTIHOP)
	CONF_E(EDOTDOT)
	CONF_E(EBADMSG)
	CONF_E(EOVERFLOW)
	CONF_E(ENOTUNIQ)
	CONF_E(EBADFD)
	CONF_E(EREMCHG)
	CONF_E(ELIBACC)
	CONF_E(ELIBBAD)
	CONF_E(ELIBSCN)
	CONF_E(ELIBMAX)
	CONF_E(ELIBEXEC)
	CONF_E(EILSEQ)
	CONF_E(ERESTART)
	CONF_E(ESTRPIPE)
	CONF_E(EUSERS)
	CONF_E(ENOTSOCK)
	CONF_E(EDESTADDRREQ)
	CONF_E(EMSGSIZE)
	CONF_E(EPROTOTYPE)
	CONF_E(ENOPROTOOPT)
	CONF_E(EPROTONOSUPPORT)
	CONF_E(ESOCKTNOSUPPORT)
	CONF_E(EOPNOTSUPP)
	CONF_E(EPFNOSUPPORT)
	CONF_E(EAFNOSUPPORT)
	CONF_E(EADDRINUSE)
	CONF_E(EADDRNOTAVAIL)
	CONF_E(ENETDOWN)
	CONF_E(ENETUNREACH)
	CONF_E(ENETRESET)
	CONF_E(ECONNABORTED)
	CONF_E(ECONNRESET)
	CONF_E(ENOBUFS)
	CONF_E(EISCONN)
	CONF_E(ENOTCONN)
	CONF_E(ESHUTDOWN)
	CONF_E(ETOOMANYREFS)
	CONF_E(ETIMEDOUT)
	CONF_E(ECONNREFUSED)
	CONF_E(EHOSTDOWN)
	CONF_E(EHOSTUNREACH)
	CONF_E(EALREADY)
	CONF_E(EINPROGRESS)
	CONF_E(ESTALE)
	CONF_E(EUCLEAN)
	CONF_E(ENOTNAM)
	CONF_E(ENAVAIL)
	CONF_E(EISNAM)
	CONF_E(EREMOTEIO)
	CONF_E(EDQUOT)
	CONF_E(ENOMEDIUM)
	CONF_E(EMEDIUMTYPE)
	CONF_E(ECANCELED)
	CONF_E(ENOKEY)
	CONF_E(EKEYEXPIRED)
	CONF_E(EKEYREVOKED)
	CONF_E(EKEYREJECTED)
	CONF_E(EOWNERDEAD)
	CONF_E(ENOTRECOVERABLE)
	CONF_E(ERFKILL)
	CONF_E(EHWPOISON)
#undef CONF_E
	}
	return "E?";
}

/* The signals of Linux, by number (SIGIOT and SIGPOLL are aliases). */
static inline const char *conf_sigabbrev(int s)
{
	switch (s) {
#define CONF_S(name) case SIG##name: return #name;
	CONF_S(HUP)
	CONF_S(INT)
	CONF_S(QUIT)
	CONF_S(ILL)
	CONF_S(TRAP)
	CONF_S(ABRT)
	CONF_S(BUS)
	CONF_S(FPE)
	CONF_S(KILL)
	CONF_S(USR1)
	CONF_S(SEGV)
	CONF_S(USR2)
	CONF_S(PIPE)
	CONF_S(ALRM)
	CONF_S(TERM)
	CONF_S(STKFLT)
	CONF_S(CHLD)
	CONF_S(CONT)
	CONF_S(STOP)
	CONF_S(TSTP)
	CONF_S(TTIN)
	CONF_S(TTOU)
	CONF_S(URG)
	CONF_S(XCPU)
	CONF_S(XFSZ)
	CONF_S(VTALRM)
	CONF_S(PROF)
	CONF_S(WINCH)
	CONF_S(IO)
	CONF_S(PWR)
	CONF_S(SYS)
#undef CONF_S
	}
	return NULL;
}

/* musl's struct ipc_perm has a 32-bit mode and seq where the kernel has
 * 16-bit fields and padding: those words carry the padding, printed as
 * part of mode and seq. */
#define CONF_DS_RESERVED(d)                                                            \
	((d)->shm_perm.__pad1 || (d)->shm_perm.__pad2 || (d)->__pad1 || (d)->__pad2)
#define CONF_SHMINFO_RESERVED(si)                                                      \
	((si)->__unused[0] || (si)->__unused[1] || (si)->__unused[2] || (si)->__unused[3])
#define CONF_SHM_INFO_USED_IDS(si) ((si)->__used_ids)
#define CONF_SHM_INFO_SWAP_ATTEMPTS(si) ((si)->__swap_attempts)
#define CONF_SHM_INFO_SWAP_SUCCESSES(si) ((si)->__swap_successes)

#include <sys/syscall.h>
#include <unistd.h>

static inline int conf_pkey_mprotect(void *p, size_t len, int prot, int pkey)
{
	return (int)syscall(SYS_pkey_mprotect, p, len, prot, pkey);
}

#endif /* __GLIBC__ */

#endif /* CONF_LIBC_H */
