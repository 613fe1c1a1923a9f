/*
 * vma.c - asking the kernel what is mapped where, for shmdt.
 *
 * shmdt() must detach what is really still mapped of an attach -- all of
 * it after a partial munmap() or mprotect(), none of what the program
 * mapped into a hole -- and the kernel's own rule decides which mapping a
 * shmdt(addr) means (shmdt.c).  Linux 6.11+ answers one question per
 * ioctl (PROCMAP_QUERY on /proc/self/maps); older kernels are read as
 * text.
 *
 * No descriptor of /proc/self/maps is kept between calls: a daemon that
 * closed its standard input would find it taken by ours, and one that
 * counts or closes its descriptors would find one more (docs/DESIGN.md).
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
#define PROCMAP_QUERY_FILE_BACKED_VMA 0x20
#endif

/* 1 once PROCMAP_QUERY is known to be missing (a kernel before 6.11). */
static int maps_text;

struct maps {
	int fd;
};

static int maps_open(struct maps *m)
{
	m->fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
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

/* Is v a shared mapping of a file, the only kind goshm looks for? */
static int shared_file(const struct gs_vma *v)
{
	return v->shared && v->ino != 0;
}

/* Call fn on each line of the text file open on fd (NUL-terminated, the
 * newline dropped), from its start, until fn returns non-zero: that value,
 * 0 at the end, or -errno.  A line longer than the buffer (a path) is
 * dropped. */
static int each_line(int fd, int (*fn)(char *line, void *arg), void *arg)
{
	char buf[8192];
	size_t have = 0;
	off_t pos = 0;
	for (;;) {
		ssize_t n = pread(fd, buf + have, sizeof buf - 1 - have, pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		pos += n;
		have += (size_t)n;
		buf[have] = 0;
		char *line = buf, *nl;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			*nl = 0;
			int r = fn(line, arg);
			if (r)
				return r;
			line = nl + 1;
		}
		if (n == 0)
			return 0;
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof buf - 1)
			have = 0;
	}
}

struct next_query {
	uintptr_t addr;
	struct gs_vma *out;
};

static int next_line(char *line, void *arg)
{
	struct next_query *q = arg;
	struct gs_vma v;
	if (parse_line(line, &v) < 0 || v.end <= q->addr || !shared_file(&v))
		return 0;
	*q->out = v;
	return 1;
}

/* First shared file VMA that ends above addr, read from the text. */
static int text_next(int fd, uintptr_t addr, struct gs_vma *out)
{
	struct next_query q = {addr, out};
	int r = each_line(fd, next_line, &q);
	return r == 1 ? 0 : r < 0 ? r : -ENOENT;
}

/* The shared file mapping containing addr, or if none the next one above
 * it: 0, -ENOENT (nothing above), or another -errno.  Every question goshm
 * asks is about mappings of its data files, which are shared mappings of
 * files; the kernel skips every other mapping itself, so that a walk over
 * a process's hundreds of libraries and heaps costs one ioctl. */
static int vma_next(struct maps *m, uintptr_t addr, struct gs_vma *out)
{
	if (m->fd < 0)
		return -EBADF;
	if (!__atomic_load_n(&maps_text, __ATOMIC_RELAXED)) {
		struct procmap_query q;
		memset(&q, 0, sizeof q);
		q.size = sizeof q;
		q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA | PROCMAP_QUERY_VMA_SHARED |
		                PROCMAP_QUERY_FILE_BACKED_VMA;
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
		/* ENOENT should mean "nothing at or above addr", but 6.x kernels
		 * answer it now and then for a mapped address while another
		 * thread maps or unmaps a file (the query runs without the
		 * mmap lock): the text, read under the lock, decides. */
		if (errno != ENOENT)
			__atomic_store_n(&maps_text, 1, __ATOMIC_RELAXED);
	}
	return text_next(m->fd, addr, out);
}

int gs_vma_identify(uintptr_t addr, struct gs_vma *out)
{
	struct maps m;
	int r = maps_open(&m);
	if (r == 0)
		r = vma_next(&m, addr, out);
	maps_close(&m);
	if (r == 0 && out->start > addr)
		r = -ENOENT;
	return r;
}

/* Does v map the file of attach a (shared)? */
static int of_attach_file(const struct gs_attach *a, const struct gs_vma *v)
{
	return v->shared && v->ino == a->vma_ino && v->dev_major == a->vma_dev_major &&
	       v->dev_minor == a->vma_dev_minor;
}

/* Is v a piece of an attach of a's file made at base: that file, at the
 * offset v's distance from base implies (the kernel's shmdt rule)? */
static int piece_at(const struct gs_attach *a, const struct gs_vma *v, uintptr_t base)
{
	return of_attach_file(a, v) && v->offset == v->start - base;
}

/* 1: attach a is mapped whole and alone, as shmat made it; 0: not (the
 * program unmapped, remapped or re-protected part of it); -1: /proc
 * cannot tell. */
int gs_vma_intact(const struct gs_attach *a)
{
	struct gs_vma v;
	struct maps m;
	if (!a->vma_ino || maps_open(&m) < 0)
		return -1;
	int r = vma_next(&m, a->addr, &v);
	maps_close(&m);
	if (r < 0)
		return r == -ENOENT ? 0 : -1;
	return v.start == a->addr && v.end == a->addr + a->len && v.offset == 0 &&
	       of_attach_file(a, &v);
}

/* Is anything of attach a still mapped where a put it?  1 or 0; -1 when
 * /proc cannot tell. */
int gs_vma_has_fragment(const struct gs_attach *a)
{
	struct gs_vma v;
	struct maps m;
	int found = 0, r = 0;
	uintptr_t at = a->addr;
	if (maps_open(&m) < 0)
		return -1;
	while (!found && at < a->addr + a->len && (r = vma_next(&m, at, &v)) == 0 &&
	       v.start < a->addr + a->len) {
		found = piece_at(a, &v, a->addr);
		at = v.end;
	}
	maps_close(&m);
	return found ? 1 : r < 0 && r != -ENOENT ? -1 : 0;
}

/* What gs_vma_all_dontfork has read of smaps so far. */
struct dontfork_scan {
	const struct gs_attach *a;
	int in_piece, pieces, inherited;
};

static int dontfork_line(char *line, void *arg)
{
	struct dontfork_scan *d = arg;
	struct gs_vma v;
	const struct gs_attach *a = d->a;
	if (!strncmp(line, "VmFlags:", 8)) {
		d->inherited |= d->in_piece && !strstr(line + 8, " dc");
		d->in_piece = 0;
	} else if (parse_line(line, &v) == 0) {
		d->in_piece = v.start < a->addr + a->len && v.end > a->addr && piece_at(a, &v, a->addr);
		d->pieces += d->in_piece;
	}
	return 0;
}

/*
 * Is every piece of attach a that is still where a put it marked
 * MADV_DONTFORK ("dc" in its VmFlags), so that a child would inherit none?
 * 1 when there is such a piece and all are; 0 when one is not, or none is
 * left; -1 when /proc cannot tell.  Only smaps shows the flag; it is read
 * for an advice that covers part of an attach, which is rare.
 */
int gs_vma_all_dontfork(const struct gs_attach *a)
{
	struct dontfork_scan d = {a, 0, 0, 0};
	int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = each_line(fd, dontfork_line, &d);
	close(fd);
	return r < 0 ? -1 : d.pieces && !d.inherited;
}

/* Does this process map attach a's file anywhere (an attach that mremap()
 * moved still does; one the program unmapped does not)? */
int gs_vma_file_mapped(const struct gs_attach *a)
{
	struct gs_vma v;
	struct maps m;
	int found = 0;
	uintptr_t at = 0;
	if (maps_open(&m) < 0)
		return 1; /* cannot tell: keep counting it */
	while (!found && vma_next(&m, at, &v) == 0) {
		found = of_attach_file(a, &v);
		at = v.end;
	}
	maps_close(&m);
	return found;
}

/*
 * The kernel's shmdt(addr) (ipc/shm.c ksys_shmdt): the first shm mapping at
 * or above addr whose file offset equals its distance from addr is
 * detached, and with it every later mapping of the same segment, within
 * the segment's size from addr, whose offset matches the same way.  A shm
 * mapping, here, is a mapping of one of the data files this process has
 * attached (attaches[0..n)).  Returns 0 with *first set to an attach of
 * the segment that was detached, or -EINVAL when nothing matched.
 */
int gs_vma_detach_rule(uintptr_t addr, const struct gs_attach *attaches, size_t n,
                       struct gs_attach *first)
{
	struct gs_vma v;
	struct maps m;
	const struct gs_attach *seg = NULL;
	uintptr_t at = addr;
	if (maps_open(&m) < 0)
		return -EINVAL;
	while (!seg && vma_next(&m, at, &v) == 0) {
		for (size_t i = 0; i < n && !seg; i++)
			if (piece_at(&attaches[i], &v, addr))
				seg = &attaches[i];
		if (!seg)
			at = v.end;
	}
	if (!seg) {
		maps_close(&m);
		return -EINVAL;
	}
	*first = *seg;
	size_t size = seg->len;
	munmap((void *)v.start, v.end - v.start);
	at = v.end;
	while (vma_next(&m, at, &v) == 0 && v.end - addr <= size) {
		if (piece_at(seg, &v, addr))
			munmap((void *)v.start, v.end - v.start);
		at = v.end;
	}
	maps_close(&m);
	return 0;
}
