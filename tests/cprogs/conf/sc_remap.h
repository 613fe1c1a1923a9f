/*
 * sc_remap.h - SHM_REMAP over part of an attach, then shmdt at each of its
 * addresses (issue 14, defect 13).
 *
 * A three-page attach of x is partly covered by a SHM_REMAP attach of a
 * one-page segment y, at its first, middle or last page; then shmdt at the
 * attach's start, at the remapped page and at the pages after it, in two
 * orders.  The kernel's rule (ipc/shm.c, ksys_shmdt): shmdt(addr) unmaps
 * the first shm mapping at or above addr whose file offset equals its
 * distance from addr, and every later piece of that same segment within
 * the segment's size; EINVAL when there is none.  Return values and the
 * pages that stay mapped must be the kernel's; nattch may differ, since
 * the kernel counts the pieces (docs/DIFFERENCES.md, "VMA fragments"), so
 * it is printed on lines of its own.
 */
#ifndef CONF_SC_REMAP_H
#define CONF_SC_REMAP_H

#include "calls.h"
#include "mem.h"
#include "proc.h"

/* Each page: '-' not mapped, else its first byte. */
CONF_FN void LAYOUT(const char *a, size_t pages)
{
	char s[16];
	size_t i;
	for (i = 0; i < pages && i < sizeof s - 1; i++) {
		unsigned char v;
		s[i] = mincore((char *)a + i * PAGE, PAGE, &v) == 0 ? a[i * PAGE] : '-';
	}
	s[i] = 0;
	out("layout(%s, %zu pages) = %s", addr_name(a), pages, s);
}

/* x: three pages reading 'a', 'b', 'c'; y: one page reading 'y',
 * remapped over page `page` of x's attach, which it returns. */
static char *remap_part(int *x, int *y, int page)
{
	*x = G(IPC_PRIVATE, 3 * 4096, 0600);
	*y = G(IPC_PRIVATE, 4096, 0600);
	char *r = reserve(3);
	char *a = A(*x, r, 0);
	if (a == (char *)-1)
		exit(70);
	a[0] = 'a';
	a[4096] = 'b';
	a[8192] = 'c';
	char *b = A(*y, a + page * 4096, SHM_REMAP);
	if (b != (char *)-1)
		b[0] = 'y';
	LAYOUT(a, 3);
	NAT(*x);
	NAT(*y);
	return a;
}

static void detach_and_show(const char *at, const char *a, int x, int y)
{
	D(at);
	LAYOUT(a, 3);
	NAT(x);
	NAT(y);
}

/* Order A: the attach's start first, then the remapped page, then the
 * pages after it, then the start again. */
static void remap_part_start_first(int page)
{
	int x, y;
	char *a = remap_part(&x, &y, page);
	detach_and_show(a, a, x, y);
	detach_and_show(a + page * 4096, a, x, y);
	for (int p = page + 1; p < 3; p++)
		detach_and_show(a + p * 4096, a, x, y);
	detach_and_show(a, a, x, y);
	RM(x);
	RM(y);
	SINFO();
}

/* Order B: the remapped page first, then the pages after it, then the
 * start, twice. */
static void remap_part_page_first(int page)
{
	int x, y;
	char *a = remap_part(&x, &y, page);
	detach_and_show(a + page * 4096, a, x, y);
	for (int p = page + 1; p < 3; p++)
		detach_and_show(a + p * 4096, a, x, y);
	detach_and_show(a, a, x, y);
	detach_and_show(a, a, x, y);
	RM(x);
	RM(y);
	SINFO();
}

static void sc_at_remap_first_a(void) { remap_part_start_first(0); }
static void sc_at_remap_middle_a(void) { remap_part_start_first(1); }
static void sc_at_remap_last_a(void) { remap_part_start_first(2); }
static void sc_at_remap_first_b(void) { remap_part_page_first(0); }
static void sc_at_remap_middle_b(void) { remap_part_page_first(1); }
static void sc_at_remap_last_b(void) { remap_part_page_first(2); }

/* x removed while cut in two: it lives until its last piece goes. */
static void sc_at_remap_middle_rmid(void)
{
	int x, y;
	char *a = remap_part(&x, &y, 1);
	RM(x);
	ST(x, NULL);
	detach_and_show(a + 4096, a, x, y);
	ST(x, NULL);
	detach_and_show(a, a, x, y);
	ST(x, NULL);
	RM(y);
	SINFO();
}

/* A child inherits the cut attach and detaches it; the parent's stays. */
static void sc_at_remap_middle_child(void)
{
	int x, y;
	char *a = remap_part(&x, &y, 1);
	pid_t c = child();
	if (c == 0) {
		detach_and_show(a, a, x, y);
		detach_and_show(a + 4096, a, x, y);
		child_exit();
	}
	reap(c);
	LAYOUT(a, 3);
	NAT(x);
	NAT(y);
	detach_and_show(a + 4096, a, x, y);
	detach_and_show(a, a, x, y);
	RM(x);
	RM(y);
}

#endif /* CONF_SC_REMAP_H */
