/*
 * mapwatch.c - whether the program may have changed what is mapped where
 * since an attach was made, without asking /proc.
 *
 * shmdt(addr) detaches what the kernel's rule finds at addr (shmdt.c).
 * When an attach is still mapped whole, as shmat made it, that is the
 * attach itself, and vma.c asks the kernel so before unmapping it: open
 * /proc/self/maps, one PROCMAP_QUERY, close -- three of the eleven system
 * calls of an attach and detach.  An attach stops being whole only when
 * the process unmaps, moves or maps over its pages, and every way a
 * program has of doing so comes through here:
 *
 *   - munmap(), mremap(), remap_file_pages(), and mmap() (mmap64) with
 *     MAP_FIXED, which replaces what was mapped;
 *   - syscall() with one of their numbers (creds.c's watcher asks
 *     gs_maps_syscall);
 *   - a SHM_REMAP attach of a segment left to the kernel (exports.c).
 *
 * The engine's own mmap(MAP_FIXED) of a SHM_REMAP attach and munmap of
 * the kernel's rule (shmdt.c) come through here too: wherever the
 * program's calls bind to these definitions, which is when they are
 * trusted, so do the engine's.
 *
 * Each bumps a generation before and after passing the call on to the C
 * library (RTLD_NEXT), as creds.c does for the thread's ids.  An attach
 * keeps the generation read before its mapping was made (gs_maps_stamp);
 * while the generation has not moved, shmdt trusts the attach table.  The
 * bump before covers a call in another thread that runs between the
 * stamp and the mapping; the bump after, one whose bump before came
 * before the stamp.
 *
 * After a call that took pages away (unmapped, moved, or mapped over
 * them), the attaches there of which nothing is left are uncounted at
 * once, as the kernel's shm_close() does at the munmap: a program that
 * unmaps its attach instead of calling shmdt, then removes the segment,
 * sees it destroyed (shmdt.c gs_attaches_unmapped).
 *
 * mprotect(), mlock() and madvise() split an attach into pieces of the
 * same file, which the kernel's shmdt and munmap() of the whole attach
 * both remove alike: they leave this generation alone, and bump
 * attrwatch.c's, which says whether a held attach can be duplicated.
 *
 * The engine's own unmapping of an attach it found whole, and its
 * duplicate of one (shmat.c), bump nothing: neither takes pages from
 * another mapping (gs_unmap_whole_attach, gs_duplicate_mapping).
 *
 * Trusted only where the program's calls reach these definitions
 * (watching, as in creds.c), and never in a Go program: its runtime and
 * its syscall and x/sys/unix packages unmap without the C library, and
 * the engine linked into the executable cannot see them.  Not seen: a
 * system call made without the C library (docs/DIFFERENCES.md).
 */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static struct gs_watch maps = GS_WATCH_INIT;
/* The engine's own unmappings of whole attaches (gs_unmap_whole_attach). */
static uint64_t own_unmaps;

void gs_maps_bump(void) { gs_watch_bump(&maps); }
uint64_t gs_maps_stamp(void) { return gs_watch_stamp(&maps); }
int gs_maps_unchanged(uint64_t stamp) { return gs_watch_unchanged(&maps, stamp); }

/* Which generations syscall(n, ...) may move: GS_WATCH_MAPS for what is
 * mapped where, GS_WATCH_ATTRS for what a mapping is (attrwatch.c). */
int gs_maps_syscall(long n)
{
	switch (n) {
	case SYS_munmap: case SYS_mremap: case SYS_remap_file_pages:
#ifdef SYS_mmap
	case SYS_mmap:
#endif
#ifdef SYS_mmap2
	case SYS_mmap2:
#endif
		return GS_WATCH_MAPS;
	case SYS_mprotect: case SYS_madvise: case SYS_mbind:
	case SYS_mlock: case SYS_munlock: case SYS_mlockall: case SYS_munlockall:
#ifdef SYS_pkey_mprotect
	case SYS_pkey_mprotect:
#endif
#ifdef SYS_mlock2
	case SYS_mlock2:
#endif
#ifdef SYS_set_mempolicy_home_node
	case SYS_set_mempolicy_home_node:
#endif
#ifdef SYS_mseal
	case SYS_mseal:
#endif
		return GS_WATCH_ATTRS;
	}
	return 0;
}

static void bump(int kinds)
{
	if (kinds & GS_WATCH_MAPS)
		gs_maps_bump();
	if (kinds & GS_WATCH_ATTRS)
		gs_attrs_bump();
}

/* mmap64 is watched only where off_t is 64 bits and it takes mmap's
 * arguments; elsewhere it stays the C library's own, and the constructor,
 * finding that, trusts nothing. */
enum { MMAP, MUNMAP, MREMAP, REMAP_FILE_PAGES, MMAP64, NFUNCS };
static const char *const names[NFUNCS] = {"mmap", "munmap", "mremap", "remap_file_pages",
                                          "mmap64"};
static void *next_fn[NFUNCS];

/* The C library's function i (gs_libc_symbol).  Looked up at load, so
 * that a call from a signal handler or a forked child never runs the
 * loader. */
static void *next(int i) { return gs_libc_symbol(&next_fn[i], names[i]); }

/* With a priority: before the Go runtime of libgoshm-go.so starts
 * (capi/runtime_signals.c), whose mmap comes here through cgo.  Looked up
 * any later, from the runtime's thread while the program's dlopen() of the
 * library holds the loader's lock and waits for that runtime, it would
 * wait for the lock. */
__attribute__((constructor(101))) static void gs_mapwatch_resolve(void)
{
	for (int i = 0; i < NFUNCS; i++)
		next(i);
	int all = !gs_in_main_program() && gs_program_binds_all(names, NFUNCS);
	gs_watch_start(&maps, all);
}

/* The C library's function i, or NULL and ENOSYS. */
static void *real(int i)
{
	void *f = next(i);
	if (!f)
		errno = ENOSYS;
	return f;
}

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

/* [addr, addr + len) in whole pages, as the kernel takes a length. */
static void unmapped(uintptr_t addr, size_t len)
{
	uintptr_t page = (uintptr_t)gs_page_size();
	if (len && addr + len > addr)
		gs_attaches_unmapped(addr & ~(page - 1), (addr + len + page - 1) & ~(page - 1));
}

static void *pass_mmap(int i, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	mmap_fn f = (mmap_fn)real(i);
	if (!f)
		return MAP_FAILED;
	if (!(flags & MAP_FIXED))
		return f(addr, len, prot, flags, fd, off);
	gs_watch_bump(&maps);
	void *p = f(addr, len, prot, flags, fd, off);
	gs_watch_bump_after(&maps);
	/* MAP_FIXED_NOREPLACE replaces nothing. */
	if (p != MAP_FAILED && !(flags & MAP_FIXED_NOREPLACE))
		unmapped((uintptr_t)p, len);
	return p;
}

GS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return pass_mmap(MMAP, addr, len, prot, flags, fd, off);
}

#if __SIZEOF_LONG__ == 8
#undef mmap64 /* musl's headers make it mmap; its library still has it */
GS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return pass_mmap(MMAP64, addr, len, prot, flags, fd, off);
}
#endif

GS_EXPORT int munmap(void *addr, size_t len)
{
	int (*f)(void *, size_t) = (int (*)(void *, size_t))real(MUNMAP);
	if (!f)
		return -1;
	gs_watch_bump(&maps);
	int r = f(addr, len);
	gs_watch_bump_after(&maps);
	if (r == 0)
		unmapped((uintptr_t)addr, len);
	return r;
}

/* What an mremap() took away: the old pages it moved or cut off, and
 * whatever was at the new place.  (An old_len of 0 duplicates a shared
 * mapping and takes nothing away there.) */
static void remapped(uintptr_t old, size_t old_len, size_t new_len, uintptr_t now)
{
	if (now != old)
		unmapped(old, old_len);
	else if (new_len < old_len)
		unmapped(old + new_len, old_len - new_len);
	if (now != old || new_len > old_len)
		unmapped(now, new_len);
}

GS_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	void *to = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
	va_end(ap);
	void *(*f)(void *, size_t, size_t, int, ...) =
		(void *(*)(void *, size_t, size_t, int, ...))real(MREMAP);
	if (!f)
		return MAP_FAILED;
	gs_watch_bump(&maps);
	void *p = f(old, old_len, new_len, flags, to);
	gs_watch_bump_after(&maps);
	if (p != MAP_FAILED)
		remapped((uintptr_t)old, old_len, new_len, (uintptr_t)p);
	return p;
}

GS_EXPORT int remap_file_pages(void *addr, size_t size, int prot, size_t pgoff, int flags)
{
	int (*f)(void *, size_t, int, size_t, int) =
		(int (*)(void *, size_t, int, size_t, int))real(REMAP_FILE_PAGES);
	if (!f)
		return -1;
	gs_watch_bump(&maps);
	int r = f(addr, size, prot, pgoff, flags);
	gs_watch_bump_after(&maps);
	return r;
}

/* After syscall(n, a...) returned r: what a watched number took away. */
static void syscall_done(long n, const long *a, long r)
{
	if (r == -1)
		return;
	if (n == SYS_munmap)
		unmapped((uintptr_t)a[0], (size_t)a[1]);
	else if (n == SYS_mremap)
		remapped((uintptr_t)a[0], (size_t)a[1], (size_t)a[2], (uintptr_t)r);
#ifdef SYS_mmap
	else if (n == SYS_mmap && (a[3] & MAP_FIXED) && !(a[3] & MAP_FIXED_NOREPLACE))
		unmapped((uintptr_t)r, (size_t)a[1]);
#endif
}

/* syscall(n, a...) of a number gs_maps_syscall() watches (kinds), through
 * the C library's syscall() f, for creds.c's exported syscall(). */
long gs_maps_pass_syscall(gs_syscall6_fn f, long n, const long *a, int kinds)
{
	int fork_advice = n == SYS_madvise && gs_attrs_fork_advice_begin((int)a[2]);
	bump(kinds);
	long r = f(n, a[0], a[1], a[2], a[3], a[4], a[5]);
	int e = errno;
	bump(kinds);
	if (kinds & GS_WATCH_MAPS)
		syscall_done(n, a, r);
	if (fork_advice)
		gs_attrs_fork_advice_end((void *)a[0], (size_t)a[1], (int)a[2], r);
	errno = e;
	return r;
}

/* The engine unmaps an attach it knows to be mapped whole, as shmat made
 * it (shmdt.c): the pages are the attach's own, so no other attach loses
 * any, and the generation stays -- else every detach would make the
 * process's other attaches ask /proc, and keep them from being
 * duplicated. */
int gs_unmap_whole_attach(uintptr_t addr, size_t len)
{
	int (*f)(void *, size_t) = (int (*)(void *, size_t))real(MUNMAP);
	__atomic_add_fetch(&own_unmaps, 1, __ATOMIC_SEQ_CST);
	return f ? f((void *)addr, len) : -1;
}

/* How many such unmappings the engine has begun: a duplicate made while
 * it moved may be of whatever came to the held attach's place (shmat.c). */
uint64_t gs_own_unmaps(void)
{
	return __atomic_load_n(&own_unmaps, __ATOMIC_SEQ_CST);
}

/* A new mapping of the pages of the shared mapping at addr, len bytes
 * from there, where the kernel finds room (mremap() with an old size of
 * 0): shmat.c's duplicate of a held attach.  It takes nothing away, so
 * the generation stays.  MAP_FAILED, with errno, when the C library's
 * mremap is unknown or the kernel refuses. */
void *gs_duplicate_mapping(uintptr_t addr, size_t len)
{
	void *(*f)(void *, size_t, size_t, int, ...) =
		(void *(*)(void *, size_t, size_t, int, ...))real(MREMAP);
	return f ? f((void *)addr, 0, len, MREMAP_MAYMOVE) : MAP_FAILED;
}
