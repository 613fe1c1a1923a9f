/*
 * semop.c - semop and semtimedop on a set in the store, after the
 * kernel's do_semtimedop() and perform_atomic_semop() (ipc/sem.c).
 *
 * A call takes the set's lock, tries its operations and either applies
 * all of them (through the journal, sem_lock.c) or none.  One that must
 * wait takes a waiter slot in the set's file, puts its operations there
 * and sleeps on the slot's futex word -- a shared futex on the file
 * mapping, so that any process can wake it.  Whoever changes values
 * afterwards runs the queue as the kernel's update_queue() does: it
 * performs the waiters' operations on their behalf, in arrival order, and
 * wakes those it completed, so that a semop returns with the waiters it
 * released already served, as on Linux.
 */
#include "sem.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TID_MASK 0x3fffffffu

static long futex(uint32_t *w, int op, uint32_t val, const struct timespec *t)
{
	return gs_syscall(SYS_futex, w, op, val, t, NULL, 0);
}

/* The mutex word of a glibc pthread mutex: a robust mutex's holds its
 * owner's tid, which the kernel clears when the owner dies. */
static int owned(pthread_mutex_t *m)
{
	return (__atomic_load_n((unsigned *)&m->__data.__lock, __ATOMIC_ACQUIRE) & TID_MASK) != 0;
}

/* do_semtimedop()'s dupsop: an operation on a semaphore (modulo 64)
 * that an earlier altering operation of the same call touched. */
static int has_dupsop(const struct sembuf *sops, unsigned n)
{
	uint64_t dup = 0;
	int found = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t mask = 1ull << (sops[i].sem_num % 64);
		if (dup & mask)
			found = 1;
		if (sops[i].sem_op != 0)
			dup |= mask;
	}
	return found;
}

/*
 * perform_atomic_semop() and its _slow twin: 0 when every operation was
 * applied (journaled and committed), 1 when one must wait (*blk is its
 * index), -EAGAIN when that one says IPC_NOWAIT, -ERANGE past SEMVMX or
 * the undo range.  rec is the caller's undo record (-1: none).
 */
static int perform(struct gs_semset *s, const struct sembuf *sops, unsigned n, int rec,
                   int32_t pid, unsigned *blk)
{
	struct gs_sem *sem = gs_sems(s);
	int32_t *adj = rec >= 0 ? gs_adj(s, (unsigned)rec) : NULL;
	int slow = has_dupsop(sops, n), alter = 0;
	int32_t val[GS_SEMOPM], uadj[GS_SEMOPM];
	for (unsigned i = 0; i < n; i++) {
		const struct sembuf *op = &sops[i];
		int32_t cur = sem[op->sem_num].semval;
		int32_t cadj = adj ? adj[op->sem_num] : 0;
		if (slow) /* earlier operations of this call count */
			for (unsigned k = i; k-- > 0;)
				if (sops[k].sem_num == op->sem_num) {
					cur = val[k];
					cadj = uadj[k];
					break;
				}
		if (op->sem_op == 0 && cur) {
			*blk = i;
			return (op->sem_flg & IPC_NOWAIT) ? -EAGAIN : 1;
		}
		int32_t res = cur + op->sem_op;
		if (res < 0) {
			*blk = i;
			return (op->sem_flg & IPC_NOWAIT) ? -EAGAIN : 1;
		}
		if (res > GS_SEMVMX)
			return -ERANGE;
		uadj[i] = cadj;
		if (op->sem_flg & SEM_UNDO) {
			int32_t u = cadj - op->sem_op;
			if (u < -GS_SEMAEM - 1 || u > GS_SEMAEM)
				return -ERANGE;
			uadj[i] = u;
		}
		val[i] = res;
		alter |= op->sem_op != 0;
	}
	gs_j_begin(s);
	for (unsigned i = 0; i < n; i++) {
		const struct sembuf *op = &sops[i];
		if ((op->sem_flg & SEM_UNDO) && adj)
			gs_j_put(s, &adj[op->sem_num], uadj[i]);
		gs_j_put(s, &sem[op->sem_num].semval, val[i]);
		/* The slow path stamps sempid only for altering calls. */
		if (!slow || alter)
			gs_j_put(s, &sem[op->sem_num].sempid, pid);
	}
	gs_j_commit(s);
	__atomic_store_n(&s->otime, (int64_t)time(NULL), __ATOMIC_RELAXED);
	return 0;
}

/* Waiting slots in arrival order. */
static unsigned waiting(struct gs_semset *s, uint16_t *order)
{
	struct gs_waiter *w = gs_waiters(s);
	unsigned n = 0, hi = s->whi < GS_SEM_WAITERS ? s->whi : GS_SEM_WAITERS;
	for (unsigned i = 0; i < hi; i++) {
		if (!w[i].pid || w[i].status != GS_W_WAITING)
			continue;
		if (!owned(&w[i].mu)) {
			/* Its thread died waiting: the slot is free again. */
			w[i].status = 0;
			w[i].pid = 0;
			if (s->nwait)
				s->nwait--;
			continue;
		}
		unsigned k = n++;
		while (k > 0 && (int32_t)(w[order[k - 1]].ticket - w[i].ticket) > 0) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = (uint16_t)i;
	}
	return n;
}

static void wake(struct gs_waiter *w)
{
	futex(&w->status, FUTEX_WAKE, 1, NULL);
}

/* update_queue(): serve the waiters that can go now, earliest first,
 * and start over after each one that changed values. */
void gs_sem_update_queue(struct gs_semset *s)
{
	if (!__atomic_load_n(&s->nwait, __ATOMIC_ACQUIRE))
		return;
	uint16_t order[GS_SEM_WAITERS];
	struct gs_waiter *w = gs_waiters(s);
	for (int again = 1; again;) {
		again = 0;
		unsigned n = waiting(s, order);
		for (unsigned k = 0; k < n && !again; k++) {
			struct gs_waiter *q = &w[order[k]];
			if (q->nsops > GS_WAIT_OPS) {
				__atomic_store_n(&q->status, GS_W_RETRY, __ATOMIC_RELEASE);
				wake(q);
				continue;
			}
			unsigned blk = 0;
			int r = perform(s, q->ops, q->nsops, q->undo, q->pid, &blk);
			if (r == 1) {
				q->blk_num = q->ops[blk].sem_num;
				q->blk_op = q->ops[blk].sem_op;
				continue;
			}
			q->result = r;
			__atomic_store_n(&q->status, GS_W_DONE, __ATOMIC_RELEASE);
			wake(q);
			if (r == 0)
				for (unsigned i = 0; i < q->nsops; i++)
					again |= q->ops[i].sem_op != 0;
		}
	}
}

void gs_sem_wake_all(struct gs_semset *s, uint32_t status)
{
	struct gs_waiter *w = gs_waiters(s);
	for (unsigned i = 0; i < s->whi && i < GS_SEM_WAITERS; i++) {
		if (!w[i].pid || w[i].status != GS_W_WAITING)
			continue;
		__atomic_store_n(&w[i].status, status, __ATOMIC_RELEASE);
		wake(&w[i]);
	}
}

/* count_semcnt(): waiters whose blocking operation is on semnum. */
int gs_sem_count(struct gs_semset *s, unsigned semnum, int zero)
{
	uint16_t order[GS_SEM_WAITERS];
	struct gs_waiter *w = gs_waiters(s);
	unsigned n = waiting(s, order);
	int c = 0;
	for (unsigned k = 0; k < n; k++) {
		struct gs_waiter *q = &w[order[k]];
		if (q->blk_num == semnum && (zero ? q->blk_op == 0 : q->blk_op < 0))
			c++;
	}
	return c;
}

static struct gs_waiter *take_slot(struct gs_semset *s)
{
	struct gs_waiter *w = gs_waiters(s);
	for (unsigned i = 0; i < GS_SEM_WAITERS; i++) {
		if (w[i].pid && (w[i].status != GS_W_WAITING || owned(&w[i].mu)))
			continue;
		if (w[i].pid && s->nwait) /* a dead waiter's */
			s->nwait--;
		if (!w[i].pid && !w[i].ticket && !w[i].nsops) {
			pthread_mutexattr_t a;
			pthread_mutexattr_init(&a);
			pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
			pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
			pthread_mutex_init(&w[i].mu, &a);
			pthread_mutexattr_destroy(&a);
		}
		if (pthread_mutex_lock(&w[i].mu) == EOWNERDEAD)
			pthread_mutex_consistent(&w[i].mu);
		if (s->whi < i + 1)
			s->whi = i + 1;
		return &w[i];
	}
	return NULL;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* How long a waiter sleeps before it looks for dead SEM_UNDO holders:
 * their adjustments are applied by whoever looks (sem_undo.c). */
#define GS_POLL_UNDO_NS 20000000ll  /* 20 ms */
#define GS_POLL_IDLE_NS 500000000ll /* 500 ms */

/*
 * A call refused with err before it takes the set's lock.  The kernel's
 * do_semtimedop() makes the caller's SEM_UNDO structure (find_alloc_undo)
 * before it checks the semaphore numbers and the permissions, and that
 * structure, adjustments or not, stamps otime at the caller's exit
 * (exit_sem): a refused SEM_UNDO call takes its undo record all the same.
 */
static int refuse(struct gs_semset *s, struct gs_pin *pin, int undos, int err)
{
	if (!undos)
		return err;
	gs_set_lock(s);
	if (!s->removed) {
		int rec = gs_undo_mine(s, 1);
		if (rec < 0)
			err = rec; /* find_alloc_undo()'s failure comes first */
		else
			gs_semset_note_undo(pin, rec);
	}
	gs_set_unlock(s);
	return err;
}

/* The call on the set, pinned for as long as it lasts (a waiter sleeps
 * inside its mapping). */
static int op_on_set(struct gs_semset *s, struct gs_pin *pin, struct sembuf *local,
                     size_t nsops, int64_t deadline, int undos, int alter, unsigned max)
{
	int r;
	if (max >= s->nsems)
		return refuse(s, pin, undos, -EFBIG);
	if (gs_sem_perms(s, alter ? S_IWUGO : S_IRUGO) < 0)
		return refuse(s, pin, undos, -EACCES);
	int32_t pid = gs_pid();
	gs_set_lock(s);
	for (;;) {
		if (s->removed) {
			r = -EIDRM;
			break;
		}
		if (s->nundo)
			gs_undo_reap(s, 0);
		int rec = -1;
		if (undos) {
			rec = gs_undo_mine(s, 1);
			if (rec < 0) {
				r = rec;
				break;
			}
			gs_semset_note_undo(pin, rec);
		}
		unsigned blk = 0;
		r = perform(s, local, (unsigned)nsops, rec, pid, &blk);
		if (r == 0 && alter)
			gs_sem_update_queue(s);
		if (r != 1)
			break;
		if (deadline >= 0 && now_ns() >= deadline) {
			r = -EAGAIN;
			break;
		}
		/* Wait. */
		struct gs_waiter *w = take_slot(s);
		if (!w) {
			/* Every slot is taken: look again in a while. */
			gs_set_unlock(s);
			struct timespec ts = {0, 10000000};
			int e = nanosleep(&ts, NULL) < 0 ? errno : 0;
			gs_set_lock(s);
			if (e == EINTR) {
				r = -EINTR;
				break;
			}
			continue;
		}
		w->pid = pid;
		w->undo = rec;
		w->ticket = s->ticket++;
		w->nsops = (uint16_t)nsops;
		if (nsops <= GS_WAIT_OPS)
			memcpy(w->ops, local, nsops * sizeof *local);
		w->blk_num = local[blk].sem_num;
		w->blk_op = local[blk].sem_op;
		w->result = 0;
		__atomic_store_n(&w->status, GS_W_WAITING, __ATOMIC_RELEASE);
		__atomic_add_fetch(&s->nwait, 1, __ATOMIC_ACQ_REL);
		/* A signal that came while the set was locked is held back and
		 * runs its handler when the unlock lets signals go, before the
		 * futex wait could see it: the wait would go on where the
		 * kernel's semop fails with EINTR.  Ask first, signals still
		 * held (siglock.c). */
		gs_signals_hold();
		gs_set_unlock(s);
		int why = gs_signal_handler_due() ? EINTR : 0; /* or ETIMEDOUT (the deadline) */
		gs_signals_release();
		while (!why && __atomic_load_n(&w->status, __ATOMIC_ACQUIRE) == GS_W_WAITING) {
			/* Always with a timeout: a futex wait without one is
			 * restarted after a SA_RESTART handler, and semop must
			 * fail with EINTR after any handler, as on Linux. */
			int64_t poll = __atomic_load_n(&s->nundo, __ATOMIC_RELAXED) ? GS_POLL_UNDO_NS
			                                                              : GS_POLL_IDLE_NS;
			int64_t left = poll, t0 = now_ns();
			if (deadline >= 0 && deadline - t0 < left)
				left = deadline - t0 > 0 ? deadline - t0 : 0;
			struct timespec ts = {(time_t)(left / 1000000000ll), (long)(left % 1000000000ll)};
			long fr = left > 0 ? futex(&w->status, FUTEX_WAIT, GS_W_WAITING, &ts) : -1;
			int e = left > 0 ? (fr < 0 ? errno : 0) : ETIMEDOUT;
			if (e == EINTR) {
				why = EINTR;
				break;
			}
			if (deadline >= 0 && now_ns() >= deadline) {
				why = ETIMEDOUT;
				break;
			}
			if (e == ETIMEDOUT && __atomic_load_n(&s->nundo, __ATOMIC_RELAXED)) {
				gs_set_lock(s);
				if (w->status == GS_W_WAITING)
					gs_undo_reap(s, 0);
				gs_set_unlock(s);
			}
		}
		gs_set_lock(s);
		uint32_t status = w->status;
		int result = w->result;
		w->status = 0;
		w->pid = 0;
		if (s->nwait)
			s->nwait--;
		pthread_mutex_unlock(&w->mu);
		if (status == GS_W_DONE) {
			r = result;
			break;
		}
		if (status == GS_W_IDRM) {
			r = -EIDRM;
			break;
		}
		if (status == GS_W_WAITING) {
			r = why == EINTR ? -EINTR : -EAGAIN;
			break;
		}
		/* GS_W_RETRY: values changed; try again. */
	}
	gs_set_unlock(s);
	return r;
}

int gs_semtimedop(struct goshm_store *st, int semid, struct sembuf *sops, size_t nsops,
                  const struct timespec *timeout)
{
	struct sembuf local[GS_SEMOPM];
	/* The system calls take nsops as an unsigned int: the C library
	 * passes its size_t along, and the kernel reads the low 32 bits. */
	nsops = (unsigned)nsops;
	/* Since Linux 5.15 do_semtimedop() checks the count and copies the
	 * operations before __do_semtimedop() looks at the id: too many
	 * operations are E2BIG and unreadable ones EFAULT whatever the id. */
	if (nsops > GS_SEMOPM)
		return -E2BIG;
	if (nsops < 1)
		return -EINVAL;
	if (!sops)
		return -EFAULT;
	if (semid < 0)
		return -EINVAL;
	memcpy(local, sops, nsops * sizeof *sops);
	int64_t deadline = -1;
	if (timeout) {
		if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000l)
			return -EINVAL;
		deadline = now_ns() + (int64_t)timeout->tv_sec * 1000000000ll + timeout->tv_nsec;
	}
	unsigned max = 0;
	int undos = 0, alter = 0;
	for (size_t i = 0; i < nsops; i++) {
		if (local[i].sem_num >= max)
			max = local[i].sem_num;
		undos |= (local[i].sem_flg & SEM_UNDO) != 0;
		alter |= local[i].sem_op != 0;
	}
	struct gs_pin pin;
	int r = gs_semset_get(st, semid, &pin);
	if (r < 0)
		return r;
	r = op_on_set(pin.set, &pin, local, nsops, deadline, undos, alter, max);
	gs_semset_put(&pin);
	return r;
}
