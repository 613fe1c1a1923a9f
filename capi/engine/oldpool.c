/*
 * oldpool.c - data files an earlier goshm kept for reuse.
 *
 * Earlier engines renamed a destroyed segment's data file (at most 1 MiB)
 * to segments/free-<gen> and listed its generation in the header
 * (free_gens, nfree), to give it to the next segment made.  Reusing a
 * file's blocks is not safe across a power cut: until the journal commits
 * the destruction, the disk names those blocks the destroyed segment's
 * file, and the new segment's pages written back into them come back as
 * the old segment's.  Giving the file new blocks made it safe, and then
 * it cost what creating a file costs (docs/BENCHMARKS.md), so this engine
 * keeps no such files: a destroyed segment's file is unlinked.
 *
 * What an earlier engine listed is removed here, under the lock, by the
 * next creation, goshm gc, or the repair after a reboot.  Files it pooled
 * but had not listed yet (a kill in between) are strays, which gc and
 * the repair remove like any other.
 */
#include "engine.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void free_name(uint64_t gen, struct gs_name *n)
{
	struct gs_name data;
	gs_data_name(gen, &data);                            /* "seg-<gen>" */
	memcpy(n->s, "free-", 5);
	memcpy(n->s + 5, data.s + 4, strlen(data.s + 4) + 1); /* "free-<gen>" */
}

void gs_oldpool_drain(struct gs_locked *l)
{
	struct gs_name n;
	if (!l->hdr->nfree)
		return;
	int dfd = gs_open_dir(l->store, GS_SEGMENT_DIR);
	gs_write(l);
	/* nfree <= GS_POOL: store.c checks the header at every lock. */
	for (unsigned i = 0; i < l->hdr->nfree && i < GS_POOL; i++) {
		free_name(l->hdr->free_gens[i], &n);
		if (dfd >= 0)
			unlinkat(dfd, n.s, 0);
		l->hdr->free_gens[i] = 0;
	}
	l->hdr->nfree = 0;
	if (dfd >= 0)
		close(dfd);
}
