/*
 * publish.c - what one IPC namespace tells the others about its attaches.
 *
 * Other namespaces cannot see a namespace's presence segment, so each
 * namespace publishes its count in the slot (gs_slot.pub, docs/FORMAT.md):
 * one more at every attach, the kernel's exact count at every detach.
 * Both happen without the registry lock, from any number of threads and
 * processes of the namespace at once, and a destroyer in another
 * namespace trusts the word: a count below the truth destroys a segment
 * that is still attached.
 *
 * A detach publishes with a compare-and-swap from the word it read before
 * asking the kernel: an attach that added its one in between makes the
 * swap fail, and the detach asks again.  With the count alone, that swap
 * could succeed after attaches and other detaches took the count away and
 * back to the old value (ABA), and write a count read before those
 * attaches.  The word's high half counts changes, so it never comes back.
 */
#include "engine.h"

#define PUB_COUNT(w) ((uint32_t)(w))
#define PUB_CHANGES(w) ((uint32_t)((w) >> 32))
#define PUB_WORD(changes, count) (((uint64_t)(changes) << 32) | (uint64_t)(count))

uint64_t gs_pub_word(const struct gs_slot *sl, unsigned k)
{
	return __atomic_load_n(&sl->pub[k], __ATOMIC_SEQ_CST);
}

uint32_t gs_pub_count(const struct gs_slot *sl, unsigned k)
{
	return PUB_COUNT(gs_pub_word(sl, k));
}

/* One attach more: count and changes both go up by one, in one add. */
void gs_pub_add(struct gs_slot *sl, unsigned k)
{
	__atomic_fetch_add(&sl->pub[k], PUB_WORD(1, 1), __ATOMIC_SEQ_CST);
}

/* An attach undone before it returned: one less, never below zero. */
void gs_pub_undo(struct gs_slot *sl, unsigned k)
{
	uint64_t w = gs_pub_word(sl, k);
	while (PUB_COUNT(w) &&
	       !__atomic_compare_exchange_n(&sl->pub[k], &w,
	                                    PUB_WORD(PUB_CHANGES(w) + 1, PUB_COUNT(w) - 1), 0,
	                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

/* The count becomes count, if the word is still the one seen (read before
 * the kernel was asked).  1 done, 0 the word changed meanwhile. */
int gs_pub_replace(struct gs_slot *sl, unsigned k, uint64_t seen, uint32_t count)
{
	return __atomic_compare_exchange_n(&sl->pub[k], &seen,
	                                   PUB_WORD(PUB_CHANGES(seen) + 1, count), 0,
	                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* A namespace slot cleared under the lock (nobody of it is left): count
 * 0, and one change more, so that no swap from an older word succeeds. */
void gs_pub_clear(struct gs_slot *sl, unsigned k)
{
	uint64_t w = gs_pub_word(sl, k);
	while (!__atomic_compare_exchange_n(&sl->pub[k], &w, PUB_WORD(PUB_CHANGES(w) + 1, 0), 0,
	                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}
