/*
 * sem_undo.c - SEM_UNDO: each process's adjustments, applied when it
 * dies, with no code of it running then.
 *
 * A process that first asks for SEM_UNDO on a set takes an undo record
 * in the set's file: its pid, its start time and pid namespace, an
 * adjustment per semaphore, and a robust mutex, the presence mutex, that
 * the process locks and keeps locked for as long as it lives.  When the
 * process dies -- exit, SIGKILL, a crash -- the kernel walks its robust
 * futex list and clears the owner of that mutex.  Every caller that takes
 * the set's lock glances at the presence mutexes (memory reads, no system
 * call); one without an owner belongs to a process that died, or that
 * exec'd or lost the thread that locked it, which /proc/<pid>/stat tells
 * apart.  The dead process's adjustments are then applied as the
 * kernel's exit_sem() does, and the queue is run.  Waiters that sleep
 * while records exist wake every 20 ms to look (semop.c), so a mutex
 * whose SEM_UNDO holder is killed is released within that time.
 */
#include "sem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TID_MASK 0x3fffffffu
#define GS_UNDO_RECHECK_NS 100000000ll /* a live owner-less record: 100 ms */

static int owned(pthread_mutex_t *m)
{
	return (__atomic_load_n((unsigned *)&m->__data.__lock, __ATOMIC_ACQUIRE) & TID_MASK) != 0;
}

/* Field 22 of /proc/<pid>/stat (clock ticks since boot): with the pid, a
 * process's identity.  0 when there is no such process, or only its
 * zombie: the kernel undoes before the parent reaps. */
static uint64_t start_time(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (gs_read_text(path, buf, sizeof buf) <= 0)
		return 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p += 2; /* field 3, the state: a zombie has died (exit_sem() ran) */
	if (*p == 'Z' || *p == 'X' || *p == 'x')
		return 0;
	for (int f = 3; f < 22 && p; f++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

static uint64_t pidns_ino(void)
{
	struct stat st;
	return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* This process's identity, read once per process (a forked child reads
 * its own). */
static struct {
	int32_t pid;
	uint64_t start, pidns;
} me;

static void who_am_i(void)
{
	int32_t pid = gs_pid();
	if (__atomic_load_n(&me.pid, __ATOMIC_ACQUIRE) == pid)
		return;
	me.start = start_time(pid);
	me.pidns = pidns_ino();
	__atomic_store_n(&me.pid, pid, __ATOMIC_RELEASE);
}

static void init_presence(struct gs_undo *u)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&u->presence, &a);
	pthread_mutexattr_destroy(&a);
}

static void hold_presence(struct gs_undo *u)
{
	if (pthread_mutex_lock(&u->presence) == EOWNERDEAD)
		pthread_mutex_consistent(&u->presence);
}

/* exit_sem() for record k: add its adjustments, clamped to 0..SEMVMX,
 * stamp sempid with the dead process's pid, and free the record.  The
 * kernel then runs do_smart_update() with otime forced, so the exit of a
 * process that held a record -- even one whose adjustments are all zero,
 * or whose only SEM_UNDO call failed -- sets otime. */
static void apply(struct gs_semset *s, unsigned k)
{
	struct gs_undo *u = &gs_undos(s)[k];
	struct gs_sem *sem = gs_sems(s);
	int32_t *adj = gs_adj(s, k);
	gs_j_begin(s);
	for (unsigned i = 0; i < s->nsems; i++) {
		if (!adj[i])
			continue;
		int32_t v = sem[i].semval + adj[i];
		if (v < 0)
			v = 0;
		if (v > GS_SEMVMX)
			v = GS_SEMVMX;
		gs_j_put(s, &sem[i].semval, v);
		gs_j_put(s, &sem[i].sempid, u->pid);
		gs_j_put(s, &adj[i], 0);
	}
	gs_j_put(s, (int32_t *)&u->used, 0);
	gs_j_commit(s);
	__atomic_store_n(&s->otime, (int64_t)time(NULL), __ATOMIC_RELAXED);
	if (s->nundo)
		s->nundo--;
}

/* Is the owner of an owner-less record dead?  force: the caller knows
 * (2: every process of an earlier boot is). */
static int dead(struct gs_undo *u, int force)
{
	if (force == 2)
		return 1;
	who_am_i();
	if (u->pidns != me.pidns)
		return 1; /* cannot look into another pid namespace */
	/* A process between its robust list's release and its zombie state
	 * still looks alive: the first 200 ms of an owner-less record are
	 * looked at every time; after that it is a process that exec'd or
	 * lost the thread that held it, looked at every 100 ms. */
	int64_t now = gs_monotonic_ns();
	if (!force && u->ownerless_ns && now - u->ownerless_ns > 2 * GS_UNDO_RECHECK_NS &&
	    now - u->checked_ns < GS_UNDO_RECHECK_NS)
		return 0;
	u->checked_ns = now;
	uint64_t st = start_time(u->pid);
	if (st == 0 || st != u->start)
		return 1;
	if (!u->ownerless_ns)
		u->ownerless_ns = now;
	return 0;
}

void gs_undo_reap(struct gs_semset *s, int force)
{
	struct gs_undo *u = gs_undos(s);
	int applied = 0;
	unsigned hi = s->uhi < gs_nundos(s->nsems) ? s->uhi : gs_nundos(s->nsems);
	for (unsigned k = 0, seen = 0; k < hi && seen < s->nundo + applied; k++) {
		if (!u[k].used)
			continue;
		seen++;
		if (force != 2 && owned(&u[k].presence))
			continue;
		who_am_i();
		if (u[k].pid == me.pid && u[k].start == me.start && u[k].pidns == me.pidns)
			continue; /* ours: re-held at our next SEM_UNDO operation */
		if (!dead(&u[k], force))
			continue;
		apply(s, k);
		applied++;
	}
	if (applied)
		gs_sem_update_queue(s);
}

/* This process's record on the set, made if create: its index, or
 * -ENOSPC when every record is taken by a live process. */
int gs_undo_mine(struct gs_semset *s, int create)
{
	struct gs_undo *u = gs_undos(s);
	who_am_i();
	int free_k = -1;
	unsigned max = gs_nundos(s->nsems), hi = s->uhi < max ? s->uhi : max;
	for (unsigned k = 0; k < hi; k++) {
		if (!u[k].used) {
			if (free_k < 0)
				free_k = (int)k;
			continue;
		}
		if (u[k].pid != me.pid || u[k].start != me.start || u[k].pidns != me.pidns)
			continue;
		/* The thread that held it exited, or the process exec'd. */
		if (!owned(&u[k].presence)) {
			hold_presence(&u[k]);
			u[k].ownerless_ns = 0;
		}
		return (int)k;
	}
	if (!create)
		return -ENOENT;
	if (free_k < 0 && hi < max)
		free_k = (int)hi; /* a record never used yet */
	if (free_k < 0) {
		gs_undo_reap(s, 1);
		for (unsigned k = 0; k < hi && free_k < 0; k++)
			if (!u[k].used)
				free_k = (int)k;
	}
	if (free_k < 0)
		return -ENOSPC;
	struct gs_undo *n = &u[free_k];
	memset(gs_adj(s, (unsigned)free_k), 0, s->nsems * sizeof(int32_t));
	init_presence(n);
	hold_presence(n);
	n->pid = me.pid;
	n->start = me.start;
	n->pidns = me.pidns;
	n->checked_ns = 0;
	n->ownerless_ns = 0;
	__atomic_store_n(&n->used, 1, __ATOMIC_RELEASE);
	s->nundo++;
	if (s->uhi < (unsigned)free_k + 1)
		s->uhi = (unsigned)free_k + 1;
	return free_k;
}

/* SETVAL and SETALL clear every process's adjustment of what they set
 * (semnum -1: all). */
void gs_undo_clear_sem(struct gs_semset *s, int semnum)
{
	struct gs_undo *u = gs_undos(s);
	gs_j_begin(s);
	for (unsigned k = 0; k < s->uhi && k < gs_nundos(s->nsems); k++) {
		if (!u[k].used)
			continue;
		int32_t *adj = gs_adj(s, k);
		for (unsigned i = 0; i < s->nsems; i++)
			if ((semnum < 0 || (unsigned)semnum == i) && adj[i])
				gs_j_put(s, &adj[i], 0);
	}
	gs_j_commit(s);
}

int gs_undo_others(struct gs_semset *s)
{
	return s->nundo != 0;
}

/*
 * May this process unmap set s, where it took undo record rec?  The
 * record's presence mutex, while a thread of this process holds it, is on
 * that thread's robust list -- glibc and the kernel follow the list
 * through the mapping, so unmapping it then would corrupt the list.
 * Called with no call of this process's on the set (its mapping has no
 * pin): yes when the record is not this process's any more or its
 * holder thread is gone; when the calling thread holds it and the set
 * was removed, or the record has no adjustment left (it would undo
 * nothing), the record is let go first.  A record with adjustments, or
 * held by another thread, keeps the mapping.
 */
int gs_undo_release(struct gs_semset *s, int rec)
{
	if ((unsigned)rec >= gs_nundos(s->nsems))
		return 1;
	struct gs_undo *u = &gs_undos(s)[rec];
	who_am_i();
	if (!__atomic_load_n(&u->used, __ATOMIC_ACQUIRE) || u->pid != me.pid ||
	    u->start != me.start || u->pidns != me.pidns)
		return 1;
	if (!owned(&u->presence))
		return 1;
	/* Never wait for the set's lock here (the caller holds the cache's
	 * mutex): busy means later. */
	int r = gs_mutex_trylock(&s->lock);
	if (r == EOWNERDEAD) {
		gs_j_replay(s);
		pthread_mutex_consistent(&s->lock);
		r = 0;
	}
	if (r != 0)
		return 0;
	int idle = s->removed != 0;
	if (!idle) {
		int32_t *adj = gs_adj(s, (unsigned)rec);
		idle = 1;
		for (unsigned i = 0; i < s->nsems && idle; i++)
			idle = adj[i] == 0;
		/* A waiter of this process through another mapping of the set
		 * (a second store handle on the same directory) uses it. */
		struct gs_waiter *w = gs_waiters(s);
		for (unsigned i = 0; i < s->whi && i < GS_SEM_WAITERS && idle; i++)
			idle = !(w[i].pid == me.pid && w[i].status == GS_W_WAITING && w[i].undo == rec);
	}
	int ok = 0;
	if (idle && pthread_mutex_unlock(&u->presence) == 0) { /* EPERM: another thread's */
		ok = 1;
		if (!s->removed) {
			gs_j_begin(s);
			gs_j_put(s, (int32_t *)&u->used, 0);
			gs_j_commit(s);
			if (s->nundo)
				s->nundo--;
		}
	}
	gs_set_unlock(s);
	return ok;
}
