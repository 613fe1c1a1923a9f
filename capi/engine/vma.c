/*
 * vma.c - which of an attach's pages are still mapped, as the kernel's
 * shmdt() sees it: the VMAs of the segment's file whose file offset
 * matches their distance from the attach address.  That is what lets
 * shmdt() detach the whole attach after a partial munmap() or mprotect(),
 * and never unmap what the program mapped into a hole.
 *
 * Linux 6.11+ answers with the PROCMAP_QUERY ioctl on /proc/self/maps;
 * older kernels are read as text.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef PROCMAP_QUERY
struct procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_SHARED 0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#endif

struct maps {
	int fd;
	int text; /* no PROCMAP_QUERY: parse the text */
};

static int maps_open(struct maps *m)
{
	m->fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	m->text = 0;
	return m->fd < 0 ? -errno : 0;
}

static void maps_close(struct maps *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

/* Parse "start-end perms offset major:minor inode ..." */
static int parse_line(const char *s, struct gs_vma *v)
{
	char *e;
	v->start = (uintptr_t)strtoull(s, &e, 16);
	if (*e != '-')
		return -1;
	v->end = (uintptr_t)strtoull(e + 1, &e, 16);
	if (*e != ' ' || strlen(e) < 6)
		return -1;
	v->shared = e[4] == 's';
	v->offset = strtoull(e + 6, &e, 16);
	v->dev_major = (unsigned)strtoul(e + 1, &e, 16);
	if (*e != ':')
		return -1;
	v->dev_minor = (unsigned)strtoul(e + 1, &e, 16);
	v->ino = strtoull(e + 1, &e, 10);
	return 0;
}

/* First VMA that ends above addr, read from the text. */
static int text_next(struct maps *m, uintptr_t addr, struct gs_vma *out)
{
	char buf[8192];
	size_t have = 0;
	off_t pos = 0;
	for (;;) {
		ssize_t n = pread(m->fd, buf + have, sizeof buf - 1 - have, pos);
		if (n < 0)
			return -errno;
		pos += n;
		have += (size_t)n;
		buf[have] = 0;
		char *line = buf, *nl;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			*nl = 0;
			struct gs_vma v;
			if (parse_line(line, &v) == 0 && v.end > addr) {
				*out = v;
				return 0;
			}
			line = nl + 1;
		}
		if (n == 0)
			return -ENOENT;
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
	}
}

/* The VMA containing addr, or if none the next one above it. */
static int maps_next(struct maps *m, uintptr_t addr, struct gs_vma *out)
{
	if (!m->text) {
		struct procmap_query q;
		memset(&q, 0, sizeof q);
		q.size = sizeof q;
		q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
		q.query_addr = addr;
		if (ioctl(m->fd, PROCMAP_QUERY, &q) == 0) {
			out->start = (uintptr_t)q.vma_start;
			out->end = (uintptr_t)q.vma_end;
			out->offset = q.vma_offset;
			out->ino = q.inode;
			out->dev_major = q.dev_major;
			out->dev_minor = q.dev_minor;
			out->shared = (q.vma_flags & PROCMAP_QUERY_VMA_SHARED) != 0;
			return 0;
		}
		if (errno == ENOENT)
			return -ENOENT;
		m->text = 1;
	}
	return text_next(m, addr, out);
}

int gs_vma_identify(uintptr_t addr, struct gs_vma *out)
{
	struct maps m;
	int r = maps_open(&m);
	if (r < 0)
		return r;
	r = maps_next(&m, addr, out);
	maps_close(&m);
	if (r == 0 && out->start > addr)
		r = -ENOENT;
	return r;
}

static int is_fragment(const struct gs_attach *a, const struct gs_vma *v)
{
	return v->shared && v->ino == a->vma_ino && v->dev_major == a->vma_dev_major &&
	       v->dev_minor == a->vma_dev_minor && v->start >= a->addr &&
	       v->end <= a->addr + a->len && v->offset == v->start - a->addr;
}

/*
 * Unmap what is left of attach a.  Returns 0, or -EINVAL when nothing of
 * it was mapped any more (the program munmap()ed all of it).
 */
int gs_vma_unmap_fragments(const struct gs_attach *a)
{
	struct maps m;
	struct gs_vma v;
	int found = 0;
	if (!a->vma_ino || maps_open(&m) < 0) {
		/* No /proc: trust the table (docs/DIFFERENCES.md). */
		munmap((void *)a->addr, a->len);
		return 0;
	}
	uintptr_t at = a->addr;
	while (at < a->addr + a->len && maps_next(&m, at, &v) == 0 &&
	       v.start < a->addr + a->len) {
		if (is_fragment(a, &v)) {
			munmap((void *)v.start, v.end - v.start);
			found = 1;
		}
		at = v.end;
	}
	maps_close(&m);
	return found ? 0 : -EINVAL;
}
