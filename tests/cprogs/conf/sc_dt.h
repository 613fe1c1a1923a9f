/*
 * sc_dt.h - shmdt scenarios (LTP shmdt01-02 and more): addresses that are
 * not the start of an attach, and attaches that the program cut up with
 * munmap() or mprotect() before detaching them.
 *
 * The kernel counts VMAs in shm_nattch, so cutting an attach changes its
 * count; goshm counts attaches (docs/DIFFERENCES.md, "VMA fragments").
 * The counts are printed on "nattch" lines of their own so that the test's
 * list of known differences names exactly those lines.
 */
#ifndef CONF_SC_DT_H
#define CONF_SC_DT_H

#include <sys/syscall.h>
#include <unistd.h>

#include "calls.h"
#include "mem.h"
#include "proc.h"

static void sc_dt_einval(void)
{
	int id = G(IPC_PRIVATE, 3 * 4096, 0600);
	char *a = A(id, NULL, 0);
	D(a + 1);
	D(a + 4096);
	D(a + 3 * 4096);
	D(a - 4096);
	D(NULL);
	D((void *)(uintptr_t)0xfffffffffffff000ull);
	char *m = anon(NULL, 1);
	D(m);
	char stack[1];
	out("shmdt(stack) = %s", shmdt(stack) < 0 ? fail(errno) : "0");
	NAT(id);
	D(a);
	D(a);
	NAT(id);
	MAPPED(a, 3);
}

/* munmap() of the first page: shmdt() of the attach address still finds
 * and detaches the rest. */
static void sc_dt_munmap_first(void)
{
	int id = G(IPC_PRIVATE, 3 * 4096, 0600);
	char *a = A(id, NULL, 0);
	MUNMAP(a, 1);
	NAT(id);
	D(a + 4096);
	D(a);
	MAPPED(a, 3);
	NAT(id);
	D(a);
}

static void sc_dt_munmap_middle(void)
{
	int id = G(IPC_PRIVATE, 3 * 4096, 0600);
	char *a = A(id, NULL, 0);
	MUNMAP(a + 4096, 1);
	NAT(id);
	D(a + 8192);
	D(a);
	MAPPED(a, 3);
	NAT(id);
}

static void sc_dt_munmap_last(void)
{
	int id = G(IPC_PRIVATE, 3 * 4096, 0600);
	char *a = A(id, NULL, 0);
	MUNMAP(a + 8192, 1);
	NAT(id);
	D(a);
	MAPPED(a, 3);
	NAT(id);
}

/* munmap() of the whole attach: the kernel uncounts it at once, and so
 * does goshm, which watches munmap (capi/engine/mapwatch.c); the shmdt()
 * of that address fails after it. */
static void sc_dt_munmap_whole(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	MUNMAP(a, 2);
	NAT(id);
	D(a);
	NAT(id);
}

/* mprotect() of a middle page splits the attach into three VMAs. */
static void sc_dt_mprotect_middle(void)
{
	int id = G(IPC_PRIVATE, 3 * 4096, 0600);
	char *a = A(id, NULL, 0);
	MPROTECT(a + 4096, 1, PROT_READ);
	NAT(id);
	PERMS(a + 4096);
	D(a + 4096);
	D(a);
	MAPPED(a, 3);
	NAT(id);
}

/* A hole the program filled with its own mapping is not ours to unmap. */
static void sc_dt_hole_refilled(void)
{
	int id = G(IPC_PRIVATE, 3 * 4096, 0600);
	char *a = A(id, NULL, 0);
	MUNMAP(a + 4096, 1);
	char *m = anon(a + 4096, 1);
	if (m)
		m[0] = 'm';
	D(a);
	MAPPED(a, 3);
	PEEK(a + 4096);
	NAT(id);
}

/* Another segment attached into the hole stays attached. */
static void sc_dt_hole_other_segment(void)
{
	int x = G(IPC_PRIVATE, 3 * 4096, 0600);
	int y = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(x, NULL, 0);
	MUNMAP(a + 4096, 1);
	A(y, a + 4096, 0);
	D(a);
	MAPPED(a, 3);
	NAT(x);
	NAT(y);
	D(a + 4096);
	NAT(y);
}

/* The same segment attached twice, one after the other in memory:
 * detaching one leaves the other. */
static void sc_dt_adjacent(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *r = reserve(4);
	char *a = A(id, r, 0);
	char *b = A(id, r + 8192, 0);
	NAT(id);
	D(b);
	MAPPED(r, 4);
	NAT(id);
	b = A(id, r + 8192, 0);
	D(a);
	MAPPED(r, 4);
	D(b);
	NAT(id);
}

/* Detach in a child: the parent's attach is its own. */
static void sc_dt_in_child(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	a[0] = 1;
	pid_t c = child();
	if (c == 0) {
		NAT(id);
		D(a);
		NAT(id);
		D(a);
		child_exit();
	}
	reap(c);
	NAT(id);
	PEEK(a);
	D(a);
	NAT(id);
}

/* mremap() moves an attach: the kernel finds it at its new address (the
 * VMA's offset matches), and not at the old one. */
static void sc_dt_mremap(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	a[0] = 'm';
	char *r = reserve(2);
	char *b = mremap(a, 2 * 4096, 2 * 4096, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	out("mremap(%s, 2 pages, to %s) = %s", addr_name(a), addr_name(r),
	    b == MAP_FAILED ? fail(errno) : addr_name(b));
	if (b == MAP_FAILED)
		return;
	NAT(id);
	PEEK(b);
	D(a);
	NAT(id);
	D(b);
	MAPPED(b, 2);
	NAT(id);
	D(b);
}

/*
 * The whole attach unmapped and the program's own mapping put in its
 * place: shmdt() of the address finds no attach there, and the program's
 * mapping stays.  goshm trusts its attach table only while nothing was
 * unmapped, moved or mapped over since the attach (mapwatch.c): each
 * variant changes the mappings by another route that must be seen --
 * the C library's functions, syscall() with their numbers, mremap().
 */
static void refill(char *a, size_t pages)
{
	char *m = anon(a, pages);
	if (m)
		m[0] = 'p';
}

static void after_refill(int id, char *a, size_t pages)
{
	D(a);
	MAPPED(a, pages);
	PEEK(a);
	NAT(id);
}

static void sc_dt_whole_refilled(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	MUNMAP(a, 2);
	refill(a, 2);
	after_refill(id, a, 2);
}

static void sc_dt_syscall_refilled(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	SYS_MUNMAP(a, 2);
	void *m = (void *)syscall(SYS_mmap, a, 2 * 4096, PROT_READ | PROT_WRITE,
	                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	out("syscall(SYS_mmap, %s, 2 pages, anonymous) = %s", addr_name(a),
	    m == MAP_FAILED ? fail(errno) : addr_name(m));
	if (m != MAP_FAILED)
		a[0] = 'p';
	after_refill(id, a, 2);
}

/* A new mapping over the attach, without unmapping it first. */
static void sc_dt_mapped_over(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	refill(a, 2);
	after_refill(id, a, 2);
}

static void sc_dt_mremap_refilled(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	a[0] = 'm';
	char *r = reserve(2);
	char *b = mremap(a, 2 * 4096, 2 * 4096, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	out("mremap(%s, 2 pages, to %s) = %s", addr_name(a), addr_name(r),
	    b == MAP_FAILED ? fail(errno) : addr_name(b));
	if (b == MAP_FAILED)
		return;
	refill(a, 2);
	after_refill(id, a, 2);
	PEEK(b);
	D(b);
	NAT(id);
}

/*
 * A removed segment whose last attach the program unmapped itself, by
 * each route: the kernel destroys it at once (its id is gone), and so does
 * goshm.  In a child, the parent's attach still counts.
 */
static void sc_dt_munmap_rmid(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	RM(id);
	MUNMAP(a, 2);
	ST(id, NULL);
}

static void sc_dt_syscall_munmap_rmid(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	RM(id);
	SYS_MUNMAP(a, 2);
	ST(id, NULL);
}

static void sc_dt_mapped_over_rmid(void)
{
	int id = G(IPC_PRIVATE, 2 * 4096, 0600);
	char *a = A(id, NULL, 0);
	RM(id);
	refill(a, 2);
	ST(id, NULL);
	PEEK(a);
}

static void sc_dt_munmap_in_child(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	a[0] = 'c';
	pid_t c = child();
	if (c == 0) {
		NAT(id);
		MUNMAP(a, 1);
		NAT(id);
		D(a);
		child_exit();
	}
	reap(c);
	NAT(id);
	PEEK(a);
	RM(id);
	MUNMAP(a, 1);
	ST(id, NULL);
}

#endif /* CONF_SC_DT_H */
