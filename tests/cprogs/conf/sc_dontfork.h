/*
 * sc_dontfork.h - attaches that madvise(MADV_DONTFORK) keeps out of a
 * child.
 *
 * The kernel does not copy such a mapping into a child: the child has
 * nothing at its address (shmdt there is EINVAL, and the address is free
 * for its own mappings), and shm_nattch does not count it while the child
 * lives.  goshm's table of attaches is memory the child inherits, and each
 * attach's presence attach is a mapping of its own: the library gives the
 * presence attach the same advice and drops such attaches from a child's
 * table (capi/engine/attach_table.c gs_table_fork_advice_locked).
 * MADV_DOFORK brings the attach back into later children.
 */
#ifndef CONF_SC_DONTFORK_H
#define CONF_SC_DONTFORK_H

#include "calls.h"
#include "mem.h"
#include "proc.h"

#include <sys/syscall.h>

/* madvise() of n pages at p, by the C library's function or syscall(). */
CONF_FN void FORK_ADVICE(void *p, size_t pages, int advice, int by_syscall)
{
	const char *arg = addr_name(p);
	long r = by_syscall ? syscall(SYS_madvise, p, pages * PAGE, advice)
	                    : madvise(p, pages * PAGE, advice);
	out("%smadvise(%s, %zu pages, %s) = %s", by_syscall ? "syscall " : "", arg, pages,
	    advice == MADV_DONTFORK ? "DONTFORK" : "DOFORK", r < 0 ? fail(errno) : "0");
}

/* A child of a process holding attach a (left out of children) and b
 * (not): the count, its own memory mapped at a's address, which a detach
 * there must leave alone, and an attach and detach of its own. */
static void dontfork_child(int id, char *a, char *b)
{
	pid_t c = child();
	if (c == 0) {
		NAT(id);
		MAPPED(a, 1);
		anon(a, 1);
		POKE(a, 6);
		D(a);
		PEEK(a);
		MUNMAP(a, 1);
		D(a);
		PEEK(b);
		char *e = A(id, NULL, 0);
		PEEK(e);
		NAT(id);
		D(e);
		D(b);
		NAT(id);
		child_exit();
	}
	reap(c);
}

static void dontfork_run(int by_syscall)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	POKE(a, 9);
	FORK_ADVICE(a, 1, MADV_DONTFORK, by_syscall);
	char *b = A(id, NULL, 0);
	NAT(id);
	dontfork_child(id, a, b);
	NAT(id);
	/* Back into children. */
	FORK_ADVICE(a, 1, MADV_DOFORK, by_syscall);
	pid_t c = child();
	if (c == 0) {
		NAT(id);
		PEEK(a);
		D(a);
		NAT(id);
		child_exit();
	}
	reap(c);
	NAT(id);
	D(a);
	D(b);
	NAT(id);
}

static void sc_at_dontfork(void) { dontfork_run(0); }
static void sc_at_dontfork_syscall(void) { dontfork_run(1); }

/* shm_nattch less base, said without the count itself: where an advice
 * on part of an attach cut it in two, the kernel counts each piece, goshm
 * the attach (docs/DIFFERENCES.md, VMA fragments), and only what a child
 * adds to its parent's count can be compared. */
CONF_FN long nattch_quiet(int id)
{
	struct shmid_ds d;
	return shmctl(id, IPC_STAT, &d) == 0 ? (long)d.shm_nattch : -1;
}

CONF_FN void NAT_OVER(int id, long base)
{
	out("nattch(%s) over the parent's = %+ld", id_name(id), nattch_quiet(id) - base);
}

/* The advice on part of an attach: the child inherits the rest, which
 * counts, and which shmdt at the attach's address detaches; on the rest
 * too, by a second call, the child inherits nothing. */
static void sc_at_dontfork_part(void)
{
	int id = G(IPC_PRIVATE, 3 * 4096, 0600);
	char *a = A(id, NULL, 0);
	POKE(a + 4096, 4);
	FORK_ADVICE(a, 1, MADV_DONTFORK, 0);
	long base = nattch_quiet(id);
	pid_t c = child();
	if (c == 0) {
		NAT_OVER(id, base);
		MAPPED(a, 3);
		PEEK(a + 4096);
		D(a);
		MAPPED(a, 3);
		NAT_OVER(id, base);
		child_exit();
	}
	reap(c);
	NAT_OVER(id, base);
	FORK_ADVICE(a + 4096, 2, MADV_DONTFORK, 0);
	base = nattch_quiet(id);
	c = child();
	if (c == 0) {
		NAT_OVER(id, base);
		MAPPED(a, 3);
		D(a);
		char *e = A(id, NULL, 0);
		PEEK(e + 4096);
		NAT_OVER(id, base);
		D(e);
		NAT_OVER(id, base);
		child_exit();
	}
	reap(c);
	NAT_OVER(id, base);
	/* A third call, on the whole attach, takes the advice back; the
	 * kernel's pieces stay pieces, and the child's detach takes them
	 * all. */
	FORK_ADVICE(a, 3, MADV_DOFORK, 0);
	base = nattch_quiet(id);
	c = child();
	if (c == 0) {
		MAPPED(a, 3);
		PEEK(a + 4096);
		D(a);
		NAT_OVER(id, base);
		child_exit();
	}
	reap(c);
	D(a);
	NAT(id);
}

/* A call that fails half-way (ENOMEM: the range runs past the attach into
 * pages nothing maps) still gives the advice to what it reached. */
static void sc_at_dontfork_enomem(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *r = reserve(4);
	char *a = A(id, r, 0);
	FORK_ADVICE(a, 3, MADV_DONTFORK, 0);
	pid_t c = child();
	if (c == 0) {
		NAT(id);
		MAPPED(a, 1);
		D(a);
		child_exit();
	}
	reap(c);
	NAT(id);
	D(a);
	NAT(id);
}

#endif
