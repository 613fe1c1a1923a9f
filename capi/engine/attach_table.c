/*
 * attach_table.c - this process's attaches, and the token it maps for each
 * segment it has attached: the one piece of state the engine keeps besides
 * its configuration.
 *
 * It lives in private anonymous memory, so fork() hands the child an exact
 * copy (the kernel duplicates the mappings it describes) and exec() drops
 * it together with them.  A mutex guards it against threads; the fork
 * handlers in config.c take it around fork() so that a child never starts
 * with it held.  It is never held across a blocking call.
 *
 * Tokens (token.c) are mapped once per process and segment and kept after
 * the last detach, so that a program attaching in a loop maps its token
 * once.  Each has a reference count: the attaches that use it, plus calls
 * in the middle of an attach.  A token is unmapped only by the thread that
 * removes it from this table, under the mutex, with no reference left --
 * so no two threads can ever unmap the same page, and no thread can pick up
 * a token that is being unmapped.  Idle tokens beyond GS_IDLE_TOKENS are
 * dropped, least recently used first, and a destroyed segment's at once.
 */
#include "engine.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define GS_IDLE_TOKENS 64

struct gs_tokref {
	struct gs_segkey seg;
	unsigned nsk;
	uint32_t tgen;
	void *token;
	unsigned refs;
	uint64_t used;
};

static GS_FORK_DATA pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
/* Read by every child's fork handler (gs_table_forked_child): beside the
 * mutex, on the page the handlers touch anyway. */
static GS_FORK_DATA size_t table_len;
static struct gs_attach *table;
static size_t table_cap;
/* An address range that holds every attach in the table (wider after
 * removals; reset when the table empties), read without the mutex: most
 * of a program's munmap calls are elsewhere (gs_table_overlapping). */
static uintptr_t span_lo = UINTPTR_MAX, span_hi;
/* Counts MADV_DONTFORK and MADV_DOFORK advices (gs_table_fork_advice_locked):
 * what /proc said between two of them is stale after the second. */
static uint64_t fork_advices;
static struct gs_tokref *toks;
static size_t toks_len, toks_cap, toks_idle;
static uint64_t tick;

void gs_table_lock(void) { gs_mutex_lock(&table_mu); }
void gs_table_unlock(void) { gs_mutex_unlock(&table_mu); }
int gs_table_trylock(void) { return gs_mutex_trylock(&table_mu); }

/* Grow an array kept in anonymous memory (the engine stays out of malloc,
 * which a forked child of a threaded program may find locked). */
static int grow(void **arr, size_t *cap, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p = *arr ? mremap(*arr, *cap * elem, ncap * elem, MREMAP_MAYMOVE)
	               : mmap(NULL, ncap * elem, PROT_READ | PROT_WRITE,
	                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int same_seg(const struct gs_segkey *a, const struct gs_segkey *b)
{
	return a->store == b->store && a->store_id == b->store_id &&
	       a->shmid == b->shmid && a->gen == b->gen;
}

static struct gs_tokref *find_tok(const struct gs_segkey *k, unsigned nsk, uint32_t tgen)
{
	for (size_t i = 0; i < toks_len; i++)
		if (same_seg(&toks[i].seg, k) && toks[i].nsk == nsk && toks[i].tgen == tgen)
			return &toks[i];
	return NULL;
}

static void ref(struct gs_tokref *t)
{
	if (!t->refs++)
		toks_idle--;
	t->used = ++tick;
}

static void unref(struct gs_tokref *t)
{
	if (t->refs && !--t->refs)
		toks_idle++;
}

static void *evict_one(void);

/* Drop a reference; a token that becomes idle beyond GS_IDLE_TOKENS makes
 * the least recently used idle one go, whose page is returned for the
 * caller to unmap once the mutex is released.  (Evicting only when a
 * token is added let a process that detaches many segments keep more.) */
static void *unref_evict(struct gs_tokref *t)
{
	unref(t);
	return evict_one();
}

/* Remove toks[i] (idle) and return its page for the caller to unmap once
 * the mutex is released. */
static void *drop_tok(size_t i)
{
	void *page = toks[i].token;
	toks_idle--;
	toks[i] = toks[--toks_len];
	return page;
}

/* The least recently used idle token, if there are too many. */
static void *evict_one(void)
{
	if (toks_idle <= GS_IDLE_TOKENS)
		return NULL;
	size_t best = toks_len;
	for (size_t i = 0; i < toks_len; i++)
		if (!toks[i].refs && (best == toks_len || toks[i].used < toks[best].used))
			best = i;
	return best < toks_len ? drop_tok(best) : NULL;
}

static void unmap_token(void *page)
{
	if (page)
		munmap(page, (size_t)gs_page_size());
}

/* The token this process maps for segment k's namespace slot nsk (token
 * generation tgen), with a reference taken; NULL if it maps none. */
void *gs_table_pin_token(const struct gs_segkey *k, unsigned nsk, uint32_t tgen)
{
	void *t = NULL;
	gs_table_lock();
	struct gs_tokref *r = find_tok(k, nsk, tgen);
	if (r) {
		ref(r);
		t = r->token;
	}
	gs_table_unlock();
	return t;
}

/* Record a token just mapped, with a reference taken.  If another thread
 * recorded one meanwhile, that one is returned (referenced) and the
 * caller unmaps its own; NULL: out of memory, the caller unmaps its own. */
void *gs_table_add_token(const struct gs_segkey *k, unsigned nsk, uint32_t tgen,
                         void *token)
{
	void *t = NULL, *evicted = NULL;
	gs_table_lock();
	struct gs_tokref *r = find_tok(k, nsk, tgen);
	if (r) {
		ref(r);
		t = r->token;
	} else if (toks_len < toks_cap ||
	           grow((void **)&toks, &toks_cap, sizeof *toks) == 0) {
		r = &toks[toks_len++];
		memset(r, 0, sizeof *r);
		r->seg = *k;
		r->nsk = nsk;
		r->tgen = tgen;
		r->token = token;
		toks_idle++;
		ref(r);
		t = token;
		evicted = evict_one();
	}
	gs_table_unlock();
	unmap_token(evicted);
	return t;
}

void gs_table_unpin(const struct gs_segkey *k, unsigned nsk, uint32_t tgen)
{
	void *evicted = NULL;
	gs_table_lock();
	struct gs_tokref *r = find_tok(k, nsk, tgen);
	if (r)
		evicted = unref_evict(r);
	gs_table_unlock();
	unmap_token(evicted);
}

/* Add an attach; its token reference (pinned by the caller) becomes the
 * attach's. */
int gs_table_add(const struct gs_attach *a)
{
	static uint64_t serial;
	int r = 0;
	gs_table_lock();
	if (table_len == table_cap)
		r = grow((void **)&table, &table_cap, sizeof *table);
	if (r == 0) {
		table[table_len] = *a;
		table[table_len++].serial = ++serial;
		if (a->addr < span_lo)
			__atomic_store_n(&span_lo, a->addr, __ATOMIC_RELAXED);
		if (a->addr + a->len > span_hi)
			__atomic_store_n(&span_hi, a->addr + a->len, __ATOMIC_RELAXED);
	}
	gs_table_unlock();
	return r;
}

/* Remove table[i] into *out, and its token reference, which is left
 * idle. */
static struct gs_tokref *drop_at(size_t i, struct gs_attach *out)
{
	*out = table[i];
	memmove(&table[i], &table[i + 1], (table_len - i - 1) * sizeof *table);
	if (!--table_len) {
		__atomic_store_n(&span_lo, UINTPTR_MAX, __ATOMIC_RELAXED);
		__atomic_store_n(&span_hi, 0, __ATOMIC_RELAXED);
	}
	struct gs_tokref *r = find_tok(&out->seg, out->nsk, out->tgen);
	if (r)
		unref(r);
	return r;
}

/* Remove table[i] into *out; returns a token page to unmap after the
 * mutex, or NULL. */
static void *remove_at(size_t i, struct gs_attach *out)
{
	return drop_at(i, out) ? evict_one() : NULL;
}

/* Remove the attach a, found earlier by gs_table_find or _snapshot:
 * -ENOENT if another thread removed it meanwhile. */
int gs_table_take_exact(const struct gs_attach *a)
{
	struct gs_attach out;
	void *evicted = NULL;
	int r = -ENOENT;
	gs_table_lock();
	for (size_t i = table_len; i-- > 0;) {
		if (table[i].serial == a->serial) {
			evicted = remove_at(i, &out);
			r = 0;
			break;
		}
	}
	gs_table_unlock();
	unmap_token(evicted);
	return r;
}

/* A copy of the most recent attach at addr. */
int gs_table_find(uintptr_t addr, struct gs_attach *out)
{
	int r = -EINVAL;
	gs_table_lock();
	for (size_t i = table_len; i-- > 0;) {
		if (table[i].addr == addr) {
			*out = table[i];
			r = 0;
			break;
		}
	}
	gs_table_unlock();
	return r;
}

/* A copy of the most recent attach of segment k mapped with protection
 * prot (shmat.c's duplicate of a held attach).  A process with no attach
 * costs no lock (one added meanwhile by another thread may be missed:
 * the attach then maps the data file). */
int gs_table_twin(const struct gs_segkey *k, int prot, struct gs_attach *out)
{
	int r = -ENOENT;
	if (!__atomic_load_n(&table_len, __ATOMIC_RELAXED))
		return r;
	gs_table_lock();
	for (size_t i = table_len; i-- > 0;) {
		if (table[i].prot == prot && same_seg(&table[i].seg, k)) {
			*out = table[i];
			r = 0;
			break;
		}
	}
	gs_table_unlock();
	return r;
}

/* Copy up to max attaches into out; returns how many there are. */
size_t gs_table_snapshot(struct gs_attach *out, size_t max)
{
	gs_table_lock();
	size_t n = table_len;
	memcpy(out, table, (n < max ? n : max) * sizeof *table);
	gs_table_unlock();
	return n;
}

/* Copy up to max of the attaches that overlap [lo, hi) into out; returns
 * how many do.  A range outside every attach's costs no lock (an attach
 * being added meanwhile by another thread may be missed: it then waits
 * for its shmdt, as it would have without the watch). */
size_t gs_table_overlapping(uintptr_t lo, uintptr_t hi, struct gs_attach *out, size_t max)
{
	if (!__atomic_load_n(&table_len, __ATOMIC_RELAXED) ||
	    hi <= __atomic_load_n(&span_lo, __ATOMIC_RELAXED) ||
	    lo >= __atomic_load_n(&span_hi, __ATOMIC_RELAXED))
		return 0;
	size_t n = 0;
	gs_table_lock();
	for (size_t i = 0; i < table_len; i++)
		if (table[i].addr < hi && table[i].addr + table[i].len > lo) {
			if (n < max)
				out[n] = table[i];
			n++;
		}
	gs_table_unlock();
	return n;
}

/* An attach lying wholly inside [lo, hi): replaced by a SHM_REMAP there. */
int gs_table_take_covered(uintptr_t lo, uintptr_t hi, struct gs_attach *out)
{
	void *evicted = NULL;
	int r = -ENOENT;
	gs_table_lock();
	for (size_t i = 0; i < table_len; i++) {
		if (table[i].addr >= lo && table[i].addr + table[i].len <= hi) {
			evicted = remove_at(i, out);
			r = 0;
			break;
		}
	}
	gs_table_unlock();
	unmap_token(evicted);
	return r;
}

/* Segment k was destroyed: unmap its idle tokens. */
void gs_table_forget_segment(const struct gs_segkey *k)
{
	void *pages[GS_NS_SLOTS * 2];
	size_t n = 0;
	gs_table_lock();
	for (size_t i = 0; i < toks_len && n < sizeof pages / sizeof pages[0];) {
		if (!toks[i].refs && same_seg(&toks[i].seg, k))
			pages[n++] = drop_tok(i);
		else
			i++;
	}
	gs_table_unlock();
	while (n)
		unmap_token(pages[--n]);
}

/*
 * MADV_DONTFORK and MADV_DOFORK over [lo, hi) (attrwatch.c), applied
 * whole or not (a call that failed may have reached some mappings).  The
 * kernel leaves a MADV_DONTFORK mapping out of a child: the child has
 * nothing at its address, and the segment's shm_nattch does not count it.
 * An attach left out whole -- by this advice, or piece by piece, as
 * /proc tells when the advice covered part of it -- gets the same advice
 * on its presence attach, so that the kernel's count stays the answer,
 * and a child drops it from its copy of the table
 * (gs_table_forked_child).  One of which a child inherits some pieces
 * keeps its presence attach there (the kernel counts each piece:
 * docs/DIFFERENCES.md, VMA fragments), and the child asks /proc before it
 * trusts any attach.  madv is the C library's madvise().  Called with the
 * mutex held since before the program's call (attrwatch.c): a child that
 * another thread forks meanwhile is forked before the advice, or after
 * the table says what it did.  Returns how many attaches it covered in
 * part, for gs_table_fork_pieces.
 */
size_t gs_table_fork_advice_locked(uintptr_t lo, uintptr_t hi, int dontfork, int applied,
                                   int (*madv)(void *, size_t, int), uint64_t *advice)
{
	size_t page = (size_t)gs_page_size(), partial = 0;
	*advice = ++fork_advices;
	for (size_t i = 0; i < table_len; i++) {
		struct gs_attach *a = &table[i];
		if (a->addr >= hi || a->addr + a->len <= lo) {
			/* A range over the engine's own pages among the program's:
			 * a presence attach follows its attach, whatever the range
			 * told it. */
			if ((uintptr_t)a->presence >= lo && (uintptr_t)a->presence < hi)
				madv(a->presence, page,
				     a->fork_flags & GS_FORK_LEAVES ? MADV_DONTFORK : MADV_DOFORK);
			continue;
		}
		int whole = applied && lo <= a->addr && a->addr + a->len <= hi;
		int leaves = whole && dontfork;
		if (madv(a->presence, page, leaves ? MADV_DONTFORK : MADV_DOFORK) == 0 && whole) {
			a->fork_flags = leaves ? GS_FORK_LEAVES : 0;
		} else {
			/* Until /proc says more: a child keeps the presence attach,
			 * and drops it if it has no piece (gs_table_forked_child). */
			a->fork_flags = GS_FORK_CHECK;
			partial += whole ? 0 : 1;
		}
	}
	/* And a token goes into every child, as it always did: one that holds
	 * attaches of the segment keeps it mapped for other namespaces. */
	for (size_t i = 0; i < toks_len; i++)
		if ((uintptr_t)toks[i].token >= lo && (uintptr_t)toks[i].token < hi)
			madv(toks[i].token, page, MADV_DOFORK);
	return partial;
}

/* The table's own arrays stay in a child whatever advice a program gave
 * over them: the child's fork handler reads them.  Called with the mutex
 * held. */
void gs_table_own_pages_fork(uintptr_t lo, uintptr_t hi, int advice,
                             int (*madv)(void *, size_t, int))
{
	gs_own_mapping_fork(table, table_cap * sizeof *table, lo, hi, advice, madv);
	gs_own_mapping_fork(toks, toks_cap * sizeof *toks, lo, hi, advice, madv);
}

/* Then, without the mutex, for the attaches advice number `advice`
 * covered in part: left out piece by piece?  /proc is read outside the
 * mutex, which is never held across a call that may block, so what it
 * says is used only while no other advice came since (another thread's
 * may have changed the pieces); beyond the first few attaches, the
 * children decide. */
void gs_table_fork_pieces(uintptr_t lo, uintptr_t hi, int (*madv)(void *, size_t, int),
                          uint64_t advice)
{
	struct gs_attach hit[16];
	size_t page = (size_t)gs_page_size();
	size_t n = gs_table_overlapping(lo, hi, hit, sizeof hit / sizeof hit[0]);
	for (size_t i = 0; i < n && i < sizeof hit / sizeof hit[0]; i++) {
		if (!(hit[i].fork_flags & GS_FORK_CHECK) || gs_vma_all_dontfork(&hit[i]) != 1)
			continue;
		/* Not waited for long while a fork holds it (config.c). */
		if (!gs_fork_trylock(0))
			return;
		for (size_t k = 0; k < table_len && fork_advices == advice; k++)
			if (table[k].serial == hit[i].serial && table[k].fork_flags == GS_FORK_CHECK &&
			    madv(table[k].presence, page, MADV_DONTFORK) == 0)
				table[k].fork_flags = GS_FORK_LEAVES;
		gs_table_unlock();
	}
}

/*
 * In a child, just forked, with the mutex held since the parent's
 * prefork (config.c): the attaches the kernel left out of it are not its
 * own.  Their tokens stay mapped, idle (unmapping one here would run the
 * library's munmap, which takes the mutex).  After an advice on part of
 * an attach, the child asks /proc before it trusts any attach; one of
 * which it turns out to have no piece gives up the presence attach it
 * inherited (the pieces it had were unmapped after the advice).
 */
void gs_table_forked_child(void)
{
	int check = 0;
	for (size_t i = table_len; i-- > 0;) {
		struct gs_attach gone;
		unsigned flags = table[i].fork_flags;
		if (flags & GS_FORK_CHECK)
			check = 1;
		if (flags & GS_FORK_LEAVES) {
			drop_at(i, &gone);
		} else if ((flags & GS_FORK_CHECK) && gs_vma_has_fragment(&table[i]) == 0) {
			gs_presence_detach(table[i].presence);
			drop_at(i, &gone);
		}
	}
	if (check)
		gs_maps_bump();
}
