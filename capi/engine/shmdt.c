/*
 * shmdt.c - detach, as the kernel's do_shmdt() does: the address must be
 * where an attach starts; everything still mapped of that attach goes,
 * also after a partial munmap() or mprotect().
 */
#include "engine.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Record the detach in the registry and destroy a removed segment that
 * nobody has attached any more. */
static void account_detach(const struct gs_attach *a)
{
	struct gs_locked l;
	if (gs_lock(a->store, &l, GS_EXISTING) < 0) {
		if (a->token && !gs_table_token_used(a->token))
			munmap(a->token, (size_t)gs_page_size());
		return;
	}
	/* Under the registry lock, so that no thread of ours attaching the
	 * same segment picks this token up while we unmap it. */
	if (a->token && !gs_table_token_used(a->token))
		munmap(a->token, (size_t)gs_page_size());
	unsigned idx = (unsigned)a->shmid & (GS_IPCMNI - 1);
	struct gs_slot *sl = gs_slot_at(&l, idx);
	if (idx < GS_SHMMNI && l.state[idx] == GS_LIVE && sl->gen == a->gen) {
		sl->dtime = time(NULL);
		sl->lpid = getpid();
		gs_publish_local(&l, idx);
		gs_reap_if_unused(&l, idx);
	}
	gs_unlock(&l);
}

int gs_shmdt(const void *shmaddr)
{
	uintptr_t addr = (uintptr_t)shmaddr;
	struct gs_attach a;
	if (addr & ((uintptr_t)gs_page_size() - 1))
		return -EINVAL;
	if (gs_table_take(addr, &a) < 0)
		return -EINVAL;
	int r = gs_vma_unmap_fragments(&a);
	gs_presence_detach(a.presence);
	account_detach(&a);
	return r;
}
