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
 *
 * The writers without the lock no longer hold an attach when they write
 * (a detach), or may not yet be counted (an attach): the segment can be
 * destroyed under them and its slot given to a new segment, whose word
 * for the same namespace slot may be another namespace's count; and a
 * detach that no longer maps its token can see its namespace slot
 * cleared and claimed by another namespace.  So each of them names the
 * segment's generation and its namespace's token generation, and checks
 * both after reading the word it swaps from; and a slot that is freed,
 * or a namespace slot cleared or claimed, keeps its words' change
 * counters and bumps them (gs_pub_clear), after those generations
 * changed.  A swap from a word read before that bump fails, and the retry
 * sees the new generations: nothing written for a destroyed segment or a
 * namespace gone lands on the next one.
 */
#include "engine.h"

#include <stddef.h>
#include <string.h>

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

/* Whether slot sl still holds generation gen (a freed slot holds 0), and
 * its namespace slot k the namespace whose token generation is tgen (a
 * cleared one holds 0, a namespace that claims it a new one). */
int gs_pub_holds(const struct gs_slot *sl, unsigned k, uint64_t gen, uint32_t tgen)
{
	return __atomic_load_n(&sl->gen, __ATOMIC_SEQ_CST) == gen &&
	       __atomic_load_n(&sl->ns[k].token_gen, __ATOMIC_SEQ_CST) == tgen;
}

/* One attach more of generation gen, namespace token tgen: count and
 * changes both go up by one.  1 done, 0 the slot no longer holds them
 * (nothing written). */
int gs_pub_add(struct gs_slot *sl, unsigned k, uint64_t gen, uint32_t tgen)
{
	uint64_t w = gs_pub_word(sl, k);
	while (gs_pub_holds(sl, k, gen, tgen))
		if (__atomic_compare_exchange_n(&sl->pub[k], &w, w + PUB_WORD(1, 1), 0,
		                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return 1;
	return 0;
}

/* An attach undone before it returned: one less, never below zero, and
 * nothing if the slot has moved on. */
void gs_pub_undo(struct gs_slot *sl, unsigned k, uint64_t gen, uint32_t tgen)
{
	uint64_t w = gs_pub_word(sl, k);
	while (PUB_COUNT(w) && gs_pub_holds(sl, k, gen, tgen) &&
	       !__atomic_compare_exchange_n(&sl->pub[k], &w,
	                                    PUB_WORD(PUB_CHANGES(w) + 1, PUB_COUNT(w) - 1), 0,
	                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

/* The count becomes count, if the word is still the one seen (read before
 * the slot's generation was checked and the kernel asked).  1 done, 0 the
 * word changed meanwhile. */
int gs_pub_replace(struct gs_slot *sl, unsigned k, uint64_t seen, uint32_t count)
{
	return __atomic_compare_exchange_n(&sl->pub[k], &seen,
	                                   PUB_WORD(PUB_CHANGES(seen) + 1, count), 0,
	                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* A namespace slot cleared under the lock (nobody of it is left), or the
 * whole slot freed (gs_slot_wipe): count 0, and one change more, so that
 * no swap from an older word succeeds. */
void gs_pub_clear(struct gs_slot *sl, unsigned k)
{
	uint64_t w = gs_pub_word(sl, k);
	while (!__atomic_compare_exchange_n(&sl->pub[k], &w, PUB_WORD(PUB_CHANGES(w) + 1, 0), 0,
	                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

/* Free slot sl's contents under the lock: every field but the pub words
 * is zeroed, generation first; then each pub word's count becomes 0 with
 * one change more (see the top of this file for why the counters stay). */
void gs_slot_wipe(struct gs_slot *sl)
{
	__atomic_store_n(&sl->gen, 0, __ATOMIC_SEQ_CST);
	memset(sl, 0, offsetof(struct gs_slot, pub));
	for (unsigned k = 0; k < GS_NS_SLOTS; k++)
		gs_pub_clear(sl, k);
}
