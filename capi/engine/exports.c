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

#include <errno.h>
#include <stdint.h>

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

static struct goshm_store *store_or_default(goshm_store *s, int *err)
{
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
	return set_errno(s ? gs_gc(s, dry_run, report, arg) : err, saved);
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
	int saved = errno;
	return set_errno(gs_shmdt(shmaddr), saved);
}

GS_EXPORT int goshm_shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
	return goshm_store_shmctl(NULL, shmid, cmd, buf);
}

GS_EXPORT const char *goshm_version(void)
{
#define GS_STR2(x) #x
#define GS_STR(x) GS_STR2(x)
	return GS_STR(GOSHM_VERSION_MAJOR) "." GS_STR(GOSHM_VERSION_MINOR) "." GS_STR(
		GOSHM_VERSION_PATCH);
}

/* The interposed System V entry points. */
GS_EXPORT int shmget(key_t key, size_t size, int shmflg)
	__attribute__((alias("goshm_shmget")));
GS_EXPORT void *shmat(int shmid, const void *shmaddr, int shmflg)
	__attribute__((alias("goshm_shmat")));
GS_EXPORT int shmdt(const void *shmaddr) __attribute__((alias("goshm_shmdt")));
GS_EXPORT int shmctl(int shmid, int cmd, struct shmid_ds *buf)
	__attribute__((alias("goshm_shmctl")));
