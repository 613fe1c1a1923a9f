/* deepbind_dep.c - a dependency of deepbind_plugin.c, found through the
 * plugin's RUNPATH ($ORIGIN): its shmat, made from a library loaded as
 * part of a RTLD_DEEPBIND load, must reach goshm too.  Built with -z now:
 * its GOT is read-only (RELRO) by the time goshm rebinds it. */
#include <sys/shm.h>

void *dep_attach(int id)
{
	return shmat(id, 0, 0);
}
