/*
 * atfork.c - goshm's fork handlers, registered before any other.
 *
 * fork() runs the prepare handlers in the reverse order of their
 * registration, and the parent's and child's in that order.  goshm's
 * prepare handler takes the engine's mutexes (config.c gs_fork_lock_all),
 * which a program's madvise() takes too (attrwatch.c).  Registered last
 * -- the preloaded library's constructor runs after those of the
 * program's other libraries -- it would run first, and then hold the
 * mutexes while another library's prepare handler waits for a lock of its
 * own: a thread that holds that lock around an madvise() (a library
 * making fresh memory under it) would wait for the mutexes, and the fork
 * for the lock, for ever.
 *
 * So the library defines the C library's registration function
 * (__register_atfork, which every library's pthread_atfork() calls, in
 * glibc; pthread_atfork itself in musl), and the first registration made
 * in the process, a dependency's constructor's or its own, registers
 * goshm's handlers before it.  goshm's prepare handler then runs after
 * every other one, just before the kernel copies the process, and its
 * child handler first, before any other library's code runs in the child.
 */
#include "engine.h"

#include <dlfcn.h>
#include <pthread.h>

typedef void (*handler)(void);

#ifdef __GLIBC__
#define REGISTER_NAME "__register_atfork"
typedef int (*register_fn)(handler, handler, handler, void *);
extern void *__dso_handle;
#else
#define REGISTER_NAME "pthread_atfork"
typedef int (*register_fn)(handler, handler, handler);
#endif

static void *next_register;
static pthread_once_t own_once = PTHREAD_ONCE_INIT;

/* The C library's: the next definition, or the first one in the global
 * scope for a program linked with the C library before this one, where
 * nothing comes next (gs_libc_symbol). */
static register_fn real_register(void)
{
	return (register_fn)gs_libc_symbol(&next_register, REGISTER_NAME);
}

static void register_own(void)
{
	register_fn f = real_register();
	if (!f)
		return;
#ifdef __GLIBC__
	f(gs_prefork, gs_postfork_parent, gs_postfork_child, &__dso_handle);
#else
	f(gs_prefork, gs_postfork_parent, gs_postfork_child);
#endif
}

#ifdef __GLIBC__
GS_EXPORT int __register_atfork(handler prepare, handler parent, handler child, void *dso)
{
	pthread_once(&own_once, register_own);
	register_fn f = real_register();
	return f ? f(prepare, parent, child, dso) : ENOMEM;
}
#else
GS_EXPORT int pthread_atfork(handler prepare, handler parent, handler child)
{
	pthread_once(&own_once, register_own);
	register_fn f = real_register();
	return f ? f(prepare, parent, child) : ENOMEM;
}
#endif

/* Registered at load when no library registered any before: registered
 * at a first call instead, a fork by one thread while another makes that
 * call could copy a mutex held into a child that has no handler to
 * release it. */
__attribute__((constructor)) static void gs_register_fork_handlers(void)
{
	pthread_once(&own_once, register_own);
}
