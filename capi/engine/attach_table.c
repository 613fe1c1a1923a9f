/*
 * attach_table.c - this process's attaches: the one piece of state the
 * engine keeps besides its configuration.
 *
 * It lives in private anonymous memory, so fork() hands the child an exact
 * copy (the kernel duplicates the mappings it describes) and exec() drops
 * it together with them.  A mutex guards it against threads; the fork
 * handlers in config.c take it around fork() so that a child never starts
 * with it held.  It is never held across a blocking call.
 */
#include "engine.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gs_attach *table;
static size_t table_len, table_cap;

void gs_table_lock(void) { pthread_mutex_lock(&table_mu); }
void gs_table_unlock(void) { pthread_mutex_unlock(&table_mu); }

static int grow(void)
{
	size_t cap = table_cap ? table_cap * 2 : 64;
	void *p;
	if (!table)
		p = mmap(NULL, cap * sizeof *table, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
		p = mremap(table, table_cap * sizeof *table, cap * sizeof *table,
		           MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -ENOMEM;
	table = p;
	table_cap = cap;
	return 0;
}

int gs_table_add(const struct gs_attach *a)
{
	int r = 0;
	gs_table_lock();
	if (table_len == table_cap)
		r = grow();
	if (r == 0)
		table[table_len++] = *a;
	gs_table_unlock();
	return r;
}

/*
 * Remove entry i into *out.  Attaches of one segment share one token
 * mapping, and only whoever removes the last of them may unmap it: out's
 * token is cleared while another entry still holds it.  Otherwise two
 * threads detaching the same segment at once both saw the token unused by
 * the time they reached the registry lock, and the second munmap() hit
 * whatever had been mapped at that page in between -- another thread's
 * fresh attach.
 */
static void remove_at(size_t i, struct gs_attach *out)
{
	*out = table[i];
	memmove(&table[i], &table[i + 1], (table_len - i - 1) * sizeof *table);
	table_len--;
	for (size_t j = 0; j < table_len && out->token; j++)
		if (table[j].token == out->token)
			out->token = NULL;
}

/* The most recent attach at addr (SHM_REMAP can stack several there). */
int gs_table_take(uintptr_t addr, struct gs_attach *out)
{
	int r = -EINVAL;
	gs_table_lock();
	for (size_t i = table_len; i-- > 0;) {
		if (table[i].addr == addr) {
			remove_at(i, out);
			r = 0;
			break;
		}
	}
	gs_table_unlock();
	return r;
}

/* An attach lying wholly inside [lo, hi): replaced by a SHM_REMAP there. */
int gs_table_take_covered(uintptr_t lo, uintptr_t hi, struct gs_attach *out)
{
	int r = -ENOENT;
	gs_table_lock();
	for (size_t i = 0; i < table_len; i++) {
		if (table[i].addr >= lo && table[i].addr + table[i].len <= hi) {
			remove_at(i, out);
			r = 0;
			break;
		}
	}
	gs_table_unlock();
	return r;
}

void *gs_table_token(const struct goshm_store *s, int shmid, uint64_t gen)
{
	void *t = NULL;
	gs_table_lock();
	for (size_t i = 0; i < table_len && !t; i++)
		if (table[i].store == s && table[i].shmid == shmid && table[i].gen == gen)
			t = table[i].token;
	gs_table_unlock();
	return t;
}

int gs_table_token_used(const void *token)
{
	int used = 0;
	gs_table_lock();
	for (size_t i = 0; i < table_len && !used; i++)
		used = table[i].token == token;
	gs_table_unlock();
	return used;
}
