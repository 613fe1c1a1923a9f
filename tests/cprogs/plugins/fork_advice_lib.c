/*
 * fork_advice_lib.c - a library whose fork handlers advise a page of its
 * own MADV_DOFORK and MADV_DONTFORK, as libraries that keep memory out of
 * children do.  A program's dependency, it registers its handlers in its
 * constructor, before the preloaded libgoshm.so's constructor runs
 * (tests/cprogs/fork_handler_advice.c).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>

static void *page;
static int advised;

static void prepare(void) { advised += madvise(page, 4096, MADV_DOFORK) == 0; }
static void parent(void) { advised += madvise(page, 4096, MADV_DONTFORK) == 0; }
static void child(void) { advised += madvise(page, 4096, MADV_DONTFORK) == 0; }

__attribute__((constructor)) static void fork_advice_lib_init(void)
{
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED && madvise(page, 4096, MADV_DONTFORK) == 0)
		pthread_atfork(prepare, parent, child);
}

/* How many of its handlers' advices succeeded. */
int fork_advice_lib_advised(void) { return advised; }
