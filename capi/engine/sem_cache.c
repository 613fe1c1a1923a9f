/*
 * sem_cache.c - this process's mappings of semaphore sets (sem/set-<gen>).
 *
 * semop finds its set here without a system call: an entry per mapped
 * set, looked up by the set's index in the registry.  Every call pins the
 * entry it uses for as long as it uses the mapping (a thread blocked in
 * semop sleeps on a futex inside it), so a mapping is unmapped only with
 * no pin on it, by the thread that removes its entry under cache_mu.
 *
 * Pins are lock-free: an entry's word holds a pin count, flags and a
 * sequence number that changes whenever the entry is reused, and a pin
 * is a compare-and-swap on that word -- it fails if the entry was dropped
 * or reused since its fields were read.  Dropping an entry swaps a word
 * with no pin for one marked DEAD, under cache_mu, which nothing pins.
 *
 * What is kept: the mappings in use, at most GS_SEM_IDLE idle ones (the
 * least recently used go first), and those this process's SEM_UNDO state
 * needs -- a presence mutex held by one of its threads is on that thread's
 * robust list, which glibc and the kernel walk through the mapping, so
 * the mapping stays until the record is let go (sem_undo.c,
 * gs_undo_release).  A set found removed, or replaced in its slot, is
 * dropped as soon as nothing pins it.
 *
 * The tables live in private anonymous memory, reserved at the first use
 * and never moved (a lock-free reader may be in them): fork() hands the
 * child a copy, the fork handlers hold cache_mu across it, and exec()
 * drops it together with the mappings it describes.  Pins of the parent's
 * other threads, in calls when it forked, stay in the child's copy: those
 * few mappings stay for the child's life.
 */
#include "sem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define GS_SEM_IDLE 64u        /* idle mappings kept, as attach_table.c's tokens */
#define GS_SEM_ENTRIES 65536u  /* mappings at once: in use, idle, kept for SEM_UNDO */
#define GS_KEPT_RETRY_NS 1000000000ll

/* An entry's word: the pins, the flags, and (high half) the sequence. */
#define W_PINS 0x00ffffffull
#define W_STALE (1ull << 24)   /* removed or replaced: drop when unpinned */
#define W_KEPT (1ull << 25)    /* idle, but SEM_UNDO state needs it */
#define W_DEAD (1ull << 26)    /* free, or being dropped: no pins */
#define W_SEQ (1ull << 32)

struct ent {
	uint64_t word;
	struct goshm_store *store; /* these three are read by lock-free pins */
	struct gs_semset *map;
	int32_t id;
	uint32_t idx;
	uint64_t gen;
	size_t len;
	int32_t undo;              /* this process's undo record + 1, 0: none seen */
	uint32_t pad;
	uint64_t used;             /* tick of the last pin, for the LRU */
	int64_t kept_ns;           /* when W_KEPT was set */
};

struct cache_mem {
	uint32_t head[GS_SEMMNI];  /* registry index -> entry + 1 */
	uint32_t live[GS_SEM_ENTRIES];
	uint32_t freel[GS_SEM_ENTRIES];
	struct ent ent[GS_SEM_ENTRIES];
};

static GS_FORK_DATA pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cache_mem *mem;  /* set once, under cache_mu */
static unsigned nlive, nfree, nhwm; /* nlive: read by unpins without the mutex */
static unsigned nkept;         /* entries with W_KEPT (atomic) */
static uint64_t tick;          /* advanced at each new mapping */

/* fork(): the child must not get the tables half-changed, nor cache_mu
 * held by a thread it does not have: config.c's fork handlers take it
 * first (gs_fork_lock_all). */
void gs_sem_cache_lock(void) { gs_mutex_lock(&cache_mu); }
int gs_sem_cache_trylock(void) { return gs_mutex_trylock(&cache_mu); }
void gs_sem_cache_unlock(void) { gs_mutex_unlock(&cache_mu); }

/* The tables and every set mapped stay in a child whatever advice a
 * program gave over them; called with cache_mu held. */
void gs_sem_cache_own_pages_fork(uintptr_t lo, uintptr_t hi, int advice,
                                 int (*madv)(void *, size_t, int))
{
	if (!mem)
		return;
	gs_own_mapping_fork(mem, sizeof *mem, lo, hi, advice, madv);
	for (unsigned i = 0; i < nlive; i++) {
		const struct ent *e = &mem->ent[mem->live[i]];
		gs_own_mapping_fork(e->map, e->len, lo, hi, advice, madv);
	}
}

/* More mappings than GS_SEM_IDLE besides those kept for SEM_UNDO: some may
 * be idle beyond the limit.  Nothing counts idle entries as they come and
 * go -- a counter written by every semop would be one cache line all the
 * process's threads fight over -- so trim() counts them. */
static int over_limit(void)
{
	return (int)__atomic_load_n(&nlive, __ATOMIC_RELAXED) -
	               (int)__atomic_load_n(&nkept, __ATOMIC_RELAXED) >
	       (int)GS_SEM_IDLE;
}

/* Pin e if it is the live entry of store s's set semid. */
static int pin(struct ent *e, uint32_t n, struct goshm_store *s, int semid, struct gs_pin *p)
{
	uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
	for (;;) {
		if (w & (W_DEAD | W_STALE))
			return -ENOENT;
		if (__atomic_load_n(&e->store, __ATOMIC_RELAXED) != s ||
		    __atomic_load_n(&e->id, __ATOMIC_RELAXED) != semid)
			return -ENOENT;
		struct gs_semset *m = __atomic_load_n(&e->map, __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(&e->word, &w, (w + 1) & ~W_KEPT, 0,
		                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			if (w & W_KEPT) /* touched: may be let go again */
				__atomic_sub_fetch(&nkept, 1, __ATOMIC_RELAXED);
			uint64_t t = __atomic_load_n(&tick, __ATOMIC_RELAXED);
			if (__atomic_load_n(&e->used, __ATOMIC_RELAXED) != t)
				__atomic_store_n(&e->used, t, __ATOMIC_RELAXED);
			p->set = m;
			p->ent = n;
			return 0;
		}
	}
}

/* The set semid of store s, pinned, if this process maps it: no system
 * call, no lock. */
int gs_cache_pin(struct goshm_store *s, int semid, struct gs_pin *p)
{
	unsigned base;
	unsigned idx = gs_idx_of(semid, &base);
	struct cache_mem *c = __atomic_load_n(&mem, __ATOMIC_ACQUIRE);
	if (!c || semid < 0 || idx >= GS_SEMMNI)
		return -ENOENT;
	uint32_t h = __atomic_load_n(&c->head[idx], __ATOMIC_ACQUIRE);
	if (!h || h > GS_SEM_ENTRIES)
		return -ENOENT;
	return pin(&c->ent[h - 1], h - 1, s, semid, p);
}

/* Like gs_cache_pin, but also finds a mapping of generation gen that is
 * not the one its index leads to (two stores using the same index), and
 * makes the index lead to it. */
int gs_cache_pin_any(struct goshm_store *s, int semid, uint64_t gen, struct gs_pin *p)
{
	if (gs_cache_pin(s, semid, p) == 0) {
		if (p->set->gen == gen)
			return 0;
		gs_cache_stale(p);
		gs_semset_put(p);
	}
	int r = -ENOENT;
	gs_mutex_lock(&cache_mu);
	for (unsigned i = 0; mem && i < nlive && r < 0; i++) {
		struct ent *e = &mem->ent[mem->live[i]];
		if (e->gen == gen && (r = pin(e, mem->live[i], s, semid, p)) == 0)
			__atomic_store_n(&mem->head[e->idx], mem->live[i] + 1, __ATOMIC_RELEASE);
	}
	gs_mutex_unlock(&cache_mu);
	return r;
}

/* Drop live[i], whose word was w with no pin, if this process needs
 * nothing in its mapping any more: 1 if dropped (live[i] is another entry
 * now), 0 if not. */
static int drop(unsigned i, uint64_t w, int64_t now)
{
	uint32_t n = mem->live[i];
	struct ent *e = &mem->ent[n];
	if (!__atomic_compare_exchange_n(&e->word, &w, w | W_DEAD, 0, __ATOMIC_ACQ_REL,
	                                 __ATOMIC_RELAXED))
		return 0; /* pinned meanwhile */
	int rec = __atomic_load_n(&e->undo, __ATOMIC_RELAXED) - 1;
	if (rec >= 0 && !gs_undo_release(e->map, rec)) {
		e->kept_ns = now;
		if (!(w & W_KEPT))
			__atomic_add_fetch(&nkept, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&e->word, w | W_KEPT, __ATOMIC_RELEASE);
		return 0;
	}
	if (__atomic_load_n(&mem->head[e->idx], __ATOMIC_RELAXED) == n + 1)
		__atomic_store_n(&mem->head[e->idx], 0, __ATOMIC_RELEASE);
	unsigned last = nlive - 1;
	mem->live[i] = mem->live[last];
	__atomic_store_n(&nlive, last, __ATOMIC_RELAXED);
	mem->freel[nfree++] = n;
	if (w & W_KEPT)
		__atomic_sub_fetch(&nkept, 1, __ATOMIC_RELAXED);
	munmap(e->map, e->len);
	return 1;
}

/* Drop the stale mappings nothing pins, then the least recently used idle
 * ones beyond GS_SEM_IDLE.  Entries kept for SEM_UNDO are tried again when
 * pinned, or a second later. */
static void trim(void)
{
	int64_t now = gs_monotonic_ns();
	for (unsigned i = 0; i < nlive;) {
		struct ent *e = &mem->ent[mem->live[i]];
		uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
		if (!(w & W_PINS) && (w & W_KEPT) && now - e->kept_ns > GS_KEPT_RETRY_NS &&
		    __atomic_compare_exchange_n(&e->word, &w, w & ~W_KEPT, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE)) {
			__atomic_sub_fetch(&nkept, 1, __ATOMIC_RELAXED);
			w &= ~W_KEPT;
		}
		if (!(w & (W_PINS | W_KEPT)) && (w & W_STALE) && drop(i, w, now))
			continue;
		i++;
	}
	unsigned idle = 0;
	for (unsigned i = 0; i < nlive; i++)
		idle += !(__atomic_load_n(&mem->ent[mem->live[i]].word, __ATOMIC_RELAXED) &
		          (W_PINS | W_KEPT));
	/* Each try leaves one idle entry fewer: dropped, kept, or pinned. */
	for (; idle > GS_SEM_IDLE; idle--) {
		unsigned best = nlive;
		uint64_t bw = 0;
		for (unsigned i = 0; i < nlive; i++) {
			struct ent *e = &mem->ent[mem->live[i]];
			uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
			if ((w & (W_PINS | W_KEPT)) ||
			    (best < nlive && __atomic_load_n(&e->used, __ATOMIC_RELAXED) >=
			                         __atomic_load_n(&mem->ent[mem->live[best]].used,
			                                         __ATOMIC_RELAXED)))
				continue;
			best = i;
			bw = w;
		}
		if (best == nlive)
			break;
		drop(best, bw, now);
	}
}

static int reserve(void)
{
	if (mem)
		return 0;
	void *p = mmap(NULL, sizeof *mem, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	__atomic_store_n(&mem, p, __ATOMIC_RELEASE);
	return 0;
}

/* Record mapping m (len bytes) of store s's set in registry slot idx,
 * pinned into *p.  -ENOMEM: not recorded, the caller unmaps it. */
int gs_cache_add(struct goshm_store *s, unsigned idx, struct gs_semset *m, size_t len,
                 struct gs_pin *p)
{
	gs_mutex_lock(&cache_mu);
	int r = reserve();
	if (r == 0 && !nfree && nhwm == GS_SEM_ENTRIES)
		r = -ENOMEM;
	if (r < 0) {
		gs_mutex_unlock(&cache_mu);
		return r;
	}
	uint32_t n = nfree ? mem->freel[--nfree] : nhwm++;
	struct ent *e = &mem->ent[n];
	uint64_t seq = (__atomic_load_n(&e->word, __ATOMIC_RELAXED) & ~(W_SEQ - 1)) + W_SEQ;
	__atomic_store_n(&e->store, s, __ATOMIC_RELAXED);
	__atomic_store_n(&e->map, m, __ATOMIC_RELAXED);
	__atomic_store_n(&e->id, m->id, __ATOMIC_RELAXED);
	e->idx = idx;
	e->gen = m->gen;
	e->len = len;
	__atomic_store_n(&e->undo, 0, __ATOMIC_RELAXED);
	uint64_t t = __atomic_load_n(&tick, __ATOMIC_RELAXED) + 1;
	__atomic_store_n(&tick, t, __ATOMIC_RELAXED);
	__atomic_store_n(&e->used, t, __ATOMIC_RELAXED);
	e->kept_ns = 0;
	__atomic_store_n(&e->word, seq | 1, __ATOMIC_RELEASE);
	mem->live[nlive] = n;
	__atomic_store_n(&nlive, nlive + 1, __ATOMIC_RELAXED);
	/* What the index led to is another set of this store: one removed
	 * (its slot reused) -- or another store's, which stays findable by
	 * gs_cache_pin_any. */
	uint32_t old = __atomic_load_n(&mem->head[idx], __ATOMIC_RELAXED);
	if (old && mem->ent[old - 1].store == s)
		__atomic_or_fetch(&mem->ent[old - 1].word, W_STALE, __ATOMIC_ACQ_REL);
	__atomic_store_n(&mem->head[idx], n + 1, __ATOMIC_RELEASE);
	trim();
	gs_mutex_unlock(&cache_mu);
	p->set = m;
	p->ent = n;
	return 0;
}

/* The pinned set was removed or replaced: drop it once unpinned. */
void gs_cache_stale(struct gs_pin *p)
{
	__atomic_or_fetch(&mem->ent[p->ent].word, W_STALE, __ATOMIC_ACQ_REL);
}

/* The pinned set holds this process's undo record rec: its mapping stays
 * until the record is let go. */
void gs_semset_note_undo(struct gs_pin *p, int rec)
{
	struct ent *e = &mem->ent[p->ent];
	if (__atomic_load_n(&e->undo, __ATOMIC_RELAXED) != rec + 1)
		__atomic_store_n(&e->undo, rec + 1, __ATOMIC_RELAXED);
}

/* Unpin; the last pin of a stale entry, or one beyond the idle limit,
 * trims. */
void gs_semset_put(struct gs_pin *p)
{
	if (!p->set)
		return;
	struct ent *e = &mem->ent[p->ent];
	if (__atomic_load_n(&p->set->removed, __ATOMIC_ACQUIRE))
		__atomic_or_fetch(&e->word, W_STALE, __ATOMIC_ACQ_REL);
	p->set = NULL;
	uint64_t w = __atomic_sub_fetch(&e->word, 1, __ATOMIC_ACQ_REL);
	if (w & W_PINS)
		return;
	if (!(w & W_STALE) && !over_limit())
		return;
	gs_mutex_lock(&cache_mu);
	trim();
	gs_mutex_unlock(&cache_mu);
}
