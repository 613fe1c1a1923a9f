/*
 * presence.c - shm_nattch, counted by the kernel.
 *
 * Every goshm attach is paired with a kernel attach of a one-byte "presence"
 * segment that belongs to the goshm segment and the caller's IPC namespace.
 * The kernel then does the hard part exactly: fork() counts inherited
 * attaches again, exec, exit and SIGKILL uncount them, and none of it needs
 * a descriptor or a line of our code to run.  The presence segment is
 * removed (IPC_RMID) as soon as it is created, so the kernel destroys it at
 * its last detach and a stopped program leaves nothing in `ipcs -m`.
 *
 * Another IPC namespace (a second container on the same volume) cannot see
 * our presence segment.  Each namespace therefore also publishes its count
 * in the registry at every attach and detach, and every process with an
 * attach maps a per-namespace "token" file.  A reader in another namespace
 * adds the published counts of namespaces whose token is still mapped by
 * someone; whether it is, the kernel tells through a read-lease probe
 * (F_SETLEASE F_RDLCK fails while any process has the file open for
 * writing, and a shared mapping keeps it open).  Namespaces whose token
 * nobody maps any more -- a container that was stopped -- count zero.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GS_PRESENCE_SEGSZ 1

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

/* A presence segment of "our" namespace did not answer when we were about
 * to attach: either its attaches are all gone, or this process has moved
 * to another IPC namespace since it cached its identity.  Read the
 * identity again before creating a presence segment in the slot; returns
 * whether the slot is still ours. */
static int still_mine(struct gs_locked *l, const struct gs_ns_slot *ns)
{
	if (!l->ns_fresh) {
		l->ns_fresh = 1;
		gs_ipc_ns(&l->ns_dev, &l->ns_ino, 1);
	}
	return is_mine(l, ns);
}

/* native_id while new_presence() is inside shmget: the id is not known. */
#define GS_NATIVE_CREATING (-2)

/*
 * A process killed while it made a presence segment -- inside its shmget
 * (a SIGKILL takes effect when the call returns), or before its IPC_RMID --
 * leaves that segment in the namespace for good, where it counts against
 * kernel.shmmni.  new_presence() says in the slot what it is doing, and it
 * holds the registry lock all along: whoever holds the lock and finds such
 * a record knows its writer is dead, and removes the segment.  Unknown id:
 * the one-byte, not yet removed, unattached segment that the creator made.
 */
static int left_presence(const struct shmid_ds *d)
{
	return d->shm_segsz == GS_PRESENCE_SEGSZ && d->shm_perm.__key == IPC_PRIVATE &&
	       d->shm_nattch == 0 && (d->shm_perm.mode & (SHM_DEST | S_IRWXUGO)) == 0644;
}

static void remove_left_presence(const struct gs_ns_slot *ns)
{
	struct shmid_ds d;
	if (ns->native_id >= 0) {
		if (gs_sys_shmctl(ns->native_id, IPC_STAT, &d) == 0 && left_presence(&d))
			gs_sys_shmctl(ns->native_id, IPC_RMID, NULL);
		return;
	}
	struct shm_info info;
	long max = gs_sys_shmctl(0, SHM_INFO, &info);
	for (long i = 0; i <= max; i++) {
		long id = gs_sys_shmctl((int)i, SHM_STAT, &d);
		if (id >= 0 && left_presence(&d) && d.shm_cpid == ns->creator)
			gs_sys_shmctl((int)id, IPC_RMID, NULL);
	}
}

/* The kernel's record of our presence segment, if it is still ours. */
static int native_stat(struct gs_ns_slot *ns, struct shmid_ds *d)
{
	if (!ns->token_gen)
		return -1;
	if (ns->native_id == GS_NATIVE_CREATING ||
	    (ns->native_id >= 0 && !ns->native_ctime)) {
		remove_left_presence(ns);
		ns->native_id = -1;
		return -1;
	}
	if (ns->native_id < 0 || gs_sys_shmctl(ns->native_id, IPC_STAT, d) < 0)
		return -1;
	if (d->shm_segsz != GS_PRESENCE_SEGSZ || !(d->shm_perm.mode & SHM_DEST) ||
	    d->shm_ctime != ns->native_ctime)
		return -1;
	return 0;
}

/* F_SETLEASE F_RDLCK on fd: 0 taken (and dropped), or -errno. */
static int try_lease(int fd)
{
	if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0)
		return -errno;
	fcntl(fd, F_SETLEASE, F_UNLCK);
	return 0;
}

/*
 * A lease needs the file's owner or CAP_LEASE, which Docker does not grant.
 * Root in a container (CAP_SETUID) takes another user's token's lease as
 * that user: setfsuid() changes only this thread's file-system uid, for
 * the length of one fcntl, and the thread's effective capabilities, which
 * a change of fsuid away from 0 clears, are put back as they were.
 */
static int lease_as_owner(int fd)
{
	struct stat st;
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	if (fstat(fd, &st) < 0 || !gs_has_cap(CAP_SETUID) ||
	    syscall(SYS_capget, &hdr, caps) < 0)
		return -EACCES;
	uid_t prev = (uid_t)syscall(SYS_setfsuid, st.st_uid);
	int r = try_lease(fd);
	syscall(SYS_setfsuid, prev);
	syscall(SYS_capset, &hdr, caps);
	return r;
}

/* 1: someone maps the token, 0: nobody does, -1: cannot tell. */
static int token_alive(struct gs_locked *l, unsigned idx, unsigned k)
{
	char path[PATH_MAX];
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (gs_token_path(l->store, sl->gen, k,
	                  sl->ns[k].token_gen, path, sizeof path) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	/* Every process that opens a token does so holding the registry lock,
	 * as we do now, so nobody can break this lease while we hold it. */
	int r = try_lease(fd);
	if (r == -EACCES)
		r = lease_as_owner(fd);
	close(fd);
	return r == 0 ? 0 : r == -EAGAIN ? 1 : -1;
}

static void clear_ns(struct gs_locked *l, unsigned idx, unsigned k)
{
	char path[PATH_MAX];
	struct gs_slot *sl = gs_slot_at(l, idx);
	if (gs_token_path(l->store, sl->gen, k,
	                  sl->ns[k].token_gen, path, sizeof path) == 0)
		unlink(path);
	memset(&sl->ns[k], 0, sizeof sl->ns[k]);
}

/* What namespace slot k contributes; clears slots that are dead. */
static unsigned long ns_count(struct gs_locked *l, unsigned idx, unsigned k)
{
	struct gs_ns_slot *ns = &gs_slot_at(l, idx)->ns[k];
	struct shmid_ds d;
	if (!ns->token_gen)
		return 0;
	if (is_mine(l, ns)) {
		if (native_stat(ns, &d) == 0)
			return d.shm_nattch;
		/* Nothing attached here any more.  The slot and its token stay
		 * for our next attach; other namespaces clear them if we die. */
		return 0;
	}
	int alive = token_alive(l, idx, k);
	if (alive == 0) {
		clear_ns(l, idx, k);
		return 0;
	}
	/* Another namespace that still has attaches, or one we cannot probe:
	 * trust its last word. */
	return ns->published;
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

/* A slot for our namespace, with a fresh token file. */
static int claim_slot(struct gs_locked *l, unsigned idx)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	char path[PATH_MAX];
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
	uint32_t tgen = (uint32_t)(l->hdr->next_gen++ & 0xffffffffu);
	if (!tgen)
		tgen = (uint32_t)(l->hdr->next_gen++ & 0xffffffffu);
	int r = gs_token_path(l->store, sl->gen, (unsigned)k, tgen,
	                      path, sizeof path);
	if (r < 0)
		return r;
	l->hdr->pending_gen = sl->gen; /* until the slot names the token */
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0) {
		r = -errno;
		l->hdr->pending_gen = 0;
		return gs_store_error(l->store, "cannot create a token file", r,
		                      "make its segments directory writable (mode 777)");
	}
	r = (fchmod(fd, 0666) < 0 || ftruncate(fd, gs_page_size()) < 0) ? -errno : 0;
	close(fd);
	if (r < 0) {
		unlink(path);
		l->hdr->pending_gen = 0;
		return r;
	}
	struct gs_ns_slot *ns = &sl->ns[k];
	memset(ns, 0, sizeof *ns);
	ns->ns_dev = l->ns_dev;
	ns->ns_ino = l->ns_ino;
	ns->native_id = -1;
	ns->token_gen = tgen;
	l->hdr->pending_gen = 0;
	return k;
}

/* A new presence segment for slot k, attached once by us. */
static int new_presence(struct gs_locked *l, struct gs_ns_slot *ns,
                        void **presence)
{
	struct shmid_ds d;
	ns->native_id = GS_NATIVE_CREATING;
	ns->creator = (int32_t)getpid();
	long id = gs_sys_shmget(IPC_PRIVATE, GS_PRESENCE_SEGSZ, IPC_CREAT | 0644);
	if (id < 0) {
		ns->native_id = -1;
		gs_warn_store(l->store, "cannot create the kernel segment that counts "
		              "attaches", (int)id,
		              "allow shmget in this container (seccomp) or raise "
		              "kernel.shmmni");
		return -ENOMEM;
	}
	/* Named in the slot at once, its ctime (set once it is removed) 0
	 * until then: see remove_left_presence(). */
	ns->native_id = (int32_t)id;
	ns->native_ctime = 0;
	long p = gs_sys_shmat((int)id, NULL, SHM_RDONLY);
	if (p < 0 && p > -4096) {
		gs_sys_shmctl((int)id, IPC_RMID, NULL);
		ns->native_id = -1;
		return (int)p;
	}
	gs_sys_shmctl((int)id, IPC_RMID, NULL);
	if (gs_sys_shmctl((int)id, IPC_STAT, &d) < 0) {
		gs_sys_shmdt((void *)p);
		ns->native_id = -1;
		return -ENOMEM;
	}
	ns->native_ctime = d.shm_ctime;
	*presence = (void *)p;
	return 0;
}

int gs_presence_attach(struct gs_locked *l, unsigned idx, void **presence,
                       int *nsk)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	struct shmid_ds d;
	my_ns(l);
	int k = find_my_slot(l, sl);
	if (k >= 0 && native_stat(&sl->ns[k], &d) == 0) {
		long p = gs_sys_shmat(sl->ns[k].native_id, NULL, SHM_RDONLY);
		if (!(p < 0 && p > -4096)) {
			/* Between our check and our attach the segment may have
			 * died and its id been reused: check again, attached. */
			if (native_stat(&sl->ns[k], &d) == 0) {
				*presence = (void *)p;
				*nsk = k;
				return 0;
			}
			gs_sys_shmdt((void *)p);
		}
	}
	if (k >= 0 && !still_mine(l, &sl->ns[k]))
		k = find_my_slot(l, sl);
	if (k < 0) {
		k = claim_slot(l, idx);
		if (k < 0)
			return k;
	}
	int r = new_presence(l, &sl->ns[k], presence);
	if (r < 0)
		return r;
	*nsk = k;
	return 0;
}

void gs_presence_detach(void *presence)
{
	if (presence)
		gs_sys_shmdt(presence);
}

/* Map our namespace's token, once per segment and process. */
int gs_token_map(struct gs_locked *l, unsigned idx, int nsk, void **token)
{
	char path[PATH_MAX];
	struct gs_slot *sl = gs_slot_at(l, idx);
	int shmid = gs_id_of(l, idx);
	void *t = gs_table_token(l->store, shmid, sl->gen);
	if (t) {
		*token = t;
		return 0;
	}
	int r = gs_token_path(l->store, sl->gen, (unsigned)nsk,
	                      sl->ns[nsk].token_gen, path, sizeof path);
	if (r < 0)
		return r;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		if (r != -ENOENT)
			return gs_store_error(l->store, "cannot open a token file", r, NULL);
		gs_warn_store(l->store, "a token file is missing", r,
		              "the store was damaged; run goshm gc");
		return -EIO;
	}
	/* Opened for writing, so that other namespaces' lease probes see it;
	 * mapped read-only, since nobody ever writes it. */
	t = mmap(NULL, (size_t)gs_page_size(), PROT_READ, MAP_SHARED, fd, 0);
	r = t == MAP_FAILED ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	*token = t;
	return 0;
}

/* After an attach or detach: record our namespace's count and the
 * namespace that did the last operation. */
void gs_publish_local(struct gs_locked *l, unsigned idx)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	struct shmid_ds d;
	my_ns(l);
	sl->last_ns_dev = l->ns_dev;
	sl->last_ns_ino = l->ns_ino;
	int k = find_my_slot(l, sl);
	if (k < 0)
		return;
	sl->ns[k].published =
		native_stat(&sl->ns[k], &d) == 0 ? (uint32_t)d.shm_nattch : 0;
}

/*
 * shm_atime, shm_dtime and shm_lpid as the kernel keeps them: our presence
 * segment saw every attach, fork, detach, exit and kill in this namespace,
 * the registry saw the explicit calls of every namespace.
 */
void gs_local_times(struct gs_locked *l, unsigned idx, int64_t *atime,
                    int64_t *dtime, int32_t *lpid)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	struct shmid_ds d;
	*atime = sl->atime;
	*dtime = sl->dtime;
	*lpid = sl->lpid;
	my_ns(l);
	int k = find_my_slot(l, sl);
	if (k < 0 || native_stat(&sl->ns[k], &d) < 0)
		return;
	int64_t reg_last = sl->atime > sl->dtime ? sl->atime : sl->dtime;
	int64_t nat_last = d.shm_atime > d.shm_dtime ? d.shm_atime : d.shm_dtime;
	if (d.shm_atime > *atime)
		*atime = d.shm_atime;
	if (d.shm_dtime > *dtime)
		*dtime = d.shm_dtime;
	int ours = sl->last_ns_dev == l->ns_dev && sl->last_ns_ino == l->ns_ino;
	if (ours || nat_last > reg_last)
		*lpid = d.shm_lpid;
}
