/*
 * out.h - the scenario runner's output: one line per step, with everything
 * that differs between two correct runs normalized away.
 *
 * A line is "<scenario> <process>#<step> <call> = <result>".  Two runs of
 * the same scenario -- natively in a fresh IPC namespace and under goshm
 * with a fresh store -- must print the same lines.  What legitimately
 * differs between runs is replaced by names:
 *   - shmids become "id#N" in order of first appearance (raw ids are printed
 *     only where a scenario checks the id sequence itself);
 *   - addresses become "@N" (attaches, in order) or "R<N>" (reserved
 *     regions), with offsets ("@1+4096");
 *   - pids become "self", "parent", "main", "child#N" or "0";
 *   - times become "0", "now" (since the run started), "past" (before it)
 *     or "future".
 *
 * Every process writes its lines with one write(2) each, so lines of a
 * parent and its children never mix inside a line, and the order is the
 * order of the steps as long as the parent waits for its children.
 */
#ifndef CONF_OUT_H
#define CONF_OUT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "libc.h"

#ifndef SHM_HUGE_SHIFT /* linux/shm.h: the huge page size's log2 in shmget's flags */
#define SHM_HUGE_SHIFT 26
#endif

#define CONF_FN static __attribute__((unused))

#define CONF_MAX_CHILDREN 64
#define CONF_MAX_IDS 8192
#define CONF_MAX_LABELS 8192

/* State shared by the scenario's main process and all its children, so
 * that a child's new id or child pid is named the same in every process. */
struct conf_label {
	uintptr_t base;
	char name[16];
};

struct conf_shared {
	pid_t main_pid;
	int nchildren;
	pid_t children[CONF_MAX_CHILDREN + 1];
	int nids;
	int ids[CONF_MAX_IDS];
	int nattaches, nreserved;
	int nlabels;
	struct conf_label labels[CONF_MAX_LABELS];
};

static struct conf_shared *sh;
static const char *scenario_name = "?";
static char me[24] = "main";
static int step;

CONF_FN void conf_init(const char *name)
{
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	          -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		exit(70);
	}
	sh->main_pid = getpid();
	scenario_name = name;
}

/* One output line, written at once. */
CONF_FN __attribute__((format(printf, 1, 2))) void out(const char *fmt, ...)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "%s %s#%d ", scenario_name, me, ++step);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	ssize_t w = write(1, line, (size_t)n);
	(void)w;
}

/* Normalizers return short strings from a small ring of buffers, so that
 * several can appear in one out() call. */
CONF_FN char *ring(void)
{
	static char bufs[16][96];
	static unsigned next;
	return bufs[next++ % 16];
}

CONF_FN const char *err_name(int e) { return conf_errname(e); }

/* "-1 EINVAL" for a failed call, given its errno. */
CONF_FN const char *fail(int e)
{
	char *b = ring();
	snprintf(b, 96, "-1 %s", err_name(e));
	return b;
}

/* ---- shmids ---- */

CONF_FN const char *id_name(int id)
{
	char *b = ring();
	for (int i = 0; i < sh->nids; i++)
		if (sh->ids[i] == id) {
			snprintf(b, 96, "id#%d", i);
			return b;
		}
	snprintf(b, 96, "%d", id);
	return b;
}

/* A new id returned by a call: give it the next name unless it has one. */
CONF_FN const char *id_new(int id)
{
	for (int i = 0; i < sh->nids; i++)
		if (sh->ids[i] == id)
			return id_name(id);
	if (sh->nids == CONF_MAX_IDS) {
		out("too many ids to name: raise CONF_MAX_IDS");
		exit(70);
	}
	sh->ids[sh->nids++] = id;
	return id_name(id);
}

/* ---- addresses ---- */

CONF_FN const char *label_new(uintptr_t base, char kind)
{
	struct conf_label *l;
	if (sh->nlabels >= CONF_MAX_LABELS) {
		out("too many addresses to name: raise CONF_MAX_LABELS");
		exit(70);
	}
	l = &sh->labels[sh->nlabels++];
	l->base = base;
	if (kind == '@')
		snprintf(l->name, sizeof l->name, "@%d", ++sh->nattaches);
	else
		snprintf(l->name, sizeof l->name, "R%d", ++sh->nreserved);
	return l->name;
}

/*
 * The name of an address: the most recent label with exactly that base,
 * else the nearest labelled base below it ("@1+4096").  Layouts differ
 * between runs (goshm maps extra pages), but offsets inside one mapping
 * do not, and scenarios only name addresses inside what they mapped.
 */
CONF_FN const char *addr_name(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	char *b = ring();
	const struct conf_label *best = NULL;
	if (!p)
		return "NULL";
	if (p == (void *)-1)
		return "-1";
	for (int i = sh->nlabels; i-- > 0;)
		if (sh->labels[i].base == a)
			return sh->labels[i].name;
	for (int i = sh->nlabels; i-- > 0;) {
		const struct conf_label *l = &sh->labels[i];
		if (l->base < a && a - l->base < (64u << 20) && (!best || l->base > best->base))
			best = l;
	}
	if (!best)
		return "addr?";
	snprintf(b, 96, "%s+%lu", best->name, (unsigned long)(a - best->base));
	return b;
}

/* ---- keys, flags, commands ---- */

CONF_FN const char *key_name(key_t k)
{
	char *b = ring();
	if (k == IPC_PRIVATE)
		return "IPC_PRIVATE";
	snprintf(b, 96, "0x%x", (unsigned)k);
	return b;
}

struct conf_flag {
	int bit;
	const char *name;
};

CONF_FN const char *flags_name(int flg, const struct conf_flag *names, int perm)
{
	char *b = ring();
	size_t n = 0;
	b[0] = 0;
	for (const struct conf_flag *f = names; f->name; f++) {
		if (!(flg & f->bit))
			continue;
		n += (size_t)snprintf(b + n, 96 - n, "%s%s", n ? "|" : "", f->name);
		flg &= ~f->bit;
	}
	if (perm || flg || !n)
		snprintf(b + n, 96 - n, flg ? "%s0%o" : "%s0", n ? "|" : "", (unsigned)flg);
	return b;
}

CONF_FN const char *get_flags(int flg)
{
	static const struct conf_flag names[] = {
		{IPC_CREAT, "IPC_CREAT"}, {IPC_EXCL, "IPC_EXCL"},
		{SHM_HUGETLB, "SHM_HUGETLB"}, {SHM_NORESERVE, "SHM_NORESERVE"}, {0, NULL}};
	return flags_name(flg, names, 1);
}

CONF_FN const char *at_flags(int flg)
{
	static const struct conf_flag names[] = {
		{SHM_RDONLY, "SHM_RDONLY"}, {SHM_RND, "SHM_RND"},
		{SHM_REMAP, "SHM_REMAP"}, {SHM_EXEC, "SHM_EXEC"}, {0, NULL}};
	return flags_name(flg, names, 0);
}

CONF_FN const char *cmd_name(int cmd)
{
	char *b = ring();
	switch (cmd) {
	case IPC_RMID: return "IPC_RMID";
	case IPC_SET: return "IPC_SET";
	case IPC_STAT: return "IPC_STAT";
	case IPC_INFO: return "IPC_INFO";
	case SHM_LOCK: return "SHM_LOCK";
	case SHM_UNLOCK: return "SHM_UNLOCK";
	case SHM_STAT: return "SHM_STAT";
	case SHM_INFO: return "SHM_INFO";
	case SHM_STAT_ANY: return "SHM_STAT_ANY";
	}
	snprintf(b, 96, "%d", cmd);
	return b;
}

/* ---- pids and times ---- */

CONF_FN const char *pid_name(pid_t p)
{
	char *b = ring();
	if (p == 0)
		return "0";
	if (p == getpid())
		return "self";
	if (p == getppid())
		return "parent";
	if (p == sh->main_pid)
		return "main";
	for (int i = 1; i <= sh->nchildren; i++)
		if (sh->children[i] == p) {
			snprintf(b, 96, "child#%d", i);
			return b;
		}
	snprintf(b, 96, "other");
	return b;
}

/* When the run began: the first process of a scenario program notes it,
 * and its children inherit it through fork and, in CONF_T0, through exec.
 * A time set during the run is "now" however long the run takes -- 500
 * forked children take seconds on a loaded machine, more under
 * libgoshm-go.so, and a window of a few seconds before the call turned
 * such times into "past" on one side only. */
static time_t conf_t0;

__attribute__((constructor)) static void conf_note_t0(void)
{
	const char *inherited = getenv("CONF_T0");
	if (inherited != NULL) {
		conf_t0 = (time_t)strtoll(inherited, NULL, 10);
		return;
	}
	char b[32];
	conf_t0 = time(NULL);
	snprintf(b, sizeof b, "%lld", (long long)conf_t0);
	setenv("CONF_T0", b, 1);
}

/* "now": during the run (a second of slack for clocks that tick apart);
 * "past": before it began; "future": later than now. */
CONF_FN const char *time_name(time_t t)
{
	time_t now = time(NULL);
	if (t == 0)
		return "0";
	if (t >= conf_t0 - 1 && t <= now + 1)
		return "now";
	return t < now ? "past" : "future";
}

#endif /* CONF_OUT_H */
