/*
 * presence.c - shm_nattch, counted by the kernel.
 *
 * Every goshm attach is paired with a kernel attach of a one-byte "presence"
 * segment that belongs to the goshm segment and the caller's IPC namespace.
 * The kernel then does the hard part exactly: fork() counts inherited
 * attaches again, exec, exit and SIGKILL uncount them, and none of it needs
 * a descriptor or a line of our code to run.
 *
 * A presence segment lives as long as its goshm segment (or its IPC
 * namespace, whichever ends first): it is made at the namespace's first
 * attach and removed when the goshm segment is destroyed.  So a program
 * that attaches and detaches in a loop finds it there every time, and its
 * count is exact in between (0).  `ipcs -m` lists these segments: one byte,
 * key 0, mode 0644.  The first bytes of its page name the store and the
 * segment (struct gs_presence_tag), so that goshm gc and goshm doctor can
 * tell them from a program's own segments.
 *
 * Another IPC namespace (a second container on the same volume) cannot see
 * our presence segment.  Each namespace therefore also publishes its count
 * in the registry at every attach and detach, and every process with an
 * attach maps a per-namespace "token" file (token.c).  A reader in another
 * namespace adds the published counts of namespaces whose token is still
 * mapped by someone.  Namespaces whose token nobody maps any more -- a
 * container that was stopped -- count zero, and their slot is cleared; what
 * that slot said about its presence segment becomes a "tombstone" in the
 * header, which that namespace, if it still exists, removes at its next
 * locked call (a namespace can only remove its own segments).
 */
#include "engine.h"

#include <errno.h>
#include <string.h>
#include <sys/shm.h>
#include <unistd.h>

#define GS_PRESENCE_SEGSZ 1
#define GS_PRESENCE_MODE 0644
#define GS_PRESENCE_MAGIC "GOSHMPRS"

/* At the start of a presence segment's page: the kernel maps whole pages,
 * and a one-byte segment's page is all usable. */
struct gs_presence_tag {
	char magic[8];
	uint64_t store_id;
	uint64_t gen;
};
/* native_id while new_presence() is inside shmget: the id is not known. */
#define GS_NATIVE_CREATING (-2)

static void my_ns(struct gs_locked *l)
{
	if (l->ns_known)
		return;
	l->ns_known = 1;
	gs_ipc_ns(&l->ns_dev, &l->ns_ino, 0);
}

static int is_mine(struct gs_locked *l, const struct gs_ns_slot *ns)
{
	my_ns(l);
	return ns->ns_dev == l->ns_dev && ns->ns_ino == l->ns_ino;
}

/* A presence segment of "our" namespace did not answer: either it is gone,
 * or this process has moved to another IPC namespace (unshare, setns)
 * since it cached its identity.  Read the identity again before making a
 * presence segment in the slot; returns whether the slot is still ours. */
static int still_mine(struct gs_locked *l, const struct gs_ns_slot *ns)
{
	if (!l->ns_fresh) {
		l->ns_fresh = 1;
		gs_ipc_ns(&l->ns_dev, &l->ns_ino, 1);
	}
	return is_mine(l, ns);
}

/* What new_presence() makes (goshm 0.1, format 1, made the same). */
static int looks_like_presence(const struct shmid_ds *d)
{
	return d->shm_segsz == GS_PRESENCE_SEGSZ && d->shm_perm.__key == IPC_PRIVATE &&
	       (d->shm_perm.mode & 0777) == GS_PRESENCE_MODE;
}

/* Does slot sl name kernel segment id as the caller's namespace's
 * presence segment? */
int gs_names_my_presence(const struct gs_slot *sl, long id)
{
	uint64_t dev, ino;
	gs_ipc_ns(&dev, &ino, 0);
	for (unsigned k = 0; k < GS_NS_SLOTS; k++)
		if (sl->ns[k].token_gen && sl->ns[k].native_id == id &&
		    sl->ns[k].ns_dev == dev && sl->ns[k].ns_ino == ino)
			return 1;
	return 0;
}

/* Is kernel segment id (d its IPC_STAT) a presence segment that a slot of
 * store s names for the caller's namespace?  Routed calls hide those from
 * SHM_STAT and SHM_INFO.  Read from the mapping, without attaching the
 * segment (its shm_atime is part of a goshm segment's). */
int gs_is_presence(struct goshm_store *s, int id, const struct shmid_ds *d)
{
	struct gs_view v;
	if (!looks_like_presence(d) || !s || gs_view(s, &v) != 0)
		return 0;
	unsigned hi = __atomic_load_n(&v.hdr->hi_water, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < hi && i < GS_SHMMNI; i++)
		if (v.state[i] != GS_FREE &&
		    gs_names_my_presence(gs_view_slot(&v, i), id))
			return 1;
	return 0;
}

/* Read the tag of kernel segment id: 0 and the store and generation it
 * counts attaches of, or -1 when it is not a tagged presence segment. */
int gs_presence_tag(int id, uint64_t *store_id, uint64_t *gen)
{
	struct shmid_ds d;
	if (gs_sys_shmctl(id, IPC_STAT, &d) < 0 || !looks_like_presence(&d))
		return -1;
	long p = gs_sys_shmat(id, NULL, SHM_RDONLY);
	if (p < 0 && p > -4096)
		return -1;
	struct gs_presence_tag t;
	memcpy(&t, (void *)p, sizeof t);
	gs_sys_shmdt((void *)p);
	if (memcmp(t.magic, GS_PRESENCE_MAGIC, sizeof t.magic))
		return -1;
	*store_id = t.store_id;
	*gen = t.gen;
	return 0;
}

/* Remove the presence segments that process creator made and nobody
 * attaches: what it left when it was killed inside shmget. */
static void remove_made_by(int32_t creator)
{
	struct shmid_ds d;
	struct shm_info info;
	long max = gs_sys_shmctl(0, SHM_INFO, &info);
	for (long i = 0; i <= max; i++) {
		long id = gs_sys_shmctl((int)i, SHM_STAT, &d);
		if (id >= 0 && looks_like_presence(&d) && d.shm_nattch == 0 &&
		    d.shm_cpid == creator)
			gs_sys_shmctl((int)id, IPC_RMID, NULL);
	}
}

/*
 * A process killed while it made the presence segment of slot ns -- in its
 * shmget (a SIGKILL takes effect when the call returns), or before it
 * recorded the segment's ctime -- left the record half written; it held
 * the lock, and we hold it now, so it is dead.  A segment whose id it
 * recorded is adopted; one it made without saying which is removed.
 */
static void settle_creating(struct gs_locked *l, struct gs_ns_slot *ns)
{
	struct shmid_ds d;
	if (ns->native_id != GS_NATIVE_CREATING && (ns->native_id < 0 || ns->native_ctime))
		return;
	gs_write(l);
	if (ns->native_id >= 0 && gs_sys_shmctl(ns->native_id, IPC_STAT, &d) == 0 &&
	    looks_like_presence(&d) && d.shm_cpid == ns->creator) {
		ns->native_ctime = d.shm_ctime;
		return;
	}
	if (ns->native_id == GS_NATIVE_CREATING)
		remove_made_by(ns->creator);
	ns->native_id = -1;
}

/* The kernel's record of a namespace's presence segment, if it is still
 * the one the slot names. */
static int native_stat(const struct gs_ns_slot *ns, struct shmid_ds *d)
{
	if (!ns->token_gen || ns->native_id < 0 || !ns->native_ctime)
		return -1;
	if (gs_sys_shmctl(ns->native_id, IPC_STAT, d) < 0)
		return -1;
	if (d->shm_segsz != GS_PRESENCE_SEGSZ || d->shm_ctime != ns->native_ctime)
		return -1;
	return 0;
}

/* ---- Tombstones. ---- */

static void tomb_add(struct gs_locked *l, const struct gs_ns_slot *ns)
{
	struct gs_header *h = l->hdr;
	if (ns->native_id < 0 && ns->native_id != GS_NATIVE_CREATING)
		return;
	gs_write(l);
	if (h->ntomb == GS_TOMBS) {
		/* Full: forget the oldest.  Its segment stays until its
		 * namespace ends, or `goshm gc` runs there (gc.c). */
		memmove(&h->tombs[0], &h->tombs[1], (GS_TOMBS - 1) * sizeof h->tombs[0]);
		h->ntomb--;
	}
	struct gs_tomb *t = &h->tombs[h->ntomb++];
	t->ns_dev = ns->ns_dev;
	t->ns_ino = ns->ns_ino;
	t->native_id = ns->native_id;
	t->native_ctime = ns->native_ctime;
	t->creator = ns->creator;
}

/* Remove our namespace's presence segment that t names, if it is still
 * that one and unattached. */
static void remove_tomb(const struct gs_tomb *t)
{
	struct shmid_ds d;
	if (t->native_id == GS_NATIVE_CREATING) {
		remove_made_by(t->creator);
		return;
	}
	if (gs_sys_shmctl(t->native_id, IPC_STAT, &d) < 0 || !looks_like_presence(&d))
		return;
	if (t->native_ctime ? d.shm_ctime == t->native_ctime : d.shm_cpid == t->creator)
		gs_sys_shmctl(t->native_id, IPC_RMID, NULL);
}

void gs_tombs_sweep(struct gs_locked *l)
{
	struct gs_header *h = l->hdr;
	unsigned kept = 0;
	my_ns(l);
	gs_write(l);
	for (unsigned i = 0; i < h->ntomb && i < GS_TOMBS; i++) {
		struct gs_tomb t = h->tombs[i];
		if (t.ns_dev == l->ns_dev && t.ns_ino == l->ns_ino)
			remove_tomb(&t);
		else
			h->tombs[kept++] = t;
	}
	h->ntomb = kept;
}

/* ---- Counting. ---- */

/* Empty namespace slot k of segment idx, and remove its token file.  The
 * presence segment it names becomes a tombstone if that namespace may
 * still have it (with_tomb). */
static void clear_ns(struct gs_locked *l, unsigned idx, unsigned k, int with_tomb)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	gs_write(l);
	if (with_tomb)
		tomb_add(l, &sl->ns[k]);
	gs_token_unlink(l, sl, k);
	memset(&sl->ns[k], 0, sizeof sl->ns[k]);
	gs_pub_clear(sl, k);
}

/* What namespace slot k contributes; clears slots that are dead. */
static unsigned long ns_count(struct gs_locked *l, unsigned idx, unsigned k)
{
	struct gs_ns_slot *ns = &gs_slot_at(l, idx)->ns[k];
	struct shmid_ds d;
	if (!ns->token_gen)
		return 0;
	if (is_mine(l, ns)) {
		settle_creating(l, ns);
		/* Nothing attached here, or the presence segment is gone (an
		 * `ipcrm -a`): the next attach here makes one. */
		return native_stat(ns, &d) == 0 ? d.shm_nattch : 0;
	}
	int alive = gs_token_alive(l, idx, k);
	if (alive == 0) {
		clear_ns(l, idx, k, 1);
		return 0;
	}
	/* Another namespace that still has attaches, or one we cannot probe:
	 * trust its last word (read after the segment was marked dying, if it
	 * is being destroyed: shmat.c publish_one). */
	return gs_pub_count(gs_slot_at(l, idx), k);
}

unsigned long gs_nattch(struct gs_locked *l, unsigned idx)
{
	unsigned long n = 0;
	for (unsigned k = 0; k < GS_NS_SLOTS; k++)
		n += ns_count(l, idx, k);
	return n;
}

static int find_my_slot(struct gs_locked *l, struct gs_slot *sl)
{
	for (unsigned k = 0; k < GS_NS_SLOTS; k++)
		if (sl->ns[k].token_gen && is_mine(l, &sl->ns[k]))
			return (int)k;
	return -1;
}

/* The caller's namespace slot in sl (a copy is fine), or -1; unless alone
 * is NULL, *alone says whether no other namespace has attached sl: then
 * nattch is our presence segment's count alone, with nothing to probe.
 * Without it the search ends at the caller's slot (shmat's path). */
int gs_my_ns_slot_alone(const struct gs_slot *sl, int *alone)
{
	uint64_t dev, ino;
	int mine = -1, others = 0;
	gs_ipc_ns(&dev, &ino, 0);
	for (unsigned k = 0; k < GS_NS_SLOTS; k++) {
		if (!sl->ns[k].token_gen)
			continue;
		if (mine < 0 && sl->ns[k].ns_dev == dev && sl->ns[k].ns_ino == ino) {
			mine = (int)k;
			if (!alone)
				break;
		} else {
			others = 1;
		}
	}
	if (alone)
		*alone = !others;
	return mine;
}

int gs_my_ns_slot(const struct gs_slot *sl) { return gs_my_ns_slot_alone(sl, NULL); }

/* A slot for our namespace, with a fresh token file. */
static int claim_slot(struct gs_locked *l, unsigned idx)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	int k;
	/* A namespace's first attach: clear the slots (and token files) of
	 * namespaces that are gone, such as this container's last life. */
	gs_nattch(l, idx);
	for (k = 0; k < (int)GS_NS_SLOTS; k++)
		if (!sl->ns[k].token_gen)
			break;
	if (k == (int)GS_NS_SLOTS) {
		gs_warn_store(l->store, "a segment is attached from 8 IPC namespaces already", ENOMEM,
		              "detach it in one of them (docs/DIFFERENCES.md, Ids and limits)");
		return -ENOMEM;
	}
	gs_write(l);
	struct gs_ns_slot *ns = &sl->ns[k];
	memset(ns, 0, sizeof *ns);
	gs_pub_clear(sl, (unsigned)k);
	ns->native_id = -1;
	int r = gs_token_create(l, idx, (unsigned)k);
	if (r < 0)
		return r;
	ns->ns_dev = l->ns_dev;
	ns->ns_ino = l->ns_ino;
	return k;
}

/*
 * The kernel has just given id, at ctime, to our new presence segment
 * (that of slot self).  Another slot that names our namespace and that
 * same presence segment is from a namespace that ended and whose inode
 * number ours has now (attach_existing): no segment of ours had the id
 * before.  Forget such slots, without tombstones, so that no count takes
 * our new presence segment for theirs.
 */
static void forget_namesakes(struct gs_locked *l, const struct gs_ns_slot *self, int32_t id,
                             int64_t ctime)
{
	unsigned hi = l->hdr->hi_water;
	for (unsigned i = 0; i < hi && i < GS_SHMMNI; i++) {
		if (l->state[i] == GS_FREE)
			continue;
		struct gs_slot *sl = gs_slot_at(l, i);
		for (unsigned k = 0; k < GS_NS_SLOTS; k++) {
			const struct gs_ns_slot *ns = &sl->ns[k];
			if (ns != self && ns->token_gen && is_mine(l, ns) && ns->native_id == id &&
			    ns->native_ctime == ctime)
				clear_ns(l, i, k, 0);
		}
	}
}

/* A new presence segment for slot ns of segment sl, attached once by us
 * (for writing: the tag).  Its id is in the slot before anything else can
 * happen (settle_creating). */
static int new_presence(struct gs_locked *l, const struct gs_slot *sl,
                        struct gs_ns_slot *ns, void **presence)
{
	struct shmid_ds d;
	gs_write(l);
	ns->native_id = GS_NATIVE_CREATING;
	ns->native_ctime = 0;
	ns->creator = (int32_t)getpid();
	long id = gs_sys_shmget(IPC_PRIVATE, GS_PRESENCE_SEGSZ, IPC_CREAT | GS_PRESENCE_MODE);
	if (id < 0) {
		ns->native_id = -1;
		gs_warn_store(l->store, "cannot create the kernel segment that counts "
		              "attaches", (int)id,
		              "allow shmget in this container (seccomp) or raise "
		              "kernel.shmmni");
		return -ENOMEM;
	}
	ns->native_id = (int32_t)id;
	long p = gs_sys_shmat((int)id, NULL, 0);
	if ((p < 0 && p > -4096) || gs_sys_shmctl((int)id, IPC_STAT, &d) < 0) {
		if (!(p < 0 && p > -4096))
			gs_sys_shmdt((void *)p);
		gs_sys_shmctl((int)id, IPC_RMID, NULL);
		ns->native_id = -1;
		return p < 0 && p > -4096 ? (int)p : -ENOMEM;
	}
	struct gs_presence_tag tag;
	memcpy(tag.magic, GS_PRESENCE_MAGIC, sizeof tag.magic);
	tag.store_id = l->hdr->store_id;
	tag.gen = sl->gen;
	memcpy((void *)p, &tag, sizeof tag);
	forget_namesakes(l, ns, ns->native_id, d.shm_ctime);
	ns->native_ctime = d.shm_ctime;
	*presence = (void *)p;
	return 0;
}

/* Attach our presence segment of slot ns if it is there: 0, or -1 when it
 * is not (removed by `ipcrm -a`: the locked path makes another).  Within
 * one IPC namespace the kernel reuses an id only after its index's
 * sequence number has gone round (65536 segments at that index).  Across
 * namespaces it does at once, and it gives a new namespace the inode number
 * of one that ended: a container restarted within the second finds, at the
 * id and with the ctime the slot names, a presence segment the new
 * namespace made for another segment.  Its tag says so: GS_PRESENCE_FOREIGN.
 * (A presence segment without a tag is one an engine before format 2 made.)
 * The lock-free attach needs no such check: it runs only in a process that
 * has attached the segment under the lock in this namespace already
 * (shmat.c, gs_table_pin_token). */
#define GS_PRESENCE_FOREIGN (-2)

static int attach_existing(const struct gs_ns_slot *ns, uint64_t store_id, uint64_t gen,
                           void **presence)
{
	if (ns->native_id < 0 || !ns->native_ctime)
		return -1;
	long p = gs_sys_shmat(ns->native_id, NULL, SHM_RDONLY);
	if (p < 0 && p > -4096)
		return -1;
	if (store_id) {
		struct gs_presence_tag t;
		memcpy(&t, (void *)p, sizeof t);
		if (!memcmp(t.magic, GS_PRESENCE_MAGIC, sizeof t.magic) &&
		    (t.store_id != store_id || t.gen != gen)) {
			gs_sys_shmdt((void *)p);
			return GS_PRESENCE_FOREIGN;
		}
	}
	*presence = (void *)p;
	return 0;
}

int gs_presence_attach(struct gs_locked *l, unsigned idx, void **presence,
                       int *nsk)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	my_ns(l);
	int k = find_my_slot(l, sl);
	if (k >= 0) {
		settle_creating(l, &sl->ns[k]);
		struct shmid_ds d;
		int r = native_stat(&sl->ns[k], &d) == 0
		                ? attach_existing(&sl->ns[k], l->hdr->store_id, sl->gen, presence)
		                : -1;
		if (r == 0) {
			*nsk = k;
			return 0;
		}
		/* A namespace that ended, whose inode number ours has now: no
		 * tombstone, its presence segment ended with it, and the id it
		 * names is another segment's here. */
		if (r == GS_PRESENCE_FOREIGN && still_mine(l, &sl->ns[k]))
			clear_ns(l, idx, (unsigned)k, 0);
		if (!still_mine(l, &sl->ns[k]))
			k = find_my_slot(l, sl);
	}
	if (k < 0) {
		k = claim_slot(l, idx);
		if (k < 0)
			return k;
	}
	int r = new_presence(l, sl, &sl->ns[k], presence);
	if (r < 0)
		return r;
	*nsk = k;
	return 0;
}

/*
 * The lock-free attach of shmat.c: our namespace's presence segment, if
 * the slot (a snapshot) names a complete one.  Returns 0 with the attach
 * and its namespace slot, or GS_SNAP_RETRY for the locked path.
 */
int gs_presence_fast(const struct gs_slot *sl, int *nsk, void **presence)
{
	int k = gs_my_ns_slot(sl);
	if (k < 0 || attach_existing(&sl->ns[k], 0, 0, presence) < 0)
		return GS_SNAP_RETRY;
	*nsk = k;
	return 0;
}

void gs_presence_detach(void *presence)
{
	if (presence)
		gs_sys_shmdt(presence);
}

/* The goshm segment sl (a copy of its slot) is destroyed: its presence
 * segments go too -- ours now, other namespaces' through tombstones. */
void gs_presence_release(struct gs_locked *l, const struct gs_slot *sl)
{
	struct shmid_ds d;
	for (unsigned k = 0; k < GS_NS_SLOTS; k++) {
		struct gs_ns_slot ns = sl->ns[k];
		if (!ns.token_gen)
			continue;
		if (!is_mine(l, &ns)) {
			tomb_add(l, &ns);
			continue;
		}
		/* One a killed maker left half recorded is found first. */
		settle_creating(l, &ns);
		if (native_stat(&ns, &d) == 0)
			gs_sys_shmctl(ns.native_id, IPC_RMID, NULL);
	}
}

/*
 * Set namespace slot k's published count to its presence segment's count,
 * for generation gen and the namespace whose token generation is tgen.
 * A lock-free shmat of the namespace attaches the presence segment first
 * and then adds one to the published count: the swap from the word read
 * before the kernel's count (publish.c) keeps such an increment from being
 * overwritten by an older count, which another namespace would take for
 * fewer attaches than there are.  After 16 lost races the word is left as
 * it is: each race was an attach or a newer count, never a lower truth.
 *
 * A lock-free shmdt calls this after its own attach is gone, when the
 * segment may be destroyed and its slot made another's at any moment (or,
 * once the process no longer maps its token, the namespace slot cleared
 * and claimed by another namespace): the generations are checked after
 * the word is read, and a slot freed or cleared since has bumped the word
 * (publish.c), so the swap fails.
 */
void gs_publish_exact(struct gs_slot *sl, unsigned k, uint64_t gen, uint32_t tgen)
{
	struct shmid_ds d;
	for (int tries = 0; tries < 16; tries++) {
		uint64_t seen = gs_pub_word(sl, k);
		if (!gs_pub_holds(sl, k, gen, tgen))
			return;
		uint32_t now = native_stat(&sl->ns[k], &d) == 0 ? (uint32_t)d.shm_nattch : 0;
		if (gs_pub_replace(sl, k, seen, now))
			return;
	}
}

/* After an attach or detach under the lock: record our namespace's count
 * and the namespace that did the last operation. */
void gs_publish_local(struct gs_locked *l, unsigned idx)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	my_ns(l);
	gs_write(l);
	sl->last_ns_dev = l->ns_dev;
	sl->last_ns_ino = l->ns_ino;
	int k = find_my_slot(l, sl);
	if (k >= 0)
		gs_publish_exact(sl, (unsigned)k, sl->gen, sl->ns[k].token_gen);
}

/*
 * shm_atime, shm_dtime and shm_lpid as the kernel keeps them: our presence
 * segment saw every attach, fork, detach, exit and kill in this namespace,
 * the registry saw the explicit calls of every namespace.  native is the
 * record of the presence segment of namespace slot k, the caller's, or
 * NULL.
 */
void gs_merge_times(const struct gs_slot *sl, const struct shmid_ds *native, int k,
                    int64_t *atime, int64_t *dtime, int32_t *lpid)
{
	*atime = sl->atime;
	*dtime = sl->dtime;
	*lpid = sl->lpid;
	if (!native || k < 0 || k >= (int)GS_NS_SLOTS)
		return;
	int64_t reg_last = sl->atime > sl->dtime ? sl->atime : sl->dtime;
	int64_t nat_last = native->shm_atime > native->shm_dtime ? native->shm_atime
	                                                         : native->shm_dtime;
	if (native->shm_atime > *atime)
		*atime = native->shm_atime;
	if (native->shm_dtime > *dtime)
		*dtime = native->shm_dtime;
	int ours = sl->last_ns_dev == sl->ns[k].ns_dev && sl->last_ns_ino == sl->ns[k].ns_ino;
	if (ours || nat_last > reg_last)
		*lpid = native->shm_lpid;
}

/* The record of the presence segment of namespace slot k (the caller's,
 * gs_my_ns_slot) of sl (a copy is fine): 0 and *d, or -1 when this
 * namespace has none (k -1) or it is gone. */
int gs_native_record(const struct gs_slot *sl, int k, struct shmid_ds *d)
{
	return k < 0 || k >= (int)GS_NS_SLOTS ? -1 : native_stat(&sl->ns[k], d);
}
