/*
 * mem.h - what is mapped where, as the process sees it: free address
 * ranges to attach at, which pages are mapped, their protection, their
 * contents, and writes that must fault (tried in a child).
 */
#ifndef CONF_MEM_H
#define CONF_MEM_H

#include "out.h"
#include "proc.h"

#define PAGE 4096ul

/* The start of a range of bytes that was free a moment ago (nothing
 * stays mapped there). */
CONF_FN char *free_range(size_t bytes)
{
	char *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		out("reserve = %s", fail(errno));
		exit(70);
	}
	munmap(p, bytes);
	return p;
}

/* A free, page-aligned range of n pages, named "R<N>" (nothing stays
 * mapped there: call it right before the attach that uses it).  The range
 * is the middle of a larger one, away from the neighbouring mappings. */
CONF_FN char *reserve(size_t pages)
{
	char *p = free_range((pages + 32) * PAGE) + 16 * PAGE;
	out("reserve(%zu pages) = %s", pages, label_new((uintptr_t)p, 'R'));
	return p;
}

/* An anonymous private mapping of n pages (not shared memory). */
CONF_FN char *anon(void *at, size_t pages)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0);
	const char *arg = addr_name(at);
	char *p = mmap(at, pages * PAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED) {
		out("mmap(%s, %zu pages, anonymous) = %s", arg, pages, fail(errno));
		return NULL;
	}
	out("mmap(%s, %zu pages, anonymous) = %s", arg, pages,
	    at ? addr_name(p) : label_new((uintptr_t)p, 'R'));
	return p;
}

CONF_FN int MUNMAP(void *p, size_t pages)
{
	const char *arg = addr_name(p);
	int r = munmap(p, pages * PAGE);
	out("munmap(%s, %zu pages) = %s", arg, pages, r < 0 ? fail(errno) : "0");
	return r;
}

/* munmap() as a system call of its own, past the C library's function. */
CONF_FN void SYS_MUNMAP(void *p, size_t pages)
{
	const char *arg = addr_name(p);
	long r = syscall(SYS_munmap, p, pages * PAGE);
	out("syscall(SYS_munmap, %s, %zu pages) = %s", arg, pages, r < 0 ? fail(errno) : "0");
}

CONF_FN int MPROTECT(void *p, size_t pages, int prot)
{
	const char *arg = addr_name(p);
	int r = mprotect(p, pages * PAGE, prot);
	out("mprotect(%s, %zu pages, %s%s%s) = %s", arg, pages,
	    prot & PROT_READ ? "R" : "", prot & PROT_WRITE ? "W" : "",
	    prot ? "" : "NONE", r < 0 ? fail(errno) : "0");
	return r;
}

/* One character per page: '1' mapped, '0' not (mincore says ENOMEM). */
CONF_FN const char *page_map(const void *p, size_t pages)
{
	char *b = ring();
	size_t i;
	for (i = 0; i < pages && i < 90; i++) {
		unsigned char v;
		b[i] = mincore((char *)p + i * PAGE, PAGE, &v) == 0 ? '1' : '0';
	}
	b[i] = 0;
	return b;
}

CONF_FN void MAPPED(const void *p, size_t pages)
{
	out("mapped(%s, %zu pages) = %s", addr_name(p), pages, page_map(p, pages));
}

/* The permissions column of /proc/self/maps for the page at p. */
CONF_FN void PERMS(const void *p)
{
	char line[512], perms[8] = "none";
	uintptr_t a = (uintptr_t)p;
	FILE *f = fopen("/proc/self/maps", "re");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char pr[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pr) == 3 && a >= lo && a < hi) {
			snprintf(perms, sizeof perms, "%s", pr);
			break;
		}
	}
	if (f)
		fclose(f);
	out("perms(%s) = %s", addr_name(p), perms);
}

CONF_FN void POKE(void *p, unsigned char v)
{
	*(volatile unsigned char *)p = v;
	out("poke(%s, %u)", addr_name(p), v);
}

CONF_FN void PEEK(const void *p)
{
	out("peek(%s) = %u", addr_name(p), *(volatile const unsigned char *)p);
}

/* Whether len bytes at p are all zero. */
CONF_FN void ZEROS(const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i;
	for (i = 0; i < len && !c[i]; i++)
		;
	out("zeros(%s, %zu) = %s", addr_name(p), len, i == len ? "yes" : "no");
}

/* Write one byte in a child: "exit 0" when it worked, "killed by SEGV"
 * when the mapping does not allow it. */
CONF_FN void TRY_WRITE(void *p)
{
	out("try write(%s) in a child", addr_name(p));
	pid_t c = child();
	if (c == 0) {
		*(volatile unsigned char *)p = 0x77;
		child_exit();
	}
	reap(c);
}

#endif /* CONF_MEM_H */
