/*
 * sem_exports.c - the semaphore calls' public symbols: semget, semop,
 * semtimedop and semctl with the signatures of <sys/sem.h>, and the
 * goshm_sem* calls of goshm.h.  Like exports.c, it is where errno is set:
 * everything below returns -errno, and on success errno is left as the
 * caller had it.
 *
 * Routing: the store serves them unless GOSHM_SEM=0, which leaves every
 * call to the kernel unchanged; GOSHM_KEYS, when set, routes semget by
 * key and the other calls by id, as for segments (routing.c).
 */
#include "sem.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif

union gs_semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
	unsigned long raw;
};

static int ret(long r, int saved)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	errno = saved;
	return (int)r;
}

/* As exports.c's store_or_default: NULL also for a call refused inside
 * another goshm call of its thread (siglock.c). */
static struct goshm_store *store_of(goshm_store *st, int *err)
{
	if ((*err = gs_reentry_refused()) < 0)
		return NULL;
	return st ? st : gs_default_store(err);
}

GS_EXPORT int goshm_store_semget(goshm_store *store, key_t key, int nsems, int semflg)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_of(store, &err);
	return ret(s ? gs_semget(s, key, nsems, semflg) : (err == -EACCES ? -EPERM : err), saved);
}

GS_EXPORT int goshm_store_semtimedop(goshm_store *store, int semid, struct sembuf *sops,
                                     size_t nsops, const struct timespec *timeout)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_of(store, &err);
	return ret(s ? gs_semtimedop(s, semid, sops, nsops, timeout) : err, saved);
}

GS_EXPORT int goshm_store_semctl(goshm_store *store, int semid, int semnum, int cmd,
                                 void *arg, int val)
{
	int err = 0, saved = errno;
	struct goshm_store *s = store_of(store, &err);
	return ret(s ? gs_semctl(s, semid, semnum, cmd, arg, val) : err, saved);
}

GS_EXPORT int goshm_semget(key_t key, int nsems, int semflg)
{
	return goshm_store_semget(NULL, key, nsems, semflg);
}

GS_EXPORT int goshm_semop(int semid, struct sembuf *sops, size_t nsops)
{
	return goshm_store_semtimedop(NULL, semid, sops, nsops, NULL);
}

GS_EXPORT int goshm_semtimedop(int semid, struct sembuf *sops, size_t nsops,
                               const struct timespec *timeout)
{
	return goshm_store_semtimedop(NULL, semid, sops, nsops, timeout);
}

/* ---- the interposed entry points ---- */

/* Which calls the store serves: GOSHM_SEM, and GOSHM_KEYS's routing. */
static int sem_key_to_kernel(key_t key)
{
	return !gs_sem_enabled() || gs_route_key(key) == GS_TO_KERNEL;
}

/* An id is goshm's when routing is off; with GOSHM_KEYS, when its index
 * lies at GS_ROUTED_BASE or up, or the kernel has no such set. */
static int sem_id_to_kernel(int semid)
{
	if (!gs_sem_enabled())
		return 1;
	if (!gs_routing_active() || semid < 0)
		return 0;
	unsigned base;
	gs_idx_of(semid, &base);
	if (base == GS_ROUTED_BASE)
		return 0;
	struct semid_ds d;
	return gs_sys_semctl(semid, 0, IPC_STAT, &d) != -EINVAL;
}

/* GOSHM_KEYS set but unusable: the calls fail, as the shm calls do (no
 * silent fallback to the kernel). */
static int routing_broken(void)
{
	return gs_sem_enabled() && gs_routing_error();
}

GS_EXPORT int semget(key_t key, int nsems, int semflg)
{
	int saved = errno;
	if (routing_broken())
		return ret(-EPERM, saved);
	if (sem_key_to_kernel(key))
		return ret(gs_sys_semget(key, nsems, semflg), saved);
	return goshm_semget(key, nsems, semflg);
}

GS_EXPORT int semtimedop(int semid, struct sembuf *sops, size_t nsops,
                         const struct timespec *timeout)
{
	if (routing_broken()) {
		errno = EACCES;
		return -1;
	}
	if (sem_id_to_kernel(semid)) {
		int saved = errno;
		return ret(gs_sys_semtimedop(semid, sops, nsops, timeout), saved);
	}
	return goshm_semtimedop(semid, sops, nsops, timeout);
}

GS_EXPORT int semop(int semid, struct sembuf *sops, size_t nsops)
{
	return semtimedop(semid, sops, nsops, NULL);
}

/* glibc reads the fourth argument only for the commands that take one. */
GS_EXPORT int semctl(int semid, int semnum, int cmd, ...)
{
	union gs_semun arg;
	memset(&arg, 0, sizeof arg);
	switch (cmd) {
	case IPC_STAT:
	case IPC_SET:
	case GETALL:
	case SETVAL:
	case SETALL:
	case IPC_INFO:
	case SEM_INFO:
	case SEM_STAT:
	case SEM_STAT_ANY: {
		va_list ap;
		va_start(ap, cmd);
		arg = va_arg(ap, union gs_semun);
		va_end(ap);
	}
	}
	int saved = errno;
	if (routing_broken())
		return ret(-EACCES, saved);
	int kernel;
	if (cmd == IPC_INFO || cmd == SEM_INFO || cmd == SEM_STAT || cmd == SEM_STAT_ANY)
		kernel = !gs_sem_enabled(); /* GOSHM_KEYS: the store's view */
	else
		kernel = sem_id_to_kernel(semid);
	if (kernel)
		return ret(gs_sys_semctl(semid, semnum, cmd, (void *)arg.raw), saved);
	int err = 0;
	struct goshm_store *s = gs_default_store(&err);
	if (!s)
		return ret(err, saved);
	return ret(gs_semctl(s, semid, semnum, cmd, (void *)arg.raw, arg.val), saved);
}
