/*
 * sc_at.h - shmat scenarios (LTP shmat01-04 and more) and the contents of
 * segments: whole pages mapped, zero filled, shared between attaches.
 */
#ifndef CONF_SC_AT_H
#define CONF_SC_AT_H

#include "calls.h"
#include "mem.h"
#include "proc.h"

/* shm_segsz is the size asked for; the mapping covers whole pages. */
static void sc_seg_pages(void)
{
	int id = G(0x7001, 4097, IPC_CREAT | 0600);
	ST(id, NULL);
	char *a = A(id, NULL, 0);
	MAPPED(a, 3);
	ZEROS(a, 8192);
	POKE(a + 8191, 0x5a);
	POKE(a + 4096, 0x11);
	char *b = A(id, NULL, SHM_RDONLY);
	PEEK(b + 8191);
	PEEK(b + 4096);
	PEEK(b);
	pid_t c = child();
	if (c == 0) {
		PEEK(a + 8191);
		POKE(b + 0, 1); /* read-only attach: faults */
		child_exit();
	}
	reap(c);
	ST(id, NULL);
	D(a);
	D(b);
	RM(id);
}

/* New segments read as zeros, also when they reuse a removed one's key
 * and index. */
static void sc_seg_zero(void)
{
	int id = G(0x7101, 3 * 4096, IPC_CREAT | 0600);
	char *a = A(id, NULL, 0);
	ZEROS(a, 3 * 4096);
	memset(a, 0xff, 3 * 4096);
	D(a);
	RM(id);
	id = G(0x7101, 3 * 4096, IPC_CREAT | 0600);
	a = A(id, NULL, 0);
	ZEROS(a, 3 * 4096);
	/* and the contents outlive every detach until IPC_RMID */
	a[100] = 42;
	D(a);
	a = A(id, NULL, SHM_RDONLY);
	PEEK(a + 100);
	D(a);
}

static void sc_at_null(void)
{
	int id = G(IPC_PRIVATE, 10000, 0600);
	char *a = A(id, NULL, 0);
	out("page aligned = %s", ((uintptr_t)a & 4095) ? "no" : "yes");
	MAPPED(a, 3);
	PERMS(a);
	ST(id, NULL);
	char *b = A(id, NULL, 0);
	out("second attach elsewhere = %s", a != b ? "yes" : "no");
	NAT(id);
	D(a);
	D(b);
	NAT(id);
}

/* An address, exact, rounded (SHM_RND) or refused. */
static void sc_at_addr(void)
{
	int id = G(IPC_PRIVATE, 8192, 0600);
	char *r = reserve(2);
	char *a = A(id, r, 0);
	MAPPED(r, 2);
	D(a);
	r = reserve(2);
	A(id, r + 123, 0);
	A(id, r + 123, SHM_RDONLY);
	a = A(id, r + 123, SHM_RND);
	D(a);
	A(id, r + 4095, SHM_RND | SHM_RDONLY);
	D(r);
	A(id, (void *)1, 0);
	A(id, (void *)4095, 0);
	A(id, NULL, SHM_REMAP);
	A(id, NULL, SHM_REMAP | SHM_RND);
	A(id, (void *)1, SHM_RND | SHM_REMAP);
	A(id, (void *)4095, SHM_RND | SHM_REMAP);
	/* Addresses that cannot be mapped. */
	A(id, (void *)(uintptr_t)0xfffffffffffff000ull, 0);
	A(id, (void *)(uintptr_t)0xfffffffffffff000ull, SHM_REMAP);
	A(id, (void *)(uintptr_t)0x800000000000ull, 0);
	A(id, (void *)(uintptr_t)0x7ffffffff000ull, 0);
	NAT(id);
}

/* SHM_RND down to address 0 without SHM_REMAP: a fixed mapping at 0,
 * which mmap_min_addr refuses to the unprivileged. */
static void sc_at_rnd_zero(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	void *p = A(id, (void *)1, SHM_RND);
	if (p != (void *)-1)
		D(p);
	A(id, (void *)4096, 0);
	NAT(id);
}

/* Attaching over a mapping: EINVAL without SHM_REMAP, replaced with it. */
static void sc_at_overlap(void)
{
	int x = G(IPC_PRIVATE, 3 * 4096, 0600);
	int y = G(IPC_PRIVATE, 4096, 0600);
	char *r = reserve(3);
	char *a = A(x, r, 0);
	memset(a, 'x', 3 * 4096);
	A(y, a, 0);
	A(y, a + 4096, 0);
	A(y, a + 8192, SHM_RDONLY);
	A(x, a - 4096, 0);          /* overlaps the first page */
	NAT(x);
	NAT(y);
	char *m = anon(NULL, 2);
	A(y, m, 0);
	A(y, m + 4096, 0);
	A(y, m, SHM_REMAP);         /* replaces anonymous memory */
	NAT(y);
	D(m);
	MAPPED(m, 2);
	ST(y, NULL);
}

/* SHM_REMAP over a whole attach: the old attach is gone. */
static void sc_at_remap_whole(void)
{
	int x = G(IPC_PRIVATE, 4096, 0600);
	int y = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(x, NULL, 0);
	a[0] = 'x';
	char *b = A(y, a, SHM_REMAP);
	out("content = %c", b[0] ? b[0] : '0');
	NAT(x);
	NAT(y);
	ST(x, NULL);                 /* the replaced attach counts as a detach */
	D(a);
	NAT(x);
	NAT(y);
	D(a);
	/* and a segment remapped over itself */
	a = A(x, NULL, 0);
	A(x, a, SHM_REMAP);
	NAT(x);
	D(a);
	NAT(x);
	D(a);
	NAT(x);
	/* a removed segment whose last attach is replaced is destroyed */
	a = A(x, NULL, 0);
	RM(x);
	A(y, a, SHM_REMAP);
	ST(x, NULL);
	SINFO();
	D(a);
}

/* SHM_REMAP over part of an attach (LTP shmat04-like). */
static void sc_at_remap_part(void)
{
	int x = G(IPC_PRIVATE, 3 * 4096, 0600);
	int y = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(x, NULL, 0);
	memset(a, 'x', 3 * 4096);
	A(y, a + 4096, SHM_REMAP);
	MAPPED(a, 3);
	out("contents = %c%c%c", a[0], a[4096] ? a[4096] : '0', a[8192]);
	NAT(x);
	NAT(y);
	D(a);
	MAPPED(a, 3);
	NAT(x);
	NAT(y);
	D(a + 4096);
	NAT(y);
}

/* SHM_RDONLY: readable, not writable, and mprotect cannot make it so. */
static void sc_at_rdonly(void)
{
	int id = G(IPC_PRIVATE, 8192, 0600);
	char *w = A(id, NULL, 0);
	w[1] = 9;
	char *r = A(id, NULL, SHM_RDONLY);
	PERMS(r);
	PEEK(r + 1);
	MPROTECT(r, 1, PROT_READ | PROT_WRITE);
	MPROTECT(r, 2, PROT_WRITE);
	MPROTECT(r, 1, PROT_NONE);
	MPROTECT(r, 1, PROT_READ);
	PERMS(r);
	TRY_WRITE(r + 4096);
	TRY_WRITE(w + 4096);
	MPROTECT(w, 1, PROT_READ);
	TRY_WRITE(w);
	MPROTECT(w, 1, PROT_READ | PROT_WRITE);
	TRY_WRITE(w);
	PERMS(w);
	D(r);
	D(w);
	NAT(id);
}

/* SHM_EXEC asks for execute permission and maps executable. */
static void sc_at_exec(void)
{
	int rw = G(0x7201, 4096, IPC_CREAT | 0600);
	int rwx = G(0x7202, 4096, IPC_CREAT | 0700);
	char *a = A(rwx, NULL, SHM_EXEC);
	PERMS(a);
	char *b = A(rwx, NULL, SHM_EXEC | SHM_RDONLY);
	PERMS(b);
	char *c = A(rw, NULL, SHM_EXEC);
	PERMS(c);
	MPROTECT(a, 1, PROT_READ);
	MPROTECT(a, 1, PROT_READ | PROT_EXEC);
	char *d = A(rw, NULL, 0);
	MPROTECT(d, 1, PROT_READ | PROT_EXEC | PROT_WRITE);
	PERMS(d);
	NAT(rwx);
	NAT(rw);
}

/* Ids that name nothing. */
static void sc_at_badid(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	A(-1, NULL, 0);
	A(INT_MIN, NULL, 0);
	A(-1, (void *)1, 0);        /* the id is checked first */
	A(id + 1, NULL, 0);
	A(id + (1 << 15), NULL, 0);  /* right index, wrong sequence */
	A(4095, NULL, 0);
	A(4096, NULL, 0);
	A(32767, NULL, 0);
	A(INT_MAX, NULL, 0);
	RM(id);
	A(id, NULL, 0);
	A(id, NULL, SHM_RDONLY);
	A(id, (void *)123, 0);
}

/* Permissions at attach: read for SHM_RDONLY, read and write otherwise. */
static void sc_at_perms(void)
{
	int ro = G(0x7301, 4096, IPC_CREAT | 0444);
	int wo = G(0x7302, 4096, IPC_CREAT | 0200);
	int none = G(0x7303, 4096, IPC_CREAT | 0);
	A(ro, NULL, 0);
	A(ro, NULL, SHM_RDONLY);
	A(wo, NULL, 0);
	A(wo, NULL, SHM_RDONLY);
	A(none, NULL, SHM_RDONLY);
	A(none, (void *)1, 0);       /* EINVAL (address) before EACCES */
	A(none, NULL, SHM_REMAP);
	int own = G(IPC_PRIVATE, 4096, 0600);
	char *taken = A(own, NULL, 0);
	A(none, taken, 0);           /* EACCES before the overlap's EINVAL */
	A(ro, taken, 0);
	A(ro, taken, SHM_RDONLY);
	NAT(ro);
	NAT(wo);
	NAT(none);
}

/* The same checks for another user, with the segments made by root. */
static void sc_at_perms_other(void)
{
	int ro = G(0x7401, 4096, IPC_CREAT | 0444);
	int rw = G(0x7402, 4096, IPC_CREAT | 0606);
	int own = G(0x7403, 4096, IPC_CREAT | 0600);
	pid_t c = child_as(1000, 1000);
	if (c == 0) {
		A(ro, NULL, 0);
		A(ro, NULL, SHM_RDONLY);
		char *p = A(rw, NULL, 0);
		POKE(p, 1);
		D(p);
		A(own, NULL, SHM_RDONLY);
		A(own, NULL, SHM_EXEC | SHM_RDONLY);
		ST(own, NULL);
		ST(rw, NULL);
		child_exit();
	}
	reap(c);
	NAT(rw);
	ST(rw, NULL);
}

/* Many attaches of one segment count one each. */
static void sc_at_count(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *p[6];
	for (int i = 0; i < 6; i++)
		p[i] = A(id, NULL, i & 1 ? SHM_RDONLY : 0);
	NAT(id);
	p[0][0] = 5;
	PEEK(p[5]);
	for (int i = 0; i < 6; i++) {
		D(p[i]);
		NAT(id);
	}
	ST(id, NULL);
}

/* SHM_REMAP changes an attach between read-only and read-write. */
static void sc_at_remap_rdonly(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, SHM_RDONLY);
	PERMS(a);
	A(id, a, SHM_REMAP);
	PERMS(a);
	POKE(a, 1);
	A(id, a, SHM_REMAP | SHM_RDONLY);
	PERMS(a);
	TRY_WRITE(a);
	NAT(id);
	D(a);
	NAT(id);
	D(a);
}

/* At the top of the address space the kernel checks addr + shm_segsz for
 * overflow (EINVAL) -- the size asked for, not whole pages -- and leaves
 * the rest to mmap (ENOMEM). */
static void sc_at_addr_top(void)
{
	char *top = (char *)(uintptr_t)0xfffffffffffff000ull;
	int small = G(IPC_PRIVATE, 100, 0600);
	int page = G(IPC_PRIVATE, 4096, 0600);
	int two = G(IPC_PRIVATE, 4097, 0600);
	A(small, top, 0);
	A(small, top, SHM_RDONLY | SHM_RND);
	A(small, top + 123, SHM_RND);
	A(page, top, 0);
	A(two, top, 0);
	A(two, top - 4096, 0);
	A(two, top - 8192, 0);
	A(small, top, SHM_REMAP);
	A(page, top, SHM_REMAP);
	A(small, (void *)(uintptr_t)0x7ffffffff000ull, 0);
	A(page, (void *)(uintptr_t)0x7ffffffff000ull, 0);
	A(two, (void *)(uintptr_t)0x7fffffffe000ull, 0);
}

#endif /* CONF_SC_AT_H */
