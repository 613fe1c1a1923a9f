/*
 * exports.c - the library's public symbols.  This is the only file that
 * sets errno: everything below it returns -errno.  On success errno is
 * left as the caller had it, as the kernel's wrappers do.
 *
 * shmget, shmat, shmdt and shmctl are defined here with the signatures of
 * <sys/shm.h>, so that LD_PRELOAD=libgoshm.so and -lgoshm both put them in
 * front of the C library's.
 */
#include "engine.h"
#include "sem.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

/* The engine's own system calls (open, mkdir, stat...) may leave errno
 * changed even when the call succeeds: give the caller back the errno it
 * had, as the C library's wrappers do. */
static int set_errno(long r, int saved)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	errno = saved;
	return (int)r;
}

/* The store a call uses; NULL with *err set also when the call must be
 * refused because its thread is inside another goshm call (siglock.c). */
static struct goshm_store *store_or_default(goshm_store *s, int *err)
{
	if ((*err = gs_reentry_refused()) < 0)
		return NULL;
	return s ? s : gs_default_store(err);
}

GS_EXPORT goshm_store *goshm_store_open(const char *dir)
{
	int err = 0, saved = errno;
	struct goshm_store *s = dir ? gs_store_intern(dir, &err)
	                            : gs_default_store(&err);
	errno = s ? saved : -err;
	return s;
}

GS_EXPORT const char *goshm_store_path(const goshm_store *store)
{
	return store ? store->dir : NULL;
}

GS_EXPORT int goshm_store_shmget(goshm_store *store, key_t key, size_t size,
                                 int shmflg)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_or_default(store, &err);
	return set_errno(s ? gs_shmget(s, key, size, shmflg) : gs_shmget_unusable(err), saved);
}

GS_EXPORT void *goshm_store_shmat(goshm_store *store, int shmid,
                                  const void *shmaddr, int shmflg)
{
	int err = 0, saved = errno;
	uintptr_t addr = 0;
	struct goshm_store *s = store_or_default(store, &err);
	long r = s ? gs_shmat(s, shmid, shmaddr, shmflg, &addr) : err;
	if (r < 0) {
		errno = (int)-r;
		return (void *)-1;
	}
	errno = saved;
	return (void *)addr;
}

GS_EXPORT int goshm_store_shmctl(goshm_store *store, int shmid, int cmd,
                                 struct shmid_ds *buf)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_or_default(store, &err);
	return set_errno(s ? gs_shmctl(s, shmid, cmd, buf) : err, saved);
}

GS_EXPORT int goshm_store_gc(goshm_store *store, int dry_run,
                             goshm_gc_report report, void *arg)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_or_default(store, &err);
	int r = s ? gs_gc(s, dry_run, report, arg) : err;
#ifdef __GLIBC__
	/* And leftover semaphore set files (sem_gc.c; the musl build has no
	 * semaphore engine, see the Makefile). */
	if (r >= 0) {
		int k = gs_sem_gc(s, dry_run, report, arg);
		r = k < 0 ? k : r + k;
	}
#endif
	return set_errno(r, saved);
}

GS_EXPORT int goshm_store_sync(goshm_store *store, int shmid)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_or_default(store, &err);
	if (shmid < -1)
		return set_errno(-EINVAL, saved);
	return set_errno(s ? gs_sync(s, shmid) : err, saved);
}

GS_EXPORT int goshm_sync(int shmid)
{
	return goshm_store_sync(NULL, shmid);
}

GS_EXPORT int goshm_shmget(key_t key, size_t size, int shmflg)
{
	return goshm_store_shmget(NULL, key, size, shmflg);
}

GS_EXPORT void *goshm_shmat(int shmid, const void *shmaddr, int shmflg)
{
	return goshm_store_shmat(NULL, shmid, shmaddr, shmflg);
}

GS_EXPORT int goshm_shmdt(const void *shmaddr)
{
	int saved = errno, r = gs_reentry_refused();
	return set_errno(r < 0 ? r : gs_shmdt(shmaddr), saved);
}

GS_EXPORT int goshm_shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
	return goshm_store_shmctl(NULL, shmid, cmd, buf);
}

GS_EXPORT int goshm_store_health(goshm_store *store, struct goshm_store_health *out)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_or_default(store, &err);
	if (!s)
		return set_errno(err, saved);
	if (!out)
		return set_errno(-EFAULT, saved);
	struct gs_locked l;
	int r = gs_lock(s, &l, GS_EXISTING);
	if (r < 0)
		return set_errno(r, saved);
	memset(out, 0, sizeof *out);
	out->format_version = l.hdr->version;
	out->repairs = l.hdr->repairs;
	out->repaired_slots = l.hdr->repaired_slots;
	out->repaired_files = l.hdr->repaired_files;
	out->repaired_at = l.hdr->repaired_at;
	gs_unlock(&l);
	return set_errno(0, saved);
}

GS_EXPORT int goshm_routing(char *buf, size_t len)
{
	if (!buf || len < 64) {
		errno = EINVAL;
		return -1;
	}
	if (gs_routing_error()) {
		errno = EINVAL;
		return -1;
	}
	return gs_routing_describe(buf, len);
}

GS_EXPORT const char *goshm_version(void)
{
#define GS_STR2(x) #x
#define GS_STR(x) GS_STR2(x)
	return GS_STR(GOSHM_VERSION_MAJOR) "." GS_STR(GOSHM_VERSION_MINOR) "." GS_STR(
		GOSHM_VERSION_PATCH);
}

/*
 * The interposed System V entry points.  Without GOSHM_KEYS they are the
 * goshm_* calls; with it, each call goes to goshm or to the kernel
 * (routing.c): shmget by its key, shmat and shmctl by the id, shmdt by
 * whether the address is one of goshm's attaches.
 */
static int kernel_ret(long r, int saved)
{
	return set_errno(r, saved);
}

/* An id below GS_ROUTED_BASE is the kernel's, unless the kernel has no
 * such segment and goshm has one made before GOSHM_KEYS was set. */
static int goshm_owns(int shmid)
{
	unsigned base;
	gs_idx_of(shmid, &base);
	if (base == GS_ROUTED_BASE)
		return 1;
	struct shmid_ds d;
	return gs_sys_shmctl(shmid, IPC_STAT, &d) == -EINVAL;
}

GS_EXPORT int shmget(key_t key, size_t size, int shmflg)
{
	if (gs_routing_error()) {
		errno = EPERM;
		return -1;
	}
	if (gs_route_key(key) == GS_TO_KERNEL) {
		int saved = errno;
		return kernel_ret(gs_sys_shmget(key, size, shmflg), saved);
	}
	return goshm_shmget(key, size, shmflg);
}

GS_EXPORT void *shmat(int shmid, const void *shmaddr, int shmflg)
{
	if (gs_routing_active()) {
		if (gs_routing_error()) {
			errno = EACCES;
			return (void *)-1;
		}
		if (shmid >= 0 && !goshm_owns(shmid)) {
			int saved = errno;
			/* Mapped over whatever was there: mapwatch.c. */
			if (shmflg & SHM_REMAP)
				gs_maps_bump();
			long r = gs_sys_shmat(shmid, shmaddr, shmflg);
			if (shmflg & SHM_REMAP)
				gs_maps_bump();
			if (r < 0 && r > -4096) {
				errno = (int)-r;
				return (void *)-1;
			}
			errno = saved;
			return (void *)r;
		}
	}
	return goshm_shmat(shmid, shmaddr, shmflg);
}

GS_EXPORT int shmdt(const void *shmaddr)
{
	if (gs_routing_active()) {
		int saved = errno;
		long r = gs_reentry_refused();
		if (r < 0)
			return set_errno(r, saved); /* before the attach table's lock */
		struct gs_attach a;
		if (gs_table_find((uintptr_t)shmaddr, &a) < 0) {
			r = gs_sys_shmdt(shmaddr);
			if (r != -EINVAL)
				return kernel_ret(r, saved);
			/* Not the kernel's: a piece of one of goshm's (shmdt.c). */
		}
	}
	return goshm_shmdt(shmaddr);
}

/* The kernel's SHM_INFO without goshm's presence segments, which are
 * goshm's business, not the program's. */
static void kernel_info_without_presence(struct shm_info *k, long max)
{
	uint64_t page = (uint64_t)gs_page_size();
	int err = 0;
	struct goshm_store *s = gs_default_store(&err);
	for (long i = 0; i <= max; i++) {
		struct shmid_ds d;
		long id = gs_sys_shmctl((int)i, SHM_STAT_ANY, &d);
		if (id < 0 || !gs_is_presence(s, (int)id, &d))
			continue;
		k->used_ids--;
		k->shm_tot -= (d.shm_segsz + page - 1) / page;
	}
}

/* IPC_INFO and SHM_INFO with both worlds: the highest index of either
 * (goshm's routed indexes lie above the kernel's), and SHM_INFO's counts
 * added up; IPC_INFO's limits are goshm's. */
static int info_both(int cmd, struct shmid_ds *buf, int saved)
{
	union {
		struct shminfo ipc;
		struct shm_info shm;
	} k, g;
	long kr = gs_sys_shmctl(0, cmd, &k);
	int gr = goshm_shmctl(0, cmd, (struct shmid_ds *)(void *)&g);
	if (gr < 0)
		return gr;
	if (kr < 0)
		return kernel_ret(kr, saved);
	if (cmd == SHM_INFO) {
		kernel_info_without_presence(&k.shm, kr);
		g.shm.used_ids += k.shm.used_ids;
		g.shm.shm_tot += k.shm.shm_tot;
		g.shm.shm_rss += k.shm.shm_rss;
		g.shm.shm_swp += k.shm.shm_swp;
		g.shm.swap_attempts += k.shm.swap_attempts;
		g.shm.swap_successes += k.shm.swap_successes;
		memcpy(buf, &g.shm, sizeof g.shm);
	} else {
		memcpy(buf, &g.ipc, sizeof g.ipc);
	}
	errno = saved;
	return gr > kr ? gr : (int)kr;
}

GS_EXPORT int shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
	if (!gs_routing_active())
		return goshm_shmctl(shmid, cmd, buf);
	int saved = errno;
	if (gs_routing_error())
		return set_errno(-EACCES, saved);
	switch (cmd) {
	case IPC_INFO:
	case SHM_INFO:
		if (!buf)
			return set_errno(-EFAULT, saved);
		return info_both(cmd, buf, saved);
	case SHM_STAT:
	case SHM_STAT_ANY: {
		/* An index: goshm's routed ones lie at GS_ROUTED_BASE and up. */
		unsigned base;
		gs_idx_of(shmid, &base);
		if (shmid >= 0 && base == GS_ROUTED_BASE)
			return goshm_shmctl(shmid, cmd, buf);
		struct shmid_ds d;
		int err = 0;
		long r = gs_sys_shmctl(shmid, cmd, &d);
		if (r >= 0 && gs_is_presence(gs_default_store(&err), (int)r, &d))
			r = -EINVAL; /* goshm's own: not the program's to see */
		if (r >= 0) {
			if (!buf)
				return set_errno(-EFAULT, saved);
			*buf = d;
		}
		return kernel_ret(r, saved);
	}
	}
	if (shmid >= 0 && !goshm_owns(shmid))
		return kernel_ret(gs_sys_shmctl(shmid, cmd, buf), saved);
	return goshm_shmctl(shmid, cmd, buf);
}

/*
 * POSIX shared memory (posix.c).  With GOSHM_POSIX unset these are
 * glibc's shm_open and shm_unlink, on /dev/shm; with it, the names it
 * covers are served from the store.  Interposed by name, they take the
 * place of libc.so.6's (glibc 2.34 and later) and librt's (before).
 */
GS_EXPORT int goshm_store_shm_open(goshm_store *store, const char *name, int oflag,
                                   mode_t mode)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_or_default(store, &err);
	if (!name)
		return set_errno(-EFAULT, saved);
	return set_errno(s ? gs_posix_open(s, name, oflag, mode) : err, saved);
}

GS_EXPORT int goshm_store_shm_unlink(goshm_store *store, const char *name)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_or_default(store, &err);
	if (!name)
		return set_errno(-EFAULT, saved);
	return set_errno(s ? gs_posix_unlink(s, name) : err, saved);
}

GS_EXPORT int shm_open(const char *name, int oflag, mode_t mode)
{
	int saved = errno;
	if (!name)
		return set_errno(-EFAULT, saved); /* glibc's would crash */
	switch (gs_posix_route(name)) {
	case GS_POSIX_OFF:
		return set_errno(gs_native_shm_open(name, oflag, mode), saved);
	case GS_POSIX_ERROR:
		return set_errno(-EINVAL, saved);
	}
	return goshm_store_shm_open(NULL, name, oflag, mode);
}

GS_EXPORT int shm_unlink(const char *name)
{
	int saved = errno;
	if (!name)
		return set_errno(-EFAULT, saved); /* glibc's would crash */
	switch (gs_posix_route(name)) {
	case GS_POSIX_OFF:
		return set_errno(gs_native_shm_unlink(name), saved);
	case GS_POSIX_ERROR:
		return set_errno(-EINVAL, saved);
	}
	return goshm_store_shm_unlink(NULL, name);
}

/*
 * syscall() with a System V number (creds.c's exported syscall()): a
 * program that makes the call through the C library's syscall() instead of
 * its shmget... reaches the same functions as one that calls them by name,
 * and not the kernel's segments behind goshm's back.  Returns 1 with *r in
 * syscall()'s convention (-1 and errno), or 0 for any other number.  The
 * arguments are the system call's, which on the machines that have these
 * numbers are the C library functions' own (shmctl and semctl take the
 * 64-bit layout without IPC_64).
 */
int gs_sysv_syscall(long n, const long *a, long *r)
{
	switch (n) {
#ifdef SYS_shmget
	case SYS_shmget:
		*r = shmget((key_t)a[0], (size_t)a[1], (int)a[2]);
		return 1;
	case SYS_shmat:
		*r = (long)shmat((int)a[0], (const void *)a[1], (int)a[2]);
		return 1;
	case SYS_shmdt:
		*r = shmdt((const void *)a[0]);
		return 1;
	case SYS_shmctl:
		*r = shmctl((int)a[0], (int)a[1], (struct shmid_ds *)a[2]);
		return 1;
#endif
#if defined(__GLIBC__) && defined(SYS_semget)
	/* The musl build leaves semaphores to the kernel (Makefile). */
	case SYS_semget:
		*r = semget((key_t)a[0], (int)a[1], (int)a[2]);
		return 1;
	case SYS_semop:
		*r = semop((int)a[0], (struct sembuf *)a[1], (size_t)a[2]);
		return 1;
	case SYS_semtimedop:
		*r = semtimedop((int)a[0], (struct sembuf *)a[1], (size_t)a[2],
		                (const struct timespec *)a[3]);
		return 1;
	case SYS_semctl:
		*r = semctl((int)a[0], (int)a[1], (int)a[2], a[3]);
		return 1;
#endif
	}
	return 0;
}
