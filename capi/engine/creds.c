/*
 * creds.c - the calling thread's effective uid and gid, without a system
 * call each time.
 *
 * The kernel judges every System V call by the calling thread's
 * credentials at that moment (ipcperms()).  Asking for them costs a
 * system call, as much as the whole lock-free IPC_STAT costs otherwise
 * (0.1 to 1 µs, docs/BENCHMARKS.md).  They change only when the program
 * changes them, and every way it has of doing so comes through here:
 *
 *   - setuid(), seteuid(), setreuid(), setresuid() and the gid family, which
 *     the C library applies to every thread;
 *   - syscall() with one of those numbers, which changes the calling
 *     thread's only;
 *   - unshare(), setns() and clone() with a user namespace, after which
 *     the ids read in the namespace are different numbers.
 *
 * Each bumps a generation counter before and after passing the call on to
 * the C library (RTLD_NEXT, as sigwatch.c does).  A thread keeps the ids it
 * read with the generation it read them at (TLS), and reads them again once
 * the counter has moved: a thread whose ids did not change reads the same
 * ids, one whose ids did reads the new ones.  The bump before the call
 * covers a signal handler that runs between the kernel's change and the
 * bump after it; the bump after covers a thread that read the ids between
 * the first bump and the change.
 *
 * All of that holds only where the program's calls reach this library's
 * definitions: preloaded, or linked before the C library.  A library
 * loaded later with dlopen() (the goshm_* API through Python's ctypes,
 * say), whose definitions the program's calls never reach, keeps nothing
 * and asks the kernel every time (watching, below).
 *
 * Not seen: a system call made without the C library (inline assembly),
 * which also bypasses goshm's own calls (docs/DIFFERENCES.md).  A thread
 * of a user namespace whose uid map is not written yet reads the overflow
 * ids, and reads its mapped ids once another process writes the map,
 * without any call of its own: the overflow ids are never kept.
 */
#include "engine.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Starts at 1: a thread's empty cache (0) never matches it. */
static uint32_t generation = 1;

/* Whether the program's calls of every function below reach this
 * library's definitions (set at load); until then, and if not, every
 * question goes to the kernel. */
static int watching;

static GS_TLS uint64_t my_euid, my_egid; /* generation << 32 | id */

static void bump(void)
{
	if (__atomic_add_fetch(&generation, 1, __ATOMIC_SEQ_CST) == 0)
		__atomic_add_fetch(&generation, 1, __ATOMIC_SEQ_CST);
}

/* The kernel's overflowuid and overflowgid (65534 unless changed). */
static uint32_t overflow_id(const char *path, uint32_t *cache)
{
	uint32_t v = __atomic_load_n(cache, __ATOMIC_RELAXED);
	if (!v) {
		long long n = gs_read_number(path);
		v = n > 0 && n < 0xffffffffll ? (uint32_t)n : 65534u;
		__atomic_store_n(cache, v, __ATOMIC_RELAXED);
	}
	return v;
}

static uint32_t cached(uint64_t *slot, uint32_t (*read)(void), const char *overflow_path,
                       uint32_t *overflow)
{
	if (!__atomic_load_n(&watching, __ATOMIC_ACQUIRE))
		return read();
	uint32_t gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
	uint64_t c = __atomic_load_n(slot, __ATOMIC_RELAXED);
	if ((uint32_t)(c >> 32) == gen)
		return (uint32_t)c;
	uint32_t id = read();
	if (id != overflow_id(overflow_path, overflow))
		__atomic_store_n(slot, (uint64_t)gen << 32 | id, __ATOMIC_RELAXED);
	return id;
}

static uint32_t read_euid(void) { return (uint32_t)geteuid(); }
static uint32_t read_egid(void) { return (uint32_t)getegid(); }

static uint32_t overflow_uid, overflow_gid;

uid_t gs_euid(void)
{
	return cached(&my_euid, read_euid, "/proc/sys/kernel/overflowuid", &overflow_uid);
}

gid_t gs_egid(void)
{
	return cached(&my_egid, read_egid, "/proc/sys/kernel/overflowgid", &overflow_gid);
}

/* ---- The C library's functions, passed on. ---- */

enum {
	SETUID, SETEUID, SETREUID, SETRESUID, SETGID, SETEGID, SETREGID, SETRESGID,
	UNSHARE, SETNS, CLONE, SYSCALL, NFUNCS
};
static const char *const names[NFUNCS] = {
	"setuid", "seteuid", "setreuid", "setresuid", "setgid", "setegid", "setregid",
	"setresgid", "unshare", "setns", "clone", "syscall"};
static void *next_fn[NFUNCS];

/* Looked up at load, so that a call from a signal handler or a forked
 * child never runs the loader. */
static void *next(int i) { return gs_next_symbol(&next_fn[i], names[i]); }

/* The C library's syscall() (gs_libc_symbol). */
gs_syscall_fn gs_libc_syscall(void)
{
	return (gs_syscall_fn)gs_libc_symbol(&next_fn[SYSCALL], names[SYSCALL]);
}

__attribute__((constructor)) static void gs_creds_resolve(void)
{
	for (int i = 0; i < NFUNCS; i++)
		next(i);
	__atomic_store_n(&watching, gs_program_binds_all(names, NFUNCS), __ATOMIC_RELEASE);
}

typedef int (*id1_fn)(unsigned);
typedef int (*id2_fn)(unsigned, unsigned);
typedef int (*id3_fn)(unsigned, unsigned, unsigned);

/* The C library's function i, bumped before: or NULL and ENOSYS. */
static void *before(int i)
{
	void *f = next(i);
	if (f)
		bump();
	else
		errno = ENOSYS;
	return f;
}

/* The bump after the call, which keeps its result and errno. */
static long after(long r)
{
	int e = errno;
	bump();
	errno = e;
	return r;
}

static int pass1(int i, unsigned a)
{
	id1_fn f = (id1_fn)before(i);
	return f ? (int)after(f(a)) : -1;
}

static int pass2(int i, unsigned a, unsigned b)
{
	id2_fn f = (id2_fn)before(i);
	return f ? (int)after(f(a, b)) : -1;
}

static int pass3(int i, unsigned a, unsigned b, unsigned c)
{
	id3_fn f = (id3_fn)before(i);
	return f ? (int)after(f(a, b, c)) : -1;
}

GS_EXPORT int setuid(uid_t u) { return pass1(SETUID, u); }
GS_EXPORT int seteuid(uid_t e) { return pass1(SETEUID, e); }
GS_EXPORT int setreuid(uid_t r, uid_t e) { return pass2(SETREUID, r, e); }
GS_EXPORT int setresuid(uid_t r, uid_t e, uid_t s) { return pass3(SETRESUID, r, e, s); }
GS_EXPORT int setgid(gid_t g) { return pass1(SETGID, g); }
GS_EXPORT int setegid(gid_t e) { return pass1(SETEGID, e); }
GS_EXPORT int setregid(gid_t r, gid_t e) { return pass2(SETREGID, r, e); }
GS_EXPORT int setresgid(gid_t r, gid_t e, gid_t s) { return pass3(SETRESGID, r, e, s); }

/* Both may enter a user namespace (setns's nstype 0 lets the descriptor
 * decide); bumping for any namespace costs a re-read, nothing more. */
GS_EXPORT int unshare(int flags) { return pass1(UNSHARE, (unsigned)flags); }
GS_EXPORT int setns(int fd, int nstype) { return pass2(SETNS, (unsigned)fd, (unsigned)nstype); }

typedef int (*clone_fn)(int (*)(void *), void *, int, void *, pid_t *, void *, pid_t *);

/* A child in a new user namespace starts with this thread's cache and
 * other ids: the bump before makes it read them. */
GS_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	clone_fn f = (clone_fn)next(CLONE);
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	if (flags & CLONE_NEWUSER)
		bump();
	return f(fn, stack, flags, arg, ptid, tls, ctid);
}

static int changes_ids(long n)
{
	switch (n) {
	case SYS_setuid: case SYS_setreuid: case SYS_setresuid:
	case SYS_setgid: case SYS_setregid: case SYS_setresgid:
	case SYS_unshare: case SYS_setns: case SYS_clone:
#ifdef SYS_clone3
	case SYS_clone3:
#endif
#ifdef SYS_setuid32
	case SYS_setuid32: case SYS_setreuid32: case SYS_setresuid32:
	case SYS_setgid32: case SYS_setregid32: case SYS_setresgid32:
#endif
		return 1;
	}
	return 0;
}

/* Six arguments are passed on whatever the number, as the C library's own
 * syscall() reads them: the kernel ignores those a call does not take.
 * Exported as syscall (below). */
static long program_syscall(long n, ...)
{
	va_list ap;
	long a[6];
	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	long r;
	if (gs_sysv_syscall(n, a, &r))
		return r;
	gs_syscall6_fn f = (gs_syscall6_fn)gs_libc_syscall();
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	int kinds = gs_maps_syscall(n);
	if (kinds)
		return gs_maps_pass_syscall(f, n, a, kinds);
	if (!changes_ids(n))
		return f(n, a[0], a[1], a[2], a[3], a[4], a[5]);
	bump();
	return after(f(n, a[0], a[1], a[2], a[3], a[4], a[5]));
}

GS_EXPORT long syscall(long n, ...) __attribute__((alias("program_syscall")));
