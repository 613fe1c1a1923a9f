/*
 * posix_names.c - which shm_open names goshm serves (GOSHM_POSIX), and
 * what a name must look like.
 *
 * GOSHM_POSIX (read in config.c) is off when unset, empty or "0": then
 * shm_open and shm_unlink do exactly what glibc's do, on /dev/shm.  "1"
 * serves every name from the store.  Anything else is a comma list of
 * name prefixes, written with or without the leading slash:
 *
 *     GOSHM_POSIX=/PostgreSQL.,/psm_
 *
 * and only names that start with one of them are served; the others go
 * to /dev/shm.  POSIX memory is opt-in because many programs use it as
 * scratch space that nobody wants to keep.
 */
#include "engine.h"

#include <errno.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif
#include <string.h>

#define GS_MAX_PREFIXES 32

static struct {
	int mode;                  /* GS_POSIX_OFF, _ALL, _PREFIXES or _ERROR */
	int n;
	const char *p[GS_MAX_PREFIXES];
	size_t len[GS_MAX_PREFIXES];
	char buf[1024];            /* the prefixes, NUL-separated */
} cfg;
/* pthread_once, like GOSHM_KEYS (routing.c): a fork while another thread
 * reads the variable leaves the child nothing half-held. */
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

static const char *skip_slashes(const char *s)
{
	while (*s == '/')
		s++;
	return s;
}

static int parse(const char *spec)
{
	size_t used = 0;
	for (const char *p = spec; *p;) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		const char *q = p;
		while (q < end && *q == '/')
			q++;
		size_t n = (size_t)(end - q);
		/* An empty item, or one that is only slashes, would match every
		 * name: write 1 for that. */
		if (n == 0 || memchr(q, '/', n) || cfg.n == GS_MAX_PREFIXES ||
		    used + n + 1 > sizeof cfg.buf)
			return -1;
		memcpy(cfg.buf + used, q, n);
		cfg.buf[used + n] = 0;
		cfg.p[cfg.n] = cfg.buf + used;
		cfg.len[cfg.n++] = n;
		used += n + 1;
		p = *end ? end + 1 : end;
	}
	return cfg.n ? 0 : -1;
}

static void read_config(void)
{
	const char *spec = gs_posix_env();
	if (!spec || !spec[0] || !strcmp(spec, "0"))
		cfg.mode = GS_POSIX_OFF;
	else if (!strcmp(spec, "1"))
		cfg.mode = GS_POSIX_ALL;
	else if (parse(spec) == 0)
		cfg.mode = GS_POSIX_PREFIXES;
	else {
		cfg.mode = GS_POSIX_ERROR;
		gs_warn_config("GOSHM_POSIX", "cannot be read", EINVAL,
		               "write 1, or name prefixes without inner slashes, "
		               "e.g. GOSHM_POSIX=/PostgreSQL.,/psm_");
	}
}

int gs_posix_mode(void)
{
	pthread_once(&cfg_once, read_config);
	return cfg.mode;
}

/* Whether goshm serves name (as the program wrote it). */
int gs_posix_route(const char *name)
{
	int mode = gs_posix_mode();
	if (mode != GS_POSIX_PREFIXES)
		return mode;
	const char *n = skip_slashes(name);
	for (int i = 0; i < cfg.n; i++)
		if (!strncmp(n, cfg.p[i], cfg.len[i]))
			return GS_POSIX_ALL;
	return GS_POSIX_OFF;
}

#ifdef __GLIBC__
/*
 * glibc's __shm_get_name (posix/shm-directory.c) copies "/dev/shm/" and
 * the name without its leading slashes into a 269-byte buffer, so a name
 * of 260 bytes or more does not fit; one of 256 to 259 bytes fits and the
 * kernel refuses it with ENAMETOOLONG.  What glibc says for an empty name,
 * one with another slash, or one that does not fit changed: up to 2.36,
 * shm_open says EINVAL and shm_unlink ENOENT; later versions say EINVAL,
 * and ENAMETOOLONG when it does not fit.  goshm says what the C library
 * it runs with says (2.36 is the one its tests run on).
 */
static int new_errors;
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static void read_version(void)
{
	int major = 0, minor = 0;
	const char *v = gnu_get_libc_version();
	for (; *v >= '0' && *v <= '9'; v++)
		major = major * 10 + (*v - '0');
	if (*v == '.')
		for (v++; *v >= '0' && *v <= '9'; v++)
			minor = minor * 10 + (*v - '0');
	new_errors = major > 2 || (major == 2 && minor >= 37);
}

#define GS_SHMDIR_FIT 259 /* the longest name glibc's buffer holds */

/* *out is the name without its leading slashes; unlink says which
 * call's errno an unusable name gets. */
int gs_posix_name(const char *name, const char **out, int unlink)
{
	pthread_once(&version_once, read_version);
	const char *n = skip_slashes(name);
	size_t len = strlen(n);
	int bad = len == 0 || memchr(n, '/', len);
	if (bad || len > GS_SHMDIR_FIT) {
		if (new_errors)
			return bad ? -EINVAL : -ENAMETOOLONG;
		return unlink ? -ENOENT : -EINVAL;
	}
	if (len > NAME_MAX)
		return -ENAMETOOLONG; /* the kernel's */
	*out = n;
	return 0;
}
#else
/* musl's __shm_mapname (src/mman/shm_open.c): leading slashes dropped;
 * empty, ".", ".." or another slash is EINVAL, over NAME_MAX
 * ENAMETOOLONG, for shm_open and shm_unlink alike. */
int gs_posix_name(const char *name, const char **out, int unlink)
{
	(void)unlink;
	const char *n = skip_slashes(name);
	size_t len = strlen(n);
	if (len == 0 || memchr(n, '/', len) || (len <= 2 && n[0] == '.' && n[len - 1] == '.'))
		return -EINVAL;
	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	*out = n;
	return 0;
}
#endif
