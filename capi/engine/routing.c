/*
 * routing.c - GOSHM_KEYS: which System V calls goshm serves, and which it
 * leaves to the kernel.
 *
 * Unset, goshm serves every key and IPC_PRIVATE.  Set, it is a list of
 * keys and ranges, and the word "private":
 *
 *     GOSHM_KEYS=0x5000-0x5fff,5678,private
 *
 * goshm serves the keys listed (and IPC_PRIVATE if "private" is there);
 * every other shmget goes to the kernel unchanged, and so do the shmat,
 * shmdt and shmctl of the segments it made.  That is for programs that
 * also share segments with processes that do not use the store: an X
 * server attaching a client's IPC_PRIVATE MIT-SHM segment, a sidecar or a
 * host tool attaching by key.
 *
 * A goshm id and a kernel id are told apart by their index (the low 15
 * bits): goshm makes the segments of a routing process with an index of
 * GS_ROUTED_BASE (16384) or more, and the kernel allocates an index below
 * max(in_use * 3/2, 64) (ipc/util.c ipc_idr_alloc), which stays below
 * 16384 as long as the IPC namespace's kernel.shmmni is at most 10922 (the
 * default is 4096).  So an id at or above the base is goshm's, and one
 * below it is the kernel's -- or, if the kernel has no such segment, a
 * goshm segment made before GOSHM_KEYS was set (docs/DIFFERENCES.md).
 * Routing refuses to start in a namespace whose shmmni would break that.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GS_MAX_RANGES 64
/* The kernel's indexes stay below 16384 while in_use * 3/2 does. */
#define GS_KERNEL_SHMMNI_MAX 10922

struct range {
	int64_t lo, hi;
};

static struct {
	int active;        /* GOSHM_KEYS is set */
	int error;         /* it cannot be used: every call fails */
	int private_ok;    /* "private" is listed */
	int n;
	struct range r[GS_MAX_RANGES];
} routes;
/* pthread_once, not a mutex: a fork while another thread reads GOSHM_KEYS
 * leaves the child a once it runs again, never a mutex held for ever. */
static pthread_once_t routes_once = PTHREAD_ONCE_INIT;

/* A key as C writes it: decimal, 0x hex or 0 octal, up to 32 bits (a key
 * above INT_MAX is the negative key_t it becomes). */
static int parse_key(const char *s, const char *end, int64_t *out)
{
	char buf[32];
	size_t n = (size_t)(end - s);
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	char *e;
	errno = 0;
	long long v = strtoll(buf, &e, 0);
	if (*e || errno || v < INT32_MIN || v > (long long)UINT32_MAX)
		return -1;
	*out = (int32_t)(uint32_t)v;
	return 0;
}

static int parse(const char *spec)
{
	routes.n = 0;
	routes.private_ok = 0;
	for (const char *p = spec; *p;) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		while (p < end && *p == ' ')
			p++;
		const char *stop = end;
		while (stop > p && stop[-1] == ' ')
			stop--;
		if (stop - p == 7 && !strncmp(p, "private", 7)) {
			routes.private_ok = 1;
		} else if (stop > p) {
			const char *dash = memchr(p + 1, '-', (size_t)(stop - p - 1));
			struct range r;
			if (routes.n == GS_MAX_RANGES)
				return -1;
			if (dash ? parse_key(p, dash, &r.lo) || parse_key(dash + 1, stop, &r.hi)
			         : parse_key(p, stop, &r.lo))
				return -1;
			if (!dash)
				r.hi = r.lo;
			if (r.hi < r.lo)
				return -1;
			routes.r[routes.n++] = r;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

static void read_keys(void)
{
	const char *spec = getenv("GOSHM_KEYS");
	routes.active = spec != NULL;
	if (spec && parse(spec) < 0) {
		routes.error = 1;
		gs_warn_config("GOSHM_KEYS", "cannot be read", EINVAL,
		               "write keys and ranges, e.g. GOSHM_KEYS=0x5000-0x5fff,5678,private");
	} else if (spec && gs_read_number("/proc/sys/kernel/shmmni") > GS_KERNEL_SHMMNI_MAX) {
		routes.error = 1;
		gs_warn_config("GOSHM_KEYS", "needs kernel.shmmni <= 10922 in this IPC namespace",
		               EINVAL, "lower kernel.shmmni, or unset GOSHM_KEYS (docs/DIFFERENCES.md)");
	}
}

static void load(void)
{
	pthread_once(&routes_once, read_keys);
}

int gs_routing_active(void)
{
	load();
	return routes.active;
}

/* GOSHM_KEYS is set but unusable: the calls fail (no silent fallback). */
int gs_routing_error(void)
{
	load();
	return routes.error;
}

int gs_route_key(key_t key)
{
	load();
	if (!routes.active)
		return GS_TO_GOSHM;
	if (key == IPC_PRIVATE)
		return routes.private_ok ? GS_TO_GOSHM : GS_TO_KERNEL;
	for (int i = 0; i < routes.n; i++)
		if (key >= routes.r[i].lo && key <= routes.r[i].hi)
			return GS_TO_GOSHM;
	return GS_TO_KERNEL;
}

/* The routing in words, for goshm doctor; returns the length. */
int gs_routing_describe(char *buf, size_t len)
{
	load();
	size_t n = 0;
	buf[0] = 0;
	if (!routes.active)
		return 0;
	for (int i = 0; i < routes.n && n + 48 < len; i++) {
		const char *sep = n ? "," : "";
		char tmp[48];
		int k;
		if (routes.r[i].lo == routes.r[i].hi)
			k = snprintf(tmp, sizeof tmp, "%s%#x", sep, (unsigned)(int32_t)routes.r[i].lo);
		else
			k = snprintf(tmp, sizeof tmp, "%s%#x-%#x", sep, (unsigned)(int32_t)routes.r[i].lo,
			             (unsigned)(int32_t)routes.r[i].hi);
		memcpy(buf + n, tmp, (size_t)k + 1);
		n += (size_t)k;
	}
	if (routes.private_ok && n + 9 < len) {
		memcpy(buf + n, n ? ",private" : "private", n ? 9 : 8);
		n += n ? 8 : 7;
	}
	return (int)n;
}
