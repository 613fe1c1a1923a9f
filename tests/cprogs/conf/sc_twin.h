/*
 * sc_twin.h - a second attach of a segment the process holds attached.
 *
 * goshm makes it as a duplicate of the held attach's mapping
 * (capi/engine/shmat.c map_twin), which takes the held mapping's
 * protection, lock and madvise() flags: each scenario changes one of them
 * on the held attach, by the C library's function or by syscall(), and
 * shows that the new attach is still what the kernel's shmat makes --
 * writable, unlocked, inherited by a child (capi/engine/attrwatch.c).
 * The modes do not mix: an attach of the other mode is never a duplicate.
 */
#ifndef CONF_SC_TWIN_H
#define CONF_SC_TWIN_H

#include "calls.h"
#include "mem.h"
#include "proc.h"

#include <sys/syscall.h>

/* Whether the mapping at p has VmFlags flag in /proc/self/smaps ("lo"
 * locked, "dc" not inherited by fork). */
CONF_FN void VMFLAG(const void *p, const char *flag)
{
	char line[512];
	int inside = 0, has = -1;
	uintptr_t a = (uintptr_t)p;
	FILE *f = fopen("/proc/self/smaps", "re");
	while (f && has < 0 && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			inside = a >= lo && a < hi;
		else if (inside && !strncmp(line, "VmFlags:", 8)) {
			char want[8];
			snprintf(want, sizeof want, " %s", flag);
			has = strstr(line + 8, want) != NULL;
		}
	}
	if (f)
		fclose(f);
	out("vmflag(%s, %s) = %s", addr_name(p), flag, has < 0 ? "no mapping" : has ? "yes" : "no");
}

/* Read a byte in a child: its value, or how the child died. */
CONF_FN void CHILD_PEEK(const void *p)
{
	out("peek(%s) in a child", addr_name(p));
	pid_t c = child();
	if (c == 0) {
		PEEK(p);
		child_exit();
	}
	reap(c);
}

/* Held read-only by mprotect(), the new attach is writable. */
static void sc_at_twin_mprotect(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	POKE(a, 7);
	MPROTECT(a, 2, PROT_READ);
	char *b = A(id, NULL, 0);
	PERMS(b);
	TRY_WRITE(b);
	PEEK(a);
	MPROTECT(a, 2, PROT_READ | PROT_WRITE);
	char *c = A(id, NULL, 0);
	PERMS(c);
	TRY_WRITE(c + 4096);
	PEEK(b + 4096);
	D(b);
	D(c);
	D(a);
	NAT(id);
}

static void sc_at_twin_syscall_mprotect(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	long r = syscall(SYS_mprotect, a, 4096, PROT_NONE);
	out("syscall(SYS_mprotect, %s, 1 page, NONE) = %s", addr_name(a), r < 0 ? fail(errno) : "0");
	char *b = A(id, NULL, 0);
	PERMS(b);
	TRY_WRITE(b);
	PEEK(b);
	D(a);
	D(b);
	NAT(id);
}

/* The modes: a read-only attach next to a writable one, each way round,
 * and mprotect() asking for what the attach's mode does not allow. */
static void sc_at_twin_modes(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *r1 = A(id, NULL, SHM_RDONLY);
	char *r0 = A(id, NULL, SHM_RDONLY);
	PERMS(r0);
	TRY_WRITE(r0);
	MPROTECT(r0, 1, PROT_READ | PROT_WRITE);
	D(r0);
	char *w1 = A(id, NULL, 0);
	PERMS(w1);
	TRY_WRITE(w1);
	MPROTECT(r1, 1, PROT_READ | PROT_WRITE);
	char *r2 = A(id, NULL, SHM_RDONLY);
	PERMS(r2);
	PEEK(r2);
	TRY_WRITE(r2);
	MPROTECT(r2, 1, PROT_READ | PROT_WRITE);
	char *w2 = A(id, NULL, 0);
	PERMS(w2);
	TRY_WRITE(w2);
	D(r1);
	D(w1);
	D(r2);
	D(w2);
	NAT(id);
}

/* MADV_DONTFORK on the held attach: a child still has the new one. */
static void sc_at_twin_dontfork(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	POKE(a, 5);
	int r = madvise(a, 4096, MADV_DONTFORK);
	out("madvise(%s, 1 page, DONTFORK) = %s", addr_name(a), r < 0 ? fail(errno) : "0");
	char *b = A(id, NULL, 0);
	VMFLAG(a, "dc");
	VMFLAG(b, "dc");
	CHILD_PEEK(b);
	CHILD_PEEK(a);
	NAT(id);
	D(b);
	D(a);
	NAT(id);
}

/* mlock() on the held attach, then mlockall(MCL_FUTURE), which locks
 * every mapping made afterwards: the new attach is locked only then. */
static void sc_at_twin_mlock(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	int r = mlock(a, 4096);
	out("mlock(%s, 1 page) = %s", addr_name(a), r < 0 ? fail(errno) : "0");
	char *b = A(id, NULL, 0);
	VMFLAG(a, "lo");
	VMFLAG(b, "lo");
	D(b);
	r = munlock(a, 4096);
	out("munlock(%s, 1 page) = %s", addr_name(a), r < 0 ? fail(errno) : "0");
	r = mlockall(MCL_FUTURE);
	out("mlockall(MCL_FUTURE) = %s", r < 0 ? fail(errno) : "0");
	char *c = A(id, NULL, 0);
	VMFLAG(c, "lo");
	char *d = A(id, NULL, 0);
	VMFLAG(d, "lo");
	r = munlockall();
	out("munlockall() = %s", r < 0 ? fail(errno) : "0");
	char *e = A(id, NULL, 0);
	VMFLAG(e, "lo");
	D(c);
	D(d);
	D(e);
	D(a);
	NAT(id);
}

/* A child attaches the segment its parent's attach, now also its own,
 * holds: one attach detached, one left to the exit.  The counts are the
 * kernel's at each step. */
static void sc_at_twin_child(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	POKE(a, 3);
	pid_t c = child();
	if (c == 0) {
		char *b = A(id, NULL, 0);
		PEEK(b);
		POKE(b, 4);
		NAT(id);
		D(b);
		NAT(id);
		char *d = A(id, NULL, 0);
		PEEK(d);
		NAT(id);
		child_exit();
	}
	reap(c);
	NAT(id);
	PEEK(a);
	char *e = A(id, NULL, 0);
	PEEK(e);
	NAT(id);
	D(a);
	D(e);
	NAT(id);
}

/* The calls attrwatch.c interposes pass every argument and answer on:
 * each with good and bad arguments, its return value and errno (or, for
 * posix_madvise, the error number it returns) as the C library's. */
static void sc_at_twin_calls(void)
{
	char *p = anon(NULL, 2);
	if (!p)
		return;
	char *odd = p + 1;
	out("mprotect(R) = %s", mprotect(p, PAGE, PROT_READ) ? fail(errno) : "0");
	out("mprotect(odd) = %s", mprotect(odd, PAGE, PROT_READ) ? fail(errno) : "0");
	out("mprotect(bad prot) = %s", mprotect(p, PAGE, 0x1000) ? fail(errno) : "0");
	int rw = PROT_READ | PROT_WRITE;
	out("pkey_mprotect(RW, -1) = %s", conf_pkey_mprotect(p, PAGE, rw, -1) ? fail(errno) : "0");
	out("pkey_mprotect(RW, 99) = %s", conf_pkey_mprotect(p, PAGE, rw, 99) ? fail(errno) : "0");
	out("madvise(DONTNEED) = %s", madvise(p, PAGE, MADV_DONTNEED) ? fail(errno) : "0");
	out("madvise(RANDOM) = %s", madvise(p, PAGE, MADV_RANDOM) ? fail(errno) : "0");
	out("madvise(odd) = %s", madvise(odd, PAGE, MADV_RANDOM) ? fail(errno) : "0");
	out("madvise(bad advice) = %s", madvise(p, PAGE, 12345) ? fail(errno) : "0");
	int e = posix_madvise(p, PAGE, POSIX_MADV_SEQUENTIAL);
	out("posix_madvise(SEQUENTIAL) = %s", e ? fail(e) : "0");
	e = posix_madvise(odd, PAGE, POSIX_MADV_RANDOM);
	out("posix_madvise(odd) = %s", e ? fail(e) : "0");
	e = posix_madvise(p, PAGE, POSIX_MADV_WILLNEED);
	out("posix_madvise(WILLNEED) = %s", e ? fail(e) : "0");
	out("mlock = %s", mlock(p, PAGE) ? fail(errno) : "0");
	out("munlock = %s", munlock(p, PAGE) ? fail(errno) : "0");
	out("mlock2(ONFAULT) = %s", mlock2(p, PAGE, MLOCK_ONFAULT) ? fail(errno) : "0");
	out("mlock2(bad flags) = %s", mlock2(p, PAGE, 0x40) ? fail(errno) : "0");
	out("munlock = %s", munlock(p, PAGE) ? fail(errno) : "0");
	out("mlockall(bad flags) = %s", mlockall(0) ? fail(errno) : "0");
	out("munlockall = %s", munlockall() ? fail(errno) : "0");
	MUNMAP(p, 2);
	out("mprotect(unmapped) = %s", mprotect(p, PAGE, PROT_READ) ? fail(errno) : "0");
	out("mlock(unmapped) = %s", mlock(p, PAGE) ? fail(errno) : "0");
}

#endif /* CONF_SC_TWIN_H */
