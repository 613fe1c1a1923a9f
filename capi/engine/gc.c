/*
 * gc.c - collecting what no segment owns any more: removed segments whose
 * last attach ended in an exit or a kill, files of creations that were
 * interrupted, token files of namespaces that are gone.
 */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Does a live slot name this file?  Names: seg-<gen>[.ns<k>.<tgen>]. */
static int owned(struct gs_locked *l, const char *name)
{
	char *end;
	if (strncmp(name, "seg-", 4))
		return 0;
	unsigned long long gen = strtoull(name + 4, &end, 10);
	unsigned k = 0, tgen = 0;
	int token = 0;
	if (*end == '.') {
		if (sscanf(end, ".ns%u.%u", &k, &tgen) != 2 || k >= GS_NS_SLOTS)
			return 0;
		token = 1;
	} else if (*end) {
		return 0;
	}
	for (unsigned i = 0; i < GS_SHMMNI; i++) {
		if (l->state[i] != GS_LIVE)
			continue;
		struct gs_slot *sl = gs_slot_at(l, i);
		if (sl->gen != gen)
			continue;
		return !token || sl->ns[k].token_gen == tgen;
	}
	return 0;
}

/* Is name a file of generation gen: seg-<gen>, seg-<gen>.ns<k>.<tgen> or
 * the temporary .tmp-<gen>.<pid> of segfile.c? */
static int of_gen(const char *name, uint64_t gen)
{
	char *end;
	const char *p = !strncmp(name, "seg-", 4) ? name + 4
	                : !strncmp(name, ".tmp-", 5) ? name + 5 : NULL;
	if (!p || *p < '0' || *p > '9')
		return 0;
	return strtoull(p, &end, 10) == gen && (*end == 0 || *end == '.');
}

/*
 * Remove the files of generation gen that no live slot names: what a call
 * left that died between creating (or removing) them and recording it in
 * the slots -- a SIGKILL in shmget, in a namespace's first shmat, or in
 * the destruction of a segment.  Runs under the lock (store.c gs_lock).
 */
void gs_sweep_gen(struct gs_locked *l, uint64_t gen)
{
	char path[PATH_MAX];
	int len = snprintf(path, sizeof path, "%s/" GS_SEGMENT_DIR, l->store->dir);
	DIR *d = len > 0 && (size_t)len < sizeof path ? opendir(path) : NULL;
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!of_gen(e->d_name, gen) || owned(l, e->d_name))
			continue;
		len = snprintf(path, sizeof path, "%s/" GS_SEGMENT_DIR "/%s",
		               l->store->dir, e->d_name);
		if (len > 0 && (size_t)len < sizeof path)
			unlink(path);
	}
	closedir(d);
}

int gs_gc(struct goshm_store *s, int dry_run, goshm_gc_report report, void *arg)
{
	struct gs_locked l;
	char path[PATH_MAX];
	int n = 0;
	int r = gs_lock(s, &l, GS_EXISTING);
	if (r == -ENOENT)
		return 0; /* no store, nothing to collect */
	if (r < 0)
		return r;
	for (unsigned i = 0; i < GS_SHMMNI; i++) {
		if (l.state[i] != GS_LIVE)
			continue;
		struct gs_slot *sl = gs_slot_at(&l, i);
		if (!(sl->mode & SHM_DEST) || gs_nattch(&l, i) != 0)
			continue;
		int id = gs_id_of(&l, i);
		gs_data_path(s, sl->gen, path, sizeof path);
		if (report)
			report(GOSHM_GC_SEGMENT, path, id, arg);
		if (!dry_run)
			gs_destroy(&l, i);
		n++;
	}
	/* Every creation happens under the lock we hold: any file that no
	 * slot names now is left over from a process that died. */
	int len = snprintf(path, sizeof path, "%s/" GS_SEGMENT_DIR, s->dir);
	DIR *d = len > 0 && (size_t)len < sizeof path ? opendir(path) : NULL;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
			    owned(&l, e->d_name))
				continue;
			len = snprintf(path, sizeof path, "%s/" GS_SEGMENT_DIR "/%s",
			               s->dir, e->d_name);
			if (len < 0 || (size_t)len >= sizeof path)
				continue;
			if (report)
				report(GOSHM_GC_FILE, path, -1, arg);
			if (!dry_run)
				unlink(path);
			n++;
		}
		closedir(d);
	}
	gs_unlock(&l);
	return n;
}
