/*
 * compat.h - what the engine uses that glibc declares and musl (1.2.3,
 * Debian's musl-tools) does not: small fallbacks through the system call
 * numbers, so that `make` can build build/musl/libgoshm.so from the same
 * files.  Included by engine.h; empty under glibc.
 */
#ifndef GOSHM_COMPAT_H
#define GOSHM_COMPAT_H

#if !defined(__GLIBC__)
#include <fcntl.h>
#include <linux/falloc.h> /* FALLOC_FL_* */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
/* musl < 1.2.5 has no renameat2 wrapper. */
static inline int gs_renameat2(int ofd, const char *old, int nfd, const char *new_,
                               unsigned flags)
{
	return (int)syscall(SYS_renameat2, ofd, old, nfd, new_, flags);
}
#define renameat2 gs_renameat2
#endif
#endif /* !__GLIBC__ */

#endif
