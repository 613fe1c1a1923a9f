/*
 * attrwatch.c - whether the program may have changed what a mapping is --
 * its protection, its lock, its madvise() flags, its NUMA policy -- since
 * an attach was made, without asking /proc.
 *
 * A process that holds an attach of a segment and attaches it again in
 * the same mode gets a duplicate of the held attach's mapping (shmat.c,
 * mremap() with an old size of 0): one system call where opening and
 * mapping the data file takes four.  The duplicate takes the held
 * mapping's attributes, which are what a new attach has only while the
 * program has not changed them.  Every way a program has of changing
 * them comes through here:
 *
 *   - mprotect() and pkey_mprotect();
 *   - madvise() and posix_madvise(), with an advice that sets a flag of
 *     the mapping (MADV_DONTFORK, MADV_DONTDUMP, MADV_HUGEPAGE,
 *     MADV_RANDOM...; the advices that act on pages only, listed in
 *     acts_on_pages_only(), change nothing the duplicate would take);
 *   - mlock(), mlock2(), munlock(), mlockall() and munlockall();
 *   - syscall() with one of their numbers, or mbind's (libnuma's mbind()
 *     is a syscall()), set_mempolicy_home_node's or mseal's
 *     (mapwatch.c gs_maps_syscall).
 *
 * Each bumps a generation before and after passing the call on to the C
 * library, as mapwatch.c does for what is mapped where; an attach keeps
 * the generation read before its mapping was made (gs_attrs_stamp), and
 * is duplicated only while neither generation has moved.
 *
 * Trusted only where the program's calls reach these definitions, and
 * never in a Go program (mapwatch.c says why).  Not seen: a system call
 * made without the C library, and a userfaultfd registration (an ioctl):
 * docs/DIFFERENCES.md.
 */
#include "engine.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct gs_watch attrs = GS_WATCH_INIT;

void gs_attrs_bump(void) { gs_watch_bump(&attrs); }
uint64_t gs_attrs_stamp(void) { return gs_watch_stamp(&attrs); }
int gs_attrs_unchanged(uint64_t stamp) { return gs_watch_unchanged(&attrs, stamp); }

enum { MPROTECT, PKEY_MPROTECT, MADVISE, POSIX_MADVISE, MLOCK, MLOCK2, MUNLOCK, MLOCKALL,
       MUNLOCKALL, NFUNCS };
static const char *const names[NFUNCS] = {"mprotect", "pkey_mprotect", "madvise",
                                          "posix_madvise", "mlock", "mlock2",
                                          "munlock", "mlockall", "munlockall"};
static void *next_fn[NFUNCS];

static void *next(int i) { return gs_libc_symbol(&next_fn[i], names[i]); }

/* Looked up at load, as mapwatch.c's: a call from a signal handler (a
 * garbage collector's mprotect) never runs the loader. */
__attribute__((constructor(101))) static void gs_attrwatch_resolve(void)
{
	for (int i = 0; i < NFUNCS; i++)
		next(i);
	int all = !gs_in_main_program() && gs_program_binds_all(names, NFUNCS);
	gs_watch_start(&attrs, all);
}

/* The advices that act on the pages and leave the mapping's flags as they
 * were.  Any other, including one newer than this list, counts as a
 * change. */
static int acts_on_pages_only(int advice)
{
	switch (advice) {
	case MADV_DONTNEED: case MADV_WILLNEED: case MADV_REMOVE:
#ifdef MADV_FREE
	case MADV_FREE:
#endif
#ifdef MADV_COLD
	case MADV_COLD: case MADV_PAGEOUT:
#endif
#ifdef MADV_POPULATE_READ
	case MADV_POPULATE_READ: case MADV_POPULATE_WRITE:
#endif
		return 1;
	}
	return 0;
}

typedef int (*addr_len_int_fn)(void *, size_t, int);
typedef int (*addr_len_fn)(const void *, size_t);

/* The C library's function i, or NULL and ENOSYS. */
static void *real(int i)
{
	void *f = next(i);
	if (!f)
		errno = ENOSYS;
	return f;
}

static int pass3(int i, void *addr, size_t len, int arg)
{
	addr_len_int_fn f = (addr_len_int_fn)real(i);
	if (!f)
		return -1;
	gs_watch_bump(&attrs);
	int r = f(addr, len, arg);
	gs_watch_bump_after(&attrs);
	return r;
}

GS_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	return pass3(MPROTECT, addr, len, prot);
}

/* musl has no pkey_mprotect(): there, the system call itself. */
GS_EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	int (*f)(void *, size_t, int, int) = (int (*)(void *, size_t, int, int))next(PKEY_MPROTECT);
	gs_watch_bump(&attrs);
#ifdef SYS_pkey_mprotect
	int r = f ? f(addr, len, prot, pkey)
	          : (int)gs_syscall(SYS_pkey_mprotect, addr, len, prot, pkey);
#else
	int r = f ? f(addr, len, prot, pkey) : (errno = ENOSYS, -1);
#endif
	gs_watch_bump_after(&attrs);
	return r;
}

/*
 * MADV_DONTFORK and MADV_DOFORK, by the C library's madvise() or
 * syscall(), change which attaches a child inherits (attach_table.c
 * gs_table_fork_advice_locked).  The program's call is made under the
 * attach table's mutex, which fork()'s handlers take: a child that another
 * thread forks meanwhile is forked before the advice, or after the table
 * says what it did.  _begin takes the mutex for those advices (1), and
 * _end, after the call returned r, updates the table and lets go.
 *
 * MADV_DONTFORK and MADV_WIPEONFORK over the engine's own memory (a
 * program advising a range wider than what it mapped) would leave a child
 * without its attach table, its registry or its semaphore cache, or with
 * them zeroed: its fork handler and its next call would crash or lie.
 * _end undoes those advices on the engine's mappings, under every mutex
 * fork()'s handlers take, so that no child is forked in between.
 *
 * _begin does not wait long for those mutexes while a fork holds them:
 * it returns 0 and the advice is passed on alone (config.c
 * gs_fork_trylock).
 */
static int leaves_children(int advice)
{
#ifdef MADV_WIPEONFORK
	if (advice == MADV_WIPEONFORK)
		return 1;
#endif
	return advice == MADV_DONTFORK;
}

int gs_attrs_fork_advice_begin(int advice)
{
	if (advice != MADV_DOFORK && !leaves_children(advice))
		return 0;
	/* Not from inside the engine: a fork handler of the program's that
	 * runs while the library's hold the table (or a handler of a fault
	 * signal in a call) would wait for ever on its own thread's mutex.
	 * Such an advice is passed on alone (docs/DIFFERENCES.md). */
	if (gs_in_call())
		return 0;
	/* Nor for a fork that holds the mutexes too long (config.c says
	 * why): the advice is passed on alone then too. */
	return gs_fork_trylock(leaves_children(advice));
}

/* Undo advice, given over [lo, hi), on the engine's mapping [p, p + len). */
void gs_own_mapping_fork(const void *p, size_t len, uintptr_t lo, uintptr_t hi, int advice,
                         int (*madv)(void *, size_t, int))
{
	uintptr_t at = (uintptr_t)p;
	if (!p || !len || at >= hi || at + len <= lo)
		return;
#ifdef MADV_KEEPONFORK
	int undo = advice == MADV_DONTFORK ? MADV_DOFORK : MADV_KEEPONFORK;
#else
	int undo = MADV_DOFORK;
	(void)advice;
#endif
	madv((void *)at, gs_round_pages(len), undo);
}

void gs_attrs_fork_advice_end(void *addr, size_t len, int advice, long r)
{
	int saved = errno;
	addr_len_int_fn f = (addr_len_int_fn)next(MADVISE);
	uintptr_t lo = (uintptr_t)addr, page = (uintptr_t)gs_page_size();
	uintptr_t rounded = ((uintptr_t)len + page - 1) & ~(page - 1);
	/* The lengths the kernel refuses before it changes anything. */
	int sane = f && len && rounded >= len && lo + rounded > lo;
	uint64_t number = 0;
	size_t partial = 0;
	if (sane && (advice == MADV_DONTFORK || advice == MADV_DOFORK))
		partial = gs_table_fork_advice_locked(lo, lo + rounded, advice == MADV_DONTFORK,
		                                      r == 0, f, &number);
	/* Even when the call failed: the kernel applies an advice to the
	 * mappings before a hole it reports with ENOMEM. */
	if (sane && leaves_children(advice))
		gs_fork_own_pages(lo, lo + rounded, advice, f);
	gs_fork_unlock(leaves_children(advice));
	if (partial)
		gs_table_fork_pieces(lo, lo + rounded, f, number);
	errno = saved;
}

GS_EXPORT int madvise(void *addr, size_t len, int advice)
{
	addr_len_int_fn f = (addr_len_int_fn)real(MADVISE);
	if (!f)
		return -1;
	if (acts_on_pages_only(advice))
		return f(addr, len, advice);
	int fork_advice = gs_attrs_fork_advice_begin(advice);
	int r = pass3(MADVISE, addr, len, advice);
	if (fork_advice)
		gs_attrs_fork_advice_end(addr, len, advice, r);
	return r;
}

/* Returns an error number, as POSIX has it; glibc's makes no call for
 * POSIX_MADV_DONTNEED. */
GS_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	addr_len_int_fn f = (addr_len_int_fn)next(POSIX_MADVISE);
	if (!f)
		return ENOSYS;
	if (advice == POSIX_MADV_WILLNEED || advice == POSIX_MADV_DONTNEED)
		return f(addr, len, advice);
	gs_watch_bump(&attrs);
	int r = f(addr, len, advice);
	gs_watch_bump(&attrs);
	return r;
}

static int pass2(int i, const void *addr, size_t len)
{
	addr_len_fn f = (addr_len_fn)real(i);
	if (!f)
		return -1;
	gs_watch_bump(&attrs);
	int r = f(addr, len);
	gs_watch_bump_after(&attrs);
	return r;
}

GS_EXPORT int mlock(const void *addr, size_t len) { return pass2(MLOCK, addr, len); }
GS_EXPORT int munlock(const void *addr, size_t len) { return pass2(MUNLOCK, addr, len); }

GS_EXPORT int mlock2(const void *addr, size_t len, unsigned int flags)
{
	int (*f)(const void *, size_t, unsigned) =
		(int (*)(const void *, size_t, unsigned))real(MLOCK2);
	if (!f)
		return -1;
	gs_watch_bump(&attrs);
	int r = f(addr, len, flags);
	gs_watch_bump_after(&attrs);
	return r;
}

GS_EXPORT int mlockall(int flags)
{
	int (*f)(int) = (int (*)(int))real(MLOCKALL);
	if (!f)
		return -1;
	gs_watch_bump(&attrs);
	int r = f(flags);
	gs_watch_bump_after(&attrs);
	return r;
}

GS_EXPORT int munlockall(void)
{
	int (*f)(void) = (int (*)(void))real(MUNLOCKALL);
	if (!f)
		return -1;
	gs_watch_bump(&attrs);
	int r = f();
	gs_watch_bump_after(&attrs);
	return r;
}
