/*
 * sem_lock.c - a set's lock and its redo journal.
 *
 * The lock is a robust, process-shared pthread mutex in the set's file:
 * taking and releasing it uncontended is one atomic instruction each, and
 * when its holder is killed the kernel marks it owner-dead for the next
 * taker (the robust futex list), with no code of ours running.  What the
 * dead holder was changing is in the journal: every transaction writes
 * the 32-bit values it will store there first, marks the journal valid,
 * stores them and clears the mark.  Whoever finds the owner dead stores
 * them again (idempotent), so a semop is applied whole or not at all.
 */
#include "sem.h"

#include <errno.h>

void gs_j_replay(struct gs_semset *s)
{
	if (!__atomic_load_n(&s->jvalid, __ATOMIC_ACQUIRE))
		return;
	size_t len = gs_set_size(s->nsems);
	for (uint32_t i = 0; i < s->jn && i < GS_JOURNAL; i++)
		if (s->j[i].off >= GS_SET_HDR && (size_t)s->j[i].off + 4 <= len && !(s->j[i].off & 3))
			*(int32_t *)(void *)((char *)s + s->j[i].off) = s->j[i].val;
	__atomic_store_n(&s->jvalid, 0, __ATOMIC_RELEASE);
}

void gs_set_lock(struct gs_semset *s)
{
	int r = gs_mutex_lock(&s->lock);
	if (r == EOWNERDEAD) {
		gs_j_replay(s);
		pthread_mutex_consistent(&s->lock);
	}
}

void gs_set_unlock(struct gs_semset *s)
{
	gs_mutex_unlock(&s->lock);
}

void gs_j_begin(struct gs_semset *s)
{
	s->jn = 0;
}

/* Record *addr = val; applied at gs_j_commit.  A transaction larger than
 * the journal is applied in parts (only an undo sweep can be). */
void gs_j_put(struct gs_semset *s, int32_t *addr, int32_t val)
{
	if (s->jn == GS_JOURNAL) {
		gs_j_commit(s);
		s->jn = 0;
	}
	s->j[s->jn].off = (uint32_t)((char *)addr - (char *)s);
	s->j[s->jn].val = val;
	s->jn++;
}

void gs_j_commit(struct gs_semset *s)
{
	__atomic_store_n(&s->jvalid, 1, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < s->jn; i++)
		*(int32_t *)(void *)((char *)s + s->j[i].off) = s->j[i].val;
	__atomic_store_n(&s->jvalid, 0, __ATOMIC_RELEASE);
	s->jn = 0;
}
