/*
 * sem_gc.c - goshm gc for semaphore sets: files in sem/ that no live
 * slot of sem/registry names, and temporary registries older than a
 * minute.  Every set file is made and removed under
 * the registry's lock, which gc holds, so such a file is a leftover (a
 * creator or remover killed where pending_gen no longer covered it, or a
 * file planted there).  Sets themselves are never collected: a set lives
 * until IPC_RMID, as in the kernel.
 */
#include "sem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct sem_collect {
	struct gs_semreg *r;
	int dry_run, n;
	goshm_gc_report report;
	void *arg;
};

static int live_gen(struct gs_semreg *r, uint64_t gen)
{
	for (unsigned i = 0; i < r->hdr->hi_water && i < GS_SEMMNI; i++)
		if (r->slots[i].state == GS_SEM_LIVE && r->slots[i].gen == gen)
			return 1;
	return 0;
}

/* A temporary registry of a creator killed before its rename (a live
 * creator's is younger than a minute). */
static int stale_temp(int dfd, const char *name)
{
	size_t n = strlen(name);
	struct stat st;
	if (strncmp(name, ".registry.", 10) || n < 14 || strcmp(name + n - 4, ".tmp"))
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return time(NULL) - st.st_mtime > 60;
}

static int collect_set_file(int dfd, const char *name, void *arg)
{
	struct sem_collect *c = arg;
	if (!stale_temp(dfd, name)) {
		if (strncmp(name, "set-", 4))
			return 0; /* the registry, and what goshm never makes */
		char *end;
		uint64_t gen = strtoull(name + 4, &end, 10);
		if (*end || end == name + 4 || live_gen(c->r, gen))
			return 0;
	}
	char path[PATH_MAX];
	if (gs_path_of(c->r->store, GS_SEM_DIR, name, path, sizeof path) < 0)
		return 0;
	if (c->report)
		c->report(GOSHM_GC_FILE, path, -1, c->arg);
	if (!c->dry_run)
		unlinkat(dfd, name, 0);
	c->n++;
	return 0;
}

/* The number of files collected, or a store error. */
int gs_sem_gc(struct goshm_store *s, int dry_run, goshm_gc_report report, void *arg)
{
	struct gs_semreg r;
	int e = gs_semreg_lock(s, &r, 0);
	if (e == -ENOENT)
		return 0;
	if (e < 0)
		return e;
	struct sem_collect c = {&r, dry_run, 0, report, arg};
	int dfd = gs_open_dir(s, GS_SEM_DIR);
	if (dfd >= 0) {
		gs_each_file(dfd, collect_set_file, &c);
		close(dfd);
	}
	gs_semreg_unlock(&r);
	return c.n;
}
