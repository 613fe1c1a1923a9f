/*
 * calls.h - the four System V calls, each made once and logged as one line
 * with its arguments and normalized result.  Scenarios call these, never
 * shmget & co. directly, so that every call is compared.
 */
#ifndef CONF_CALLS_H
#define CONF_CALLS_H

#include "out.h"

#include <sys/syscall.h>
#include <unistd.h>

/* Set by conf_fuzz's "syscall" mode: the four calls go through syscall(2)
 * with their numbers, which goshm serves as it serves the calls by name
 * (capi/engine/exports.c gs_sysv_syscall) and the kernel as its own. */
static int conf_via_syscall;

CONF_FN int conf_shmget(key_t key, size_t size, int flg)
{
	return conf_via_syscall ? (int)syscall(SYS_shmget, key, size, flg) : shmget(key, size, flg);
}

CONF_FN void *conf_shmat(int id, const void *addr, int flg)
{
	return conf_via_syscall ? (void *)syscall(SYS_shmat, id, addr, flg) : shmat(id, addr, flg);
}

CONF_FN int conf_shmdt(const void *addr)
{
	return conf_via_syscall ? (int)syscall(SYS_shmdt, addr) : shmdt(addr);
}

CONF_FN int conf_shmctl(int id, int cmd, struct shmid_ds *buf)
{
	return conf_via_syscall ? (int)syscall(SYS_shmctl, id, cmd, buf) : shmctl(id, cmd, buf);
}

/* errno before every call: a successful call must leave it alone, as the
 * C library's wrappers do. */
#define CANARY EILSEQ

CONF_FN const char *kept(int e)
{
	return e == CANARY ? "" : " (errno changed by a successful call)";
}

/* shmget(2), logged.  Returns the id or -1. */
CONF_FN int G(key_t key, size_t size, int flg)
{
	errno = CANARY;
	int id = conf_shmget(key, size, flg);
	int e = errno;
	char sz[32];
	if (size == SIZE_MAX)
		snprintf(sz, sizeof sz, "SIZE_MAX");
	else
		snprintf(sz, sizeof sz, "%zu", size);
	out("shmget(%s, %s, %s) = %s%s", key_name(key), sz, get_flags(flg),
	    id < 0 ? fail(e) : id_new(id), id < 0 ? "" : kept(e));
	errno = e;
	return id;
}

/*
 * shmat(2), logged.  A successful attach gets the next "@N" name; when an
 * address was asked for, the result also says whether it is that address
 * ("=arg") or that address rounded down to SHMLBA ("=arg&~4095").
 */
CONF_FN void *A(int id, const void *addr, int flg)
{
	const char *arg = addr_name(addr);
	errno = CANARY;
	void *p = conf_shmat(id, addr, flg);
	int e = errno;
	if (p == (void *)-1) {
		out("shmat(%s, %s, %s) = %s", id_name(id), arg, at_flags(flg), fail(e));
	} else {
		const char *how = "";
		uintptr_t want = (uintptr_t)addr;
		if (addr && (uintptr_t)p == want)
			how = " (=arg)";
		else if (addr && (uintptr_t)p == (want & ~(uintptr_t)4095))
			how = " (=arg&~4095)";
		else if (addr)
			how = " (elsewhere)";
		const char *name = p ? label_new((uintptr_t)p, '@') : "NULL";
		out("shmat(%s, %s, %s) = %s%s%s", id_name(id), arg, at_flags(flg), name, how,
		    kept(e));
	}
	errno = e;
	return p;
}

CONF_FN int D(const void *addr)
{
	const char *arg = addr_name(addr);
	errno = CANARY;
	int r = conf_shmdt(addr);
	int e = errno;
	out("shmdt(%s) = %s%s", arg, r < 0 ? fail(e) : "0", r < 0 ? "" : kept(e));
	errno = e;
	return r;
}

CONF_FN const char *mode_name(unsigned mode)
{
	char *b = ring();
	snprintf(b, 96, "0%o", mode);
	return b;
}

/* Every field of a shmid_ds, normalized, as "name=value" tokens. */
CONF_FN const char *ds_fields(const struct shmid_ds *d)
{
	static char b[512];
	snprintf(b, sizeof b,
	         "key=%s uid=%u gid=%u cuid=%u cgid=%u mode=%s seq=%u segsz=%zu "
	         "atime=%s dtime=%s ctime=%s cpid=%s lpid=%s nattch=%lu rsv=%s",
	         key_name(d->shm_perm.__key), (unsigned)d->shm_perm.uid,
	         (unsigned)d->shm_perm.gid, (unsigned)d->shm_perm.cuid,
	         (unsigned)d->shm_perm.cgid, mode_name(d->shm_perm.mode),
	         (unsigned)d->shm_perm.__seq, (size_t)d->shm_segsz,
	         time_name(d->shm_atime), time_name(d->shm_dtime),
	         time_name(d->shm_ctime), pid_name(d->shm_cpid), pid_name(d->shm_lpid),
	         (unsigned long)d->shm_nattch,
	         CONF_DS_RESERVED(d) ? "nonzero" : "0");
	return b;
}

/* shmctl(2) for the commands that take no buffer or an unread one. */
CONF_FN int C(int id, int cmd, void *buf)
{
	errno = CANARY;
	int r = conf_shmctl(id, cmd, buf);
	int e = errno;
	char res[80];
	if (r < 0)
		snprintf(res, sizeof res, "%s", fail(e));
	else if (r > 0 && (cmd == SHM_STAT || cmd == SHM_STAT_ANY))
		snprintf(res, sizeof res, "%s", id_name(r));
	else
		snprintf(res, sizeof res, "%d", r);
	if (r >= 0)
		strcat(res, kept(e));
	out("shmctl(%s, %s, %s) = %s", id_name(id), cmd_name(cmd), buf ? "buf" : "NULL", res);
	errno = e;
	return r;
}

/* IPC_STAT with every field printed; *d holds the result. */
CONF_FN int ST(int id, struct shmid_ds *d)
{
	struct shmid_ds local;
	if (!d)
		d = &local;
	memset(d, 0x5a, sizeof *d);
	errno = CANARY;
	int r = conf_shmctl(id, IPC_STAT, d);
	int e = errno;
	if (r < 0)
		out("shmctl(%s, IPC_STAT, buf) = %s", id_name(id), fail(e));
	else
		out("shmctl(%s, IPC_STAT, buf) = %d%s {%s}", id_name(id), r, kept(e),
		    ds_fields(d));
	errno = e;
	return r;
}

/* Just shm_nattch, on a line of its own: the field a scenario is about. */
CONF_FN long NAT(int id)
{
	struct shmid_ds d;
	int r = conf_shmctl(id, IPC_STAT, &d);
	int e = errno;
	if (r < 0) {
		out("nattch(%s) = %s", id_name(id), fail(e));
		return -1;
	}
	out("nattch(%s) = %lu", id_name(id), (unsigned long)d.shm_nattch);
	return (long)d.shm_nattch;
}

/* IPC_SET from a stat, with uid, gid and mode replaced. */
CONF_FN int SET(int id, unsigned uid, unsigned gid, unsigned mode)
{
	struct shmid_ds d;
	memset(&d, 0, sizeof d);
	d.shm_perm.uid = uid;
	d.shm_perm.gid = gid;
	d.shm_perm.mode = mode;
	int r = conf_shmctl(id, IPC_SET, &d);
	int e = errno;
	out("shmctl(%s, IPC_SET, {uid=%d gid=%d mode=%s}) = %s", id_name(id), (int)uid,
	    (int)gid, mode_name(mode), r < 0 ? fail(e) : "0");
	errno = e;
	return r;
}

/* SHM_STAT / SHM_STAT_ANY by index; prints the id it returns. */
CONF_FN int SSTAT(int index, int cmd)
{
	struct shmid_ds d;
	memset(&d, 0, sizeof d);
	int r = conf_shmctl(index, cmd, &d);
	int e = errno;
	if (r < 0)
		out("shmctl(index %d, %s, buf) = %s", index, cmd_name(cmd), fail(e));
	else
		out("shmctl(index %d, %s, buf) = %s {%s}", index, cmd_name(cmd), id_name(r),
		    ds_fields(&d));
	errno = e;
	return r;
}

/* IPC_INFO: the return value (highest index in use) and every field. */
CONF_FN int IINFO(void)
{
	struct shminfo si;
	memset(&si, 0x5a, sizeof si);
	int r = conf_shmctl(0, IPC_INFO, (struct shmid_ds *)(void *)&si);
	int e = errno;
	if (r < 0)
		out("shmctl(0, IPC_INFO, buf) = %s", fail(e));
	else
		out("shmctl(0, IPC_INFO, buf) = %d {shmmax=%lu shmmin=%lu shmmni=%lu "
		    "shmseg=%lu shmall=%lu rsv=%s}",
		    r, si.shmmax, si.shmmin, si.shmmni, si.shmseg, si.shmall,
		    CONF_SHMINFO_RESERVED(&si) ? "nonzero" : "0");
	errno = e;
	return r;
}

/*
 * SHM_INFO: the return value and every field.  shm_rss is printed on a
 * line of its own: it is a documented difference (pages resident in memory
 * for the kernel, pages with blocks on disk for goshm).
 */
CONF_FN int SINFO(void)
{
	struct shm_info si;
	memset(&si, 0, sizeof si);
	int r = conf_shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si);
	int e = errno;
	if (r < 0) {
		out("shmctl(0, SHM_INFO, buf) = %s", fail(e));
		return r;
	}
	out("shmctl(0, SHM_INFO, buf) = %d {used_ids=%d shm_tot=%lu shm_swp=%lu "
	    "swap_attempts=%lu swap_successes=%lu}",
	    r, CONF_SHM_INFO_USED_IDS(&si), si.shm_tot, si.shm_swp,
	    CONF_SHM_INFO_SWAP_ATTEMPTS(&si), CONF_SHM_INFO_SWAP_SUCCESSES(&si));
	out("SHM_INFO.shm_rss = %lu", si.shm_rss);
	errno = e;
	return r;
}

/* IPC_RMID, the most common cleanup. */
CONF_FN int RM(int id) { return C(id, IPC_RMID, NULL); }

#endif /* CONF_CALLS_H */
