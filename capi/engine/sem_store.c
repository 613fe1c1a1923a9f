/*
 * sem_store.c - the semaphore registry (sem/registry), the set files
 * (sem/set-<gen>) and this process's mappings of them.
 *
 * The registry is locked like the shm registry (store.c): the store's
 * process mutex, then a POSIX record lock on the file, held only for the
 * length of one semget or semctl.  semop never takes it: it finds the set
 * through this process's cache of set mappings, which it validates with
 * the set's own header (id, removed), so that an uncontended semop makes
 * no system call.  Which mappings a process keeps, and when it unmaps
 * them, is sem_cache.c's.
 */
#include "sem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- GOSHM_SEM ---- */

static pthread_once_t sem_once = PTHREAD_ONCE_INIT;
static int sem_on;

static void read_sem_env(void)
{
	const char *v = getenv("GOSHM_SEM");
	sem_on = !v || strcmp(v, "0");
	if (v && strcmp(v, "0") && strcmp(v, "1") && v[0])
		gs_warn_config("GOSHM_SEM", "is neither 0 nor 1", EINVAL,
		               "semaphores are served from the store; GOSHM_SEM=0 leaves them "
		               "to the kernel");
}

/* Semaphores are served from the store unless GOSHM_SEM=0 (README.md,
 * docs/DIFFERENCES.md), like segments: a store keeps a program's whole
 * System V state. */
int gs_sem_enabled(void)
{
	pthread_once(&sem_once, read_sem_env);
	return sem_on;
}

/* ---- raw system calls ---- */

long gs_sys_semget(key_t key, int nsems, int flg)
{
	int saved = errno;
	long r = gs_syscall(SYS_semget, key, nsems, flg);
	if (r < 0)
		r = -errno;
	errno = saved;
	return r;
}

long gs_sys_semtimedop(int id, struct sembuf *sops, size_t n, const struct timespec *t)
{
	int saved = errno;
	long r = gs_syscall(SYS_semtimedop, id, sops, n, t);
	if (r < 0)
		r = -errno;
	errno = saved;
	return r;
}

long gs_sys_semctl(int id, int num, int cmd, void *arg)
{
	int saved = errno;
	long r = gs_syscall(SYS_semctl, id, num, cmd, arg);
	if (r < 0)
		r = -errno;
	errno = saved;
	return r;
}

/* ---- the registry ---- */

static void set_name(uint64_t gen, char *buf, size_t len)
{
	char digits[24];
	int n = 0;
	do
		digits[n++] = (char)('0' + gen % 10);
	while ((gen /= 10) && n < 23);
	size_t i = 0;
	for (const char *p = "set-"; *p && i < len - 1;)
		buf[i++] = *p++;
	while (n && i < len - 1)
		buf[i++] = digits[--n];
	buf[i] = 0;
}

/* The registry is written whole under a temporary name and renamed into
 * place (RENAME_NOREPLACE): a creator killed half-way leaves no
 * half-made registry that others would take for damage, and of racing
 * creators the first wins.  goshm gc removes a temporary left behind. */
static int create_registry(struct goshm_store *s)
{
	int r = gs_make_store_subdir(s, GS_SEM_DIR, 0777);
	if (r < 0)
		return r;
	int dfd = gs_open_dir(s, GS_SEM_DIR);
	if (dfd < 0)
		return dfd;
	char tmp[64];
	uint64_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
		rnd = (uint64_t)gs_monotonic_ns() ^ ((uint64_t)gettid() << 32);
	snprintf(tmp, sizeof tmp, ".registry.%d.%016llx.tmp", (int)getpid(),
	         (unsigned long long)rnd);
	int fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0) {
		r = -errno;
		close(dfd);
		return r;
	}
	struct gs_sem_header h;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, GS_SEM_MAGIC, 8);
	h.version = GS_SEM_VERSION;
	h.mni = GS_SEMMNI;
	h.slot_size = sizeof(struct gs_sem_slot);
	h.last_idx = -1;
	h.next_gen = 1;
	if (getrandom(&h.store_id, sizeof h.store_id, 0) != sizeof h.store_id)
		h.store_id = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	r = fchmod(fd, 0666) < 0 || ftruncate(fd, GS_SEMREG_SIZE) < 0 ? -errno : 0;
	if (r == 0 && pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		r = -EIO;
	close(fd);
	if (r == 0 && renameat2(dfd, tmp, dfd, GS_SEM_REGISTRY, RENAME_NOREPLACE) == 0)
		tmp[0] = 0;
	else if (r == 0 && errno != EEXIST &&
	         linkat(dfd, tmp, dfd, GS_SEM_REGISTRY, 0) < 0 && errno != EEXIST)
		r = -errno; /* no RENAME_NOREPLACE here (NFS): link(2) */
	if (tmp[0])
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return r;
}

/* Geometry, and the fields used as bounds of scans over the slots: a
 * damaged header must not send a scan past the registry's mapping. */
static int semreg_header_valid(const struct gs_sem_header *h)
{
	return !memcmp(h->magic, GS_SEM_MAGIC, 8) && h->version == GS_SEM_VERSION &&
	       h->mni == GS_SEMMNI && h->slot_size == sizeof(struct gs_sem_slot) &&
	       h->hi_water <= GS_SEMMNI && h->idr_next <= GS_SEMMNI &&
	       h->in_use <= GS_SEMMNI && h->last_idx >= -1 && h->last_idx < (int32_t)GS_SEMMNI &&
	       h->seq >= 0 && h->seq <= GS_SEQ_MAX;
}


int gs_semreg_lock(struct goshm_store *s, struct gs_semreg *r, int create)
{
	memset(r, 0, sizeof *r);
	r->fd = -1;
	gs_mutex_lock(&s->mu);
	int fd = gs_open_in(s, GS_SEM_DIR, GS_SEM_REGISTRY, O_RDWR, 0);
	if (fd == -ENOENT && create) {
		int e = create_registry(s);
		fd = e < 0 ? e : gs_open_in(s, GS_SEM_DIR, GS_SEM_REGISTRY, O_RDWR, 0);
	}
	if (fd < 0) {
		gs_mutex_unlock(&s->mu);
		if (fd == -ENOENT && !create)
			return -ENOENT;
		return gs_store_error(s, "cannot open the semaphore registry", fd, NULL);
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
	int e = 0;
	while (fcntl(fd, F_SETLKW, &fl) < 0)
		if (errno != EINTR) {
			e = -errno;
			break;
		}
	struct stat st;
	if (e == 0 && (fstat(fd, &st) < 0 || st.st_size != (off_t)GS_SEMREG_SIZE))
		e = -EIO;
	void *map = MAP_FAILED;
	if (e == 0) {
		map = mmap(NULL, GS_SEMREG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			e = -errno;
	}
	if (e == 0 && !semreg_header_valid(map))
		e = -EIO;
	if (e < 0) {
		if (map != MAP_FAILED)
			munmap(map, GS_SEMREG_SIZE);
		close(fd);
		gs_mutex_unlock(&s->mu);
		if (e == -EIO) {
			gs_warn_store(s, "sem/registry is not a goshm semaphore registry", EIO,
			              "move the store away and see docs/FORMAT.md");
			return -EIO;
		}
		return gs_store_error(s, "cannot lock the semaphore registry", e, NULL);
	}
	r->store = s;
	r->fd = fd;
	r->hdr = map;
	r->slots = (struct gs_sem_slot *)(void *)((char *)map + GS_SEMREG_HDR);
	/* A creator killed between its file and its slot left the file. */
	if (r->hdr->pending_gen) {
		char name[32];
		set_name(r->hdr->pending_gen, name, sizeof name);
		int dfd = gs_open_dir(s, GS_SEM_DIR);
		if (dfd >= 0) {
			unlinkat(dfd, name, 0);
			close(dfd);
		}
		r->hdr->pending_gen = 0;
	}
	return 0;
}

void gs_semreg_unlock(struct gs_semreg *r)
{
	if (r->fd < 0)
		return;
	munmap(r->hdr, GS_SEMREG_SIZE);
	close(r->fd); /* drops the record lock */
	r->fd = -1;
	gs_mutex_unlock(&r->store->mu);
}

int gs_sem_id_of(const struct gs_sem_slot *sl, unsigned idx)
{
	return (int)((sl->seq << GS_IPCMNI_SHIFT) + sl->id_base + idx);
}

/* ---- this process's mappings (sem_cache.c) ---- */

/* A set's file as left by a boot that ended (a power cut, a reboot): its
 * lock and its waiters' mutexes name threads that no longer exist and
 * never will be marked dead.  Called with the registry locked. */
static void after_boot(struct gs_semset *m)
{
	uint8_t boot[16];
	if (gs_boot_id(boot) < 0 || !memcmp(m->boot_id, boot, 16))
		return;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&m->lock, &a);
	for (unsigned w = 0; w < m->whi && w < GS_SEM_WAITERS; w++)
		if (gs_waiters(m)[w].pid) {
			pthread_mutex_init(&gs_waiters(m)[w].mu, &a);
			gs_waiters(m)[w].pid = 0;
			gs_waiters(m)[w].status = 0;
		}
	for (unsigned u = 0; u < m->uhi && u < gs_nundos(m->nsems); u++)
		if (gs_undos(m)[u].used)
			pthread_mutex_init(&gs_undos(m)[u].presence, &a);
	pthread_mutexattr_destroy(&a);
	gs_j_replay(m);
	m->nwait = 0;
	memcpy(m->boot_id, boot, 16);
	/* Every holder of an adjustment died with the last boot. */
	gs_set_lock(m);
	gs_undo_reap(m, 2);
	gs_set_unlock(m);
}

static int set_header_matches(const struct gs_semset *m, const struct gs_sem_slot *sl)
{
	return !memcmp(m->magic, GS_SET_MAGIC, 8) && m->version == GS_SEM_VERSION &&
	       m->nsems == sl->nsems && m->gen == sl->gen;
}

/* The one line for a damaged set: which set, which file, and what
 * removes it (semctl.c rmid lets root remove a set it cannot read). */
static void warn_damaged_set(struct gs_semreg *r, unsigned idx, const char *name,
                             const char *what, int err)
{
	const struct gs_sem_slot *sl = &r->slots[idx];
	int id = gs_sem_id_of(sl, idx);
	char line[128], fix[96];
	snprintf(line, sizeof line, "semaphore set %d (key 0x%08x): its file " GS_SEM_DIR "/%s %s",
	         id, (unsigned)sl->key, name, what);
	snprintf(fix, sizeof fix, "the store was damaged; root removes the set with goshm rm --sem %d",
	         id);
	gs_warn_store(r->store, line, err, fix);
}

static int map_set(struct gs_semreg *r, unsigned idx, struct gs_pin *out)
{
	struct gs_sem_slot *sl = &r->slots[idx];
	char name[32];
	set_name(sl->gen, name, sizeof name);
	int fd = gs_open_in(r->store, GS_SEM_DIR, name, O_RDWR, 0);
	/* Under the lock a live slot's file is there (a set's file goes
	 * after its slot): a missing one is damage, EIO as for a segment's
	 * data file (segfile.c), not the store directory's EACCES. */
	if (fd == -ENOENT) {
		warn_damaged_set(r, idx, name, "is missing", ENOENT);
		return -EIO;
	}
	if (fd < 0)
		return gs_store_error(r->store, "cannot open a semaphore set's file", fd, NULL);
	size_t len = gs_set_size(sl->nsems);
	struct stat st;
	int e = fstat(fd, &st) < 0 ? -errno : st.st_size != (off_t)len ? -EIO : 0;
	void *m = MAP_FAILED;
	if (e == 0) {
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			e = -errno;
	}
	close(fd);
	/* Every offset in the file follows from the header's nsems, and the
	 * mapping's length from the slot's: a header that disagrees (a
	 * damaged file, another set's file) would send calls past the end. */
	if (e == 0 && !set_header_matches(m, sl))
		e = -EIO;
	if (e < 0) {
		if (m != MAP_FAILED)
			munmap(m, len);
		if (e == -EIO)
			warn_damaged_set(r, idx, name, "is damaged", EIO);
		return e == -EIO ? e : gs_store_error(r->store, "cannot map a semaphore set", e, NULL);
	}
	e = gs_cache_add(r->store, idx, m, len, out);
	if (e < 0) {
		munmap(m, len);
		return e;
	}
	after_boot(out->set);
	return 0;
}

/* The set in slot idx of a locked registry, mapped and pinned. */
int gs_semset_of_slot(struct gs_semreg *r, unsigned idx, struct gs_pin *out)
{
	struct gs_sem_slot *sl = &r->slots[idx];
	int id = gs_sem_id_of(sl, idx);
	if (gs_cache_pin_any(r->store, id, sl->gen, out) == 0) {
		if (!__atomic_load_n(&out->set->removed, __ATOMIC_ACQUIRE))
			return 0;
		gs_cache_stale(out);
		gs_semset_put(out);
	}
	return map_set(r, idx, out);
}

/*
 * The registry locked, with slot idx a live set made under id base -- and,
 * unless semid is -1 (SEM_STAT's index), with the id semid.  0 with *r
 * locked, or -EINVAL (no such set; nothing locked) or a store error.
 */
int gs_semreg_lock_live(struct goshm_store *s, struct gs_semreg *r, unsigned idx,
                        unsigned base, int semid)
{
	if (idx >= GS_SEMMNI)
		return -EINVAL;
	int e = gs_semreg_lock(s, r, 0);
	if (e < 0)
		return e == -ENOENT ? -EINVAL : e;
	const struct gs_sem_slot *sl = &r->slots[idx];
	if (sl->state != GS_SEM_LIVE || sl->id_base != base ||
	    (semid != -1 && gs_sem_id_of(sl, idx) != semid)) {
		gs_semreg_unlock(r);
		return -EINVAL;
	}
	return 0;
}

/* The set semid names, pinned: 0, -EINVAL (no such set), or a store
 * error.  Hits in the cache cost no system call. */
int gs_semset_get(struct goshm_store *s, int semid, struct gs_pin *out)
{
	out->set = NULL;
	if (gs_cache_pin(s, semid, out) == 0) {
		if (!__atomic_load_n(&out->set->removed, __ATOMIC_ACQUIRE))
			return 0;
		/* Removed: the registry says whether another set has the id
		 * now (its sequence wrapped). */
		gs_cache_stale(out);
		gs_semset_put(out);
	}
	if (semid < 0)
		return -EINVAL;
	unsigned base;
	unsigned idx = gs_idx_of(semid, &base);
	struct gs_semreg r;
	int e = gs_semreg_lock_live(s, &r, idx, base, semid);
	if (e < 0)
		return e;
	e = gs_semset_of_slot(&r, idx, out);
	gs_semreg_unlock(&r);
	return e;
}

/* A new set in slot idx (allocated by the caller): its file, then the
 * slot.  The set's id goes to *id. */
int gs_semset_create(struct gs_semreg *r, unsigned idx, key_t key, int nsems,
                     int semflg, int *id)
{
	struct gs_sem_header *h = r->hdr;
	uint64_t gen = h->next_gen++;
	char name[32];
	set_name(gen, name, sizeof name);
	h->pending_gen = gen;
	int fd = gs_open_in(r->store, GS_SEM_DIR, name, O_RDWR | O_CREAT | O_EXCL, 0666);
	if (fd < 0) {
		h->pending_gen = 0;
		return gs_store_error(r->store, "cannot create a semaphore set's file", fd, NULL);
	}
	size_t len = gs_set_size((unsigned)nsems);
	int e = fchmod(fd, 0666) < 0 || ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
	/* The header's page and the values are reserved: a full disk must
	 * fail here, not as a SIGBUS inside a later semop. */
	if (e == 0 && !gs_sparse()) {
		int fr = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)gs_set_waiters_off((unsigned)nsems));
		if (fr < 0 && errno != EOPNOTSUPP && errno != ENOSYS)
			e = -errno;
	}
	struct gs_semset *m = MAP_FAILED;
	if (e == 0) {
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			e = -errno;
	}
	close(fd);
	if (e < 0) {
		int dfd = gs_open_dir(r->store, GS_SEM_DIR);
		if (dfd >= 0) {
			unlinkat(dfd, name, 0);
			close(dfd);
		}
		h->pending_gen = 0;
		return gs_store_error(r->store, "cannot create a semaphore set's file", e, NULL);
	}
	struct gs_sem_slot *sl = &r->slots[idx];
	memset(sl, 0, sizeof *sl);
	sl->seq = (uint32_t)h->seq;
	sl->key = key;
	sl->nsems = (uint32_t)nsems;
	sl->gen = gen;
	sl->id_base = gs_routing_active() ? GS_ROUTED_BASE : 0;

	m->version = GS_SEM_VERSION;
	m->nsems = (uint32_t)nsems;
	m->id = gs_sem_id_of(sl, idx);
	m->key = key;
	m->store_id = h->store_id;
	m->gen = gen;
	m->uid = m->cuid = gs_euid();
	m->gid = m->cgid = gs_egid();
	m->mode = (uint32_t)semflg & S_IRWXUGO;
	m->ctime = time(NULL);
	gs_boot_id(m->boot_id);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&m->lock, &a);
	pthread_mutexattr_destroy(&a);
	memcpy(m->magic, GS_SET_MAGIC, 8);

	__atomic_store_n(&sl->state, GS_SEM_LIVE, __ATOMIC_RELEASE);
	h->in_use++;
	h->used_sems += (uint64_t)nsems;
	if (h->hi_water < idx + 1)
		h->hi_water = idx + 1;
	h->pending_gen = 0;
	*id = m->id;
	/* Kept mapped for the creator's next calls, as any set it used. */
	struct gs_pin p;
	if (gs_cache_add(r->store, idx, m, len, &p) == 0)
		gs_semset_put(&p);
	else
		munmap(m, len);
	return 0;
}

/* IPC_RMID: waiters get EIDRM, the file goes, the slot is free. */
void gs_semset_destroy(struct gs_semreg *r, unsigned idx)
{
	struct gs_sem_slot *sl = &r->slots[idx];
	struct gs_pin p;
	if (gs_semset_of_slot(r, idx, &p) == 0) {
		struct gs_semset *m = p.set;
		gs_set_lock(m);
		__atomic_store_n(&m->removed, 1, __ATOMIC_RELEASE);
		gs_sem_wake_all(m, GS_W_IDRM);
		gs_set_unlock(m);
		gs_cache_stale(&p);
		gs_semset_put(&p); /* unmapped once its waiters have left */
	}
	/* The slot goes first and the file after it, under pending_gen: a
	 * caller killed in between leaves a file the next locker removes,
	 * never a live slot without its file. */
	char name[32];
	uint64_t gen = sl->gen;
	set_name(gen, name, sizeof name);
	r->hdr->pending_gen = gen;
	/* Never below 0, whatever a damaged registry said: wrapped, the
	 * counts would refuse every later semget. */
	r->hdr->in_use -= r->hdr->in_use > 0;
	r->hdr->used_sems -= sl->nsems < r->hdr->used_sems ? sl->nsems : r->hdr->used_sems;
	__atomic_store_n(&sl->state, GS_SEM_FREE, __ATOMIC_RELEASE);
	sl->key = 0;
	int dfd = gs_open_dir(r->store, GS_SEM_DIR);
	if (dfd >= 0) {
		unlinkat(dfd, name, 0);
		close(dfd);
	}
	r->hdr->pending_gen = 0;
}
