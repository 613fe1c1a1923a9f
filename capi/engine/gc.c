/*
 * gc.c - collecting what no segment owns any more: removed segments whose
 * last attach ended in an exit or a kill, files of creations that were
 * interrupted, token files of namespaces that are gone, temporaries of a
 * store whose creation a power cut interrupted, and presence segments of
 * the caller's IPC namespace that no goshm segment uses.
 *
 * Directories are read with getdents64 on a descriptor reached without
 * following symlinks (paths.c), and files are removed with unlinkat in it:
 * gc never touches anything outside the store.
 */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A temporary of a creation that may still be running is left alone for
 * this long (only where no registry exists yet, or for doctor's files). */
#define GS_STRAY_AGE 60

/* The generation a file name of segments/ belongs to: seg-<gen>,
 * seg-<gen>.ns<k>.<tgen>, or .tmp-<gen>.<pid> (a temporary of goshm 0.1);
 * 0 for anything else. */
static uint64_t gen_of(const char *name, unsigned *k, uint32_t *tgen, int *token)
{
	char *end;
	const char *p = !strncmp(name, "seg-", 4) ? name + 4
	                : !strncmp(name, ".tmp-", 5) ? name + 5 : NULL;
	*token = 0;
	if (!p || *p < '0' || *p > '9')
		return 0;
	uint64_t gen = strtoull(p, &end, 10);
	if (p == name + 5)
		return *end == '.' ? gen : 0;
	if (!*end)
		return gen;
	if (strncmp(end, ".ns", 3))
		return 0;
	unsigned long kk = strtoul(end + 3, &end, 10);
	if (*end != '.' || kk >= GS_NS_SLOTS)
		return 0;
	unsigned long t = strtoul(end + 1, &end, 10);
	if (*end)
		return 0;
	*k = (unsigned)kk;
	*tgen = (uint32_t)t;
	*token = 1;
	return gen;
}

/* Does a live slot name this file? */
static int owned(struct gs_locked *l, const char *name)
{
	unsigned k = 0;
	uint32_t tgen = 0;
	int token;
	uint64_t gen = gen_of(name, &k, &tgen, &token);
	if (!gen || name[0] == '.')
		return 0;
	unsigned hi = l->hdr->hi_water;
	for (unsigned i = 0; i < hi; i++) {
		if (l->state[i] == GS_FREE)
			continue;
		struct gs_slot *sl = gs_slot_at(l, i);
		if (sl->gen == gen)
			return !token || sl->ns[k].token_gen == tgen;
	}
	return 0;
}

static int older_than(int dfd, const char *name, time_t age)
{
	struct stat st;
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       st.st_mtime + age < time(NULL);
}

struct sweep {
	struct gs_locked *l;
	uint64_t gen;
};

static int sweep_one(int dfd, const char *name, void *arg)
{
	struct sweep *sw = arg;
	unsigned k;
	uint32_t tgen;
	int token;
	if (gen_of(name, &k, &tgen, &token) == sw->gen && !owned(sw->l, name))
		unlinkat(dfd, name, 0);
	return 0;
}

/*
 * Remove the files of generation gen that no live slot names: what a call
 * left that died between creating (or removing) them and recording it in
 * the slots -- a SIGKILL in shmget, in a namespace's first shmat, or in
 * the destruction of a segment.  Runs under the lock (store.c recover).
 */
void gs_sweep_gen(struct gs_locked *l, uint64_t gen)
{
	struct sweep sw = {l, gen};
	int dfd = gs_open_dir(l->store, GS_SEGMENT_DIR);
	if (dfd < 0)
		return;
	gs_each_file(dfd, sweep_one, &sw);
	close(dfd);
}

struct collect {
	struct gs_locked *l; /* NULL: the store has no registry */
	struct goshm_store *s;
	const char *sub;
	int dry_run, n;
	goshm_gc_report report;
	void *arg;
};

static void collect_file(struct collect *c, int dfd, const char *name)
{
	char path[PATH_MAX];
	if (gs_path_of(c->s, c->sub, name, path, sizeof path) < 0)
		return;
	if (c->report)
		c->report(GOSHM_GC_FILE, path, -1, c->arg);
	if (!c->dry_run)
		unlinkat(dfd, name, 0);
	c->n++;
}

/* Every creation happens under the lock we hold: any file of segments/
 * that no slot names is left over from a process that died.  goshm
 * doctor's probe files (".doctor-*") are its own while it runs. */
static int collect_segment_file(int dfd, const char *name, void *arg)
{
	struct collect *c = arg;
	if (!strncmp(name, ".doctor-", 8) ? older_than(dfd, name, GS_STRAY_AGE)
	                                  : !owned(c->l, name))
		collect_file(c, dfd, name);
	return 0;
}

/* A registry temporary (store.c temp_name) is stray once a registry is
 * in place -- its maker links or gives up -- or, before one is, once it
 * is old: its maker was cut short (a power cut during the first use). */
static int collect_store_file(int dfd, const char *name, void *arg)
{
	struct collect *c = arg;
	size_t n = strlen(name);
	if (strncmp(name, ".registry.", 10) || n < 14 || strcmp(name + n - 4, ".tmp"))
		return 0;
	if (c->l || older_than(dfd, name, GS_STRAY_AGE))
		collect_file(c, dfd, name);
	return 0;
}

/* 0, or the store error of a directory that cannot be read -- a planted
 * symlink above all, which gc must not follow and must not keep quiet. */
static int collect_dir(struct collect *c, const char *sub,
                       int (*fn)(int, const char *, void *))
{
	int dfd = gs_open_dir(c->s, sub);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return gs_store_error(c->s, sub ? "cannot open its segments directory"
		                                : "cannot open the store directory", dfd, NULL);
	c->sub = sub;
	gs_each_file(dfd, fn, c);
	close(dfd);
	return 0;
}

/* Presence segments of this store in the caller's namespace (presence.c,
 * recognised by their tag) that no slot names and nobody attaches: those
 * of segments destroyed in another namespace whose tombstone was lost.
 * Removing an unattached one never changes a count: an attach that wants
 * it makes another. */
static int named_here(struct gs_locked *l, long id, uint64_t gen)
{
	for (int i = gs_next_live(l, 0); i >= 0; i = gs_next_live(l, (unsigned)i + 1)) {
		const struct gs_slot *sl = gs_slot_at(l, (unsigned)i);
		if (sl->gen == gen && gs_names_my_presence(sl, id))
			return 1;
	}
	return 0;
}

static void collect_presence(struct collect *c)
{
	struct shmid_ds d;
	struct shm_info info;
	long max = gs_sys_shmctl(0, SHM_INFO, &info);
	for (long i = 0; i <= max; i++) {
		uint64_t store_id, gen;
		long id = gs_sys_shmctl((int)i, SHM_STAT, &d);
		if (id < 0 || d.shm_segsz != 1 || d.shm_nattch != 0 ||
		    gs_presence_tag((int)id, &store_id, &gen) < 0 ||
		    store_id != c->l->hdr->store_id || named_here(c->l, id, gen))
			continue;
		if (c->report)
			c->report(GOSHM_GC_KERNEL, "presence segment", (int)id, c->arg);
		if (!c->dry_run)
			gs_sys_shmctl((int)id, IPC_RMID, NULL);
		c->n++;
	}
}

int gs_gc(struct goshm_store *s, int dry_run, goshm_gc_report report, void *arg)
{
	struct gs_locked l;
	char path[PATH_MAX];
	struct collect c = {NULL, s, NULL, dry_run, 0, report, arg};
	int r = gs_lock(s, &l, GS_EXISTING);
	if (r == -ENOENT) {
		/* No registry: only what a first use cut short may be here. */
		r = collect_dir(&c, NULL, collect_store_file);
		return r < 0 ? r : c.n;
	}
	if (r < 0)
		return r;
	c.l = &l;
	for (unsigned i = 0; i < GS_SHMMNI; i++) {
		if (l.state[i] != GS_LIVE)
			continue;
		struct gs_slot *sl = gs_slot_at(&l, i);
		if (!(sl->mode & SHM_DEST) || gs_nattch(&l, i) != 0)
			continue;
		struct gs_name name;
		int id = gs_id_of(&l, i);
		gs_data_name(sl->gen, &name);
		gs_path_of(s, GS_SEGMENT_DIR, name.s, path, sizeof path);
		if (report)
			report(GOSHM_GC_SEGMENT, path, id, arg);
		if (!dry_run)
			gs_destroy_if_unused(&l, i);
		c.n++;
	}
	r = collect_dir(&c, GS_SEGMENT_DIR, collect_segment_file);
	if (r == 0)
		r = collect_dir(&c, NULL, collect_store_file);
	if (r == 0)
		collect_presence(&c);
	if (r == 0 && !dry_run)
		gs_oldpool_drain(&l); /* its files were strays above; now the list */
	gs_unlock(&l);
	return r < 0 ? r : c.n;
}
