/*
 * config.c - configuration from the environment, the stores this process
 * has opened, and the one diagnostic line the engine may print.
 *
 * Variables (README.md, "Configuration"):
 *   GOSHM_DIR     store directory, default /var/lib/goshm
 *   GOSHM_SPARSE  1 = do not reserve disk space at shmget
 *   GOSHM_QUIET   1 = never print the diagnostic line
 *   GOSHM_SYNC    detach = flush a segment to disk at shmdt and at exit
 *   GOSHM_POSIX   1 or name prefixes = serve shm_open from the store too
 *                 (posix_names.c)
 */
#include "engine.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GS_DEFAULT_DIR "/var/lib/goshm"

/* Interned stores: a singly linked list that only grows. */
static struct goshm_store *stores;
static struct goshm_store *default_store;
static GS_FORK_DATA pthread_mutex_t stores_mu = PTHREAD_MUTEX_INITIALIZER;
static int warned;

/*
 * The caller's IPC namespace, cached: reading /proc/self/ns/ipc costs
 * more than the rest of a call.  fork() keeps the namespace; a process
 * that moves to another one (unshare, setns) is noticed when its presence
 * segments stop answering, and the cache is read again then
 * (presence.c).
 */
static uint64_t ns_dev, ns_ino;
/* 0: not read yet; odd: being written; even and non-zero: dev and ino are
 * set.  Readers take no lock: IPC_STAT asks for the namespace up to three
 * times, and a mutex there costs more than the rest of its user-space
 * work together. */
static uint32_t ns_seq;

static int ns_load(uint64_t *dev, uint64_t *ino)
{
	for (;;) {
		uint32_t seq = __atomic_load_n(&ns_seq, __ATOMIC_ACQUIRE);
		if (seq == 0)
			return 0;
		if (seq & 1)
			continue; /* a refresh is storing the pair: a few instructions */
		*dev = __atomic_load_n(&ns_dev, __ATOMIC_RELAXED);
		*ino = __atomic_load_n(&ns_ino, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&ns_seq, __ATOMIC_RELAXED) == seq)
			return 1;
	}
}

void gs_ipc_ns(uint64_t *dev, uint64_t *ino, int refresh)
{
	if (!refresh && ns_load(dev, ino))
		return;
	struct stat st;
	uint64_t d = 0, i = 0;
	if (stat("/proc/self/ns/ipc", &st) == 0) {
		d = st.st_dev;
		i = st.st_ino;
	}
	gs_mutex_lock(&stores_mu); /* one writer at a time */
	uint32_t seq = __atomic_load_n(&ns_seq, __ATOMIC_RELAXED);
	__atomic_store_n(&ns_seq, seq | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&ns_dev, d, __ATOMIC_RELAXED);
	__atomic_store_n(&ns_ino, i, __ATOMIC_RELAXED);
	__atomic_store_n(&ns_seq, (seq | 1) + 1, __ATOMIC_RELEASE);
	gs_mutex_unlock(&stores_mu);
	*dev = d;
	*ino = i;
}

/* A small file of the kernel's (/proc, /proc/sys) read whole into buf
 * and NUL-terminated: its length, or -1 (no such file, or a read that
 * failed). */
ssize_t gs_read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

/* A number a kernel file holds (/proc/sys, sysfs), or -1: no such file,
 * or no number at its start. */
long long gs_read_number(const char *path)
{
	char buf[64], *end;
	if (gs_read_text(path, buf, sizeof buf) <= 0)
		return -1;
	long long v = strtoll(buf, &end, 10);
	return end == buf ? -1 : v;
}

/* The next definition of name after this library's own (RTLD_NEXT): the
 * C library's function behind one the library interposes.  Found once
 * into *cache; a race finds the same pointer twice. */
void *gs_next_symbol(void **cache, const char *name)
{
	void *f = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
	if (!f) {
		f = dlsym(RTLD_NEXT, name);
		__atomic_store_n(cache, f, __ATOMIC_RELEASE);
	}
	return f;
}

/* Whether the address f is in this library (or, for the Go package,
 * this program). */
int gs_in_this_object(const void *f)
{
	Dl_info mine, found;
	return f && dladdr((void *)gs_in_this_object, &mine) && dladdr(f, &found) &&
	       mine.dli_fbase == found.dli_fbase;
}

/* The C library's definition of name, behind one this library exports
 * too: the next one, or, for a program that puts the C library before
 * this one (so that nothing comes next), the first one in the global
 * scope, unless that is this library's own.  Found once into *cache. */
void *gs_libc_symbol(void **cache, const char *name)
{
	void *f = gs_next_symbol(cache, name);
	if (!f) {
		f = dlsym(RTLD_DEFAULT, name);
		if (gs_in_this_object(f))
			f = NULL;
		__atomic_store_n(cache, f, __ATOMIC_RELEASE);
	}
	return f;
}

/* Whether, for each of the n names, the definition that the program's
 * calls bind to, the first in the global scope as the main program
 * (dlopen(NULL)) sees it, is this library's: then a library that exports
 * them to watch them (creds.c, mapwatch.c) sees every such call.  (Not
 * RTLD_DEFAULT: a library linked -Bsymbolic, as Go's c-shared build is,
 * finds its own definitions first with it.) */
int gs_program_binds_all(const char *const *names, int n)
{
	void *program = dlopen(NULL, RTLD_NOW);
	int all = program != NULL;
	for (int i = 0; i < n && all; i++)
		all = gs_in_this_object(dlsym(program, names[i]));
	if (program)
		dlclose(program);
	return all;
}

/* Is this engine part of the main program (the Go package, linked in by
 * cgo) rather than a library of its own?  Then its exported watchers
 * (mapwatch.c, attrwatch.c) see none of the program's calls. */
int gs_in_main_program(void)
{
	const void *phdr = (const void *)getauxval(AT_PHDR);
	return !phdr || gs_in_this_object(phdr);
}

/* A cheap clock for "is it time to look again": CLOCK_MONOTONIC_COARSE is
 * read from the vDSO, without a system call. */
int64_t gs_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* This process's pid, for the registry's shm_lpid: getpid() is a system
 * call, and a fork handler forgets the cached value in the child. */
static pid_t cached_pid;

pid_t gs_pid(void)
{
	pid_t p = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
	if (!p) {
		p = getpid();
		__atomic_store_n(&cached_pid, p, __ATOMIC_RELAXED);
	}
	return p;
}

long gs_page_size(void)
{
	static long page;
	if (!page)
		page = sysconf(_SC_PAGESIZE);
	return page;
}

/*
 * GOSHM_SYNC and GOSHM_SPARSE, read once, at the first call that asks, as
 * GOSHM_DIR and GOSHM_KEYS are: getenv() walks the whole environment, and
 * shmdt asks on every call.  A program that changes them with setenv()
 * after its first System V call changes nothing (README, Configuration).
 */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_sync_mode, env_sparse;

static void read_env(void)
{
	const char *v = getenv("GOSHM_SYNC");
	env_sync_mode = v && !strcmp(v, "detach") ? GS_SYNC_DETACH : GS_SYNC_NONE;
	v = getenv("GOSHM_SPARSE");
	env_sparse = v && v[0] == '1';
}

int gs_sync_mode(void)
{
	pthread_once(&env_once, read_env);
	return env_sync_mode;
}

/* This boot of the machine, as 16 bytes: the kernel's boot_id, a random
 * uuid made at every boot (also visible in containers). */
int gs_boot_id(uint8_t out[16])
{
	static uint8_t id[16];
	static int known;
	if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
		char text[64];
		ssize_t n = gs_read_text("/proc/sys/kernel/random/boot_id", text, sizeof text);
		if (n < 32)
			return -1;
		uint8_t tmp[16];
		int k = 0, hi = -1;
		for (ssize_t i = 0; i < n && k < 16; i++) {
			int c = text[i], v = c >= '0' && c <= '9' ? c - '0'
			                   : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
			if (v < 0)
				continue;
			if (hi < 0) {
				hi = v;
			} else {
				tmp[k++] = (uint8_t)(hi << 4 | v);
				hi = -1;
			}
		}
		if (k != 16)
			return -1;
		memcpy(id, tmp, 16);
		__atomic_store_n(&known, 1, __ATOMIC_RELEASE);
	}
	memcpy(out, id, 16);
	return 0;
}

const char *gs_posix_env(void)
{
	return getenv("GOSHM_POSIX");
}

int gs_sparse(void)
{
	pthread_once(&env_once, read_env);
	return env_sparse;
}

/* Normalize dir (absolute, no trailing slash) into out. */
static int normalize(const char *dir, char *out, size_t len)
{
	size_t n;
	if (!dir || !dir[0])
		return -ENOENT;
	if (dir[0] == '/') {
		n = strlen(dir);
		if (n >= len)
			return -ENAMETOOLONG;
		memcpy(out, dir, n + 1);
	} else {
		if (!getcwd(out, len))
			return -errno;
		n = strlen(out);
		if (n + 1 + strlen(dir) >= len)
			return -ENAMETOOLONG;
		out[n++] = '/';
		strcpy(out + n, dir);
		n = strlen(out);
	}
	while (n > 1 && out[n - 1] == '/')
		out[--n] = 0;
	return (int)n;
}

struct goshm_store *gs_store_intern(const char *dir, int *err)
{
	char path[PATH_MAX];
	struct goshm_store *s;
	int n = normalize(dir, path, sizeof s->dir);
	if (n < 0) {
		*err = n;
		return NULL;
	}
	gs_mutex_lock(&stores_mu);
	for (s = stores; s; s = s->next)
		if (!strcmp(s->dir, path))
			break;
	if (!s) {
		/* mmap, not malloc: the engine stays out of the allocator. */
		s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s == MAP_FAILED) {
			gs_mutex_unlock(&stores_mu);
			*err = -ENOMEM;
			return NULL;
		}
		memcpy(s->dir, path, (size_t)n + 1);
		s->dir_len = n;
		pthread_mutex_init(&s->mu, NULL);
		pthread_mutex_init(&s->mu_root, NULL);
		s->next = stores;
		stores = s;
	}
	gs_mutex_unlock(&stores_mu);
	return s;
}

/*
 * The only output the engine ever produces: one line on stderr, once per
 * process, when the store itself cannot be used.  Written with write(2) so
 * that it never touches the program's stdio buffers.
 */
/* "goshm: <kind><name>: <what>: <error>; <fix>" */
static void warn_line2(const char *kind, const char *name, const char *what, int err,
                       const char *fix)
{
	char line[PATH_MAX + 512];
	const char *q = getenv("GOSHM_QUIET");
	if ((q && q[0] == '1') || __atomic_exchange_n(&warned, 1, __ATOMIC_ACQ_REL))
		return;
	int saved = errno;
	size_t n = 0;
	const char *parts[] = {"goshm: ", kind, name, ": ", what,
	                       ": ", strerror(err < 0 ? -err : err), "; ", fix,
	                       "\n"};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t k = strlen(parts[i]);
		if (n + k >= sizeof line)
			k = sizeof line - 1 - n;
		memcpy(line + n, parts[i], k);
		n += k;
	}
	ssize_t w = write(2, line, n);
	(void)w;
	errno = saved;
}

static void warn_line(const char *dir, const char *what, int err, const char *fix)
{
	warn_line2("store ", dir, what, err, fix);
}

/* The one line, about the configuration rather than a store. */
void gs_warn_config(const char *var, const char *what, int err, const char *fix)
{
	warn_line2("", var, what, err, fix);
}

void gs_warn_store(const struct goshm_store *s, const char *what, int err,
                   const char *fix)
{
	warn_line(s ? s->dir : "?", what, err, fix);
}

struct goshm_store *gs_default_store(int *err)
{
	struct goshm_store *s = __atomic_load_n(&default_store, __ATOMIC_ACQUIRE);
	if (s)
		return s;
	const char *dir = getenv("GOSHM_DIR");
	if (!dir || !dir[0])
		dir = GS_DEFAULT_DIR;
	s = gs_store_intern(dir, err);
	if (s)
		__atomic_store_n(&default_store, s, __ATOMIC_RELEASE);
	else if (*err != -ENOMEM) {
		/* A path too long, or relative to a deleted working directory:
		 * the store cannot be used (EACCES, EPERM from shmget), never an
		 * errno that means something else there (ENOENT: no such key). */
		warn_line(dir, "cannot be the store", *err,
		          "set GOSHM_DIR to an absolute path shorter than PATH_MAX");
		*err = -EACCES;
	}
	return s;
}

/*
 * fork(): the child gets a copy of the attach table, of the store list and
 * of the semaphore cache (sem_cache.c), so none may be copied half-changed
 * -- prefork takes their mutexes, which are never held across a blocking
 * call, always in this order.  A store's call mutex may be held across one
 * (a lock wait): it is not taken, but made anew in the child, where the
 * thread holding it does not exist; the registry's POSIX lock is the
 * process's own and is not inherited (store.c).
 *
 * A program's MADV_DONTFORK takes them too (attrwatch.c).  goshm's
 * prepare handler runs after every other library's (atfork.c), so a fork
 * that holds them waits for nothing the advising thread may hold, and
 * lets go soon.  A handler registered before goshm's by a call that did
 * not reach atfork.c would run after goshm's, and might wait there for a
 * lock the advising thread holds: the advice does not wait past
 * GS_FORK_WAIT_NS for a fork under way
 * (gs_fork_trylock).  forks_pending says one is: prefork counts itself in
 * before it takes the mutexes, and out before it lets them go.
 */
#define GS_FORK_WAIT_NS 100000000ll /* 100 ms */
static GS_FORK_DATA int forks_pending;

void gs_fork_lock_all(void)
{
#ifdef __GLIBC__ /* the musl build has no semaphore engine (Makefile) */
	gs_sem_cache_lock();
#endif
	gs_mutex_lock(&stores_mu);
	gs_table_lock();
}

void gs_fork_unlock_all(void)
{
	gs_table_unlock();
	gs_mutex_unlock(&stores_mu);
#ifdef __GLIBC__
	gs_sem_cache_unlock();
#endif
}

/* The table's mutex (all = 0) or all three, in gs_fork_lock_all's order,
 * or none. */
static int try_lock(int all)
{
#ifdef __GLIBC__
	if (all && gs_sem_cache_trylock() != 0)
		return 0;
#endif
	if (all && gs_mutex_trylock(&stores_mu) != 0)
		goto no_stores;
	if (gs_table_trylock() != 0)
		goto no_table;
	return 1;
no_table:
	if (all)
		gs_mutex_unlock(&stores_mu);
no_stores:
#ifdef __GLIBC__
	if (all)
		gs_sem_cache_unlock();
#endif
	return 0;
}

int gs_fork_trylock(int all)
{
	int64_t forking_since = 0;
	for (unsigned tries = 0;; tries++) {
		if (try_lock(all))
			return 1;
		if (!__atomic_load_n(&forks_pending, __ATOMIC_ACQUIRE))
			forking_since = 0;
		else if (!forking_since)
			forking_since = gs_monotonic_ns();
		else if (gs_monotonic_ns() - forking_since > GS_FORK_WAIT_NS)
			return 0;
		/* Another thread's call, or a fork, holds one for a moment. */
		if (tries > 16)
			sched_yield();
	}
}

void gs_fork_unlock(int all)
{
	if (all)
		gs_fork_unlock_all();
	else
		gs_table_unlock();
}

void gs_prefork(void)
{
	__atomic_add_fetch(&forks_pending, 1, __ATOMIC_SEQ_CST);
	gs_fork_lock_all();
}

void gs_postfork_parent(void)
{
	__atomic_sub_fetch(&forks_pending, 1, __ATOMIC_SEQ_CST);
	gs_fork_unlock_all();
}

void gs_postfork_child(void)
{
	/* The other threads that were forking are not in the child. */
	__atomic_store_n(&forks_pending, 0, __ATOMIC_RELAXED);
	cached_pid = 0;
	for (struct goshm_store *s = stores; s; s = s->next) {
		pthread_mutex_init(&s->mu, NULL);
		pthread_mutex_init(&s->mu_root, NULL);
	}
	gs_table_forked_child();
	gs_fork_unlock_all();
}

/* The store list and each store's registry mapping stay in a child
 * whatever advice a program gave over them.  A registry mapping replaced
 * earlier is left to the advice: only the threads that read it then use
 * it, and a child has none of them. */
static void stores_own_pages_fork(uintptr_t lo, uintptr_t hi, int advice,
                                  int (*madv)(void *, size_t, int))
{
	for (struct goshm_store *s = stores; s; s = s->next) {
		gs_own_mapping_fork(s, sizeof *s, lo, hi, advice, madv);
		void *map = s->map;
		if (map)
			gs_own_mapping_fork(map, GS_REGISTRY_SIZE, lo, hi, advice, madv);
	}
}

/* The memory of every module whose mutex gs_fork_lock_all takes, held by
 * the caller, stays in a child whatever advice a program gave over it. */
void gs_fork_own_pages(uintptr_t lo, uintptr_t hi, int advice, int (*madv)(void *, size_t, int))
{
#ifdef __GLIBC__ /* the musl build has no semaphore engine (Makefile) */
	gs_sem_cache_own_pages_fork(lo, hi, advice, madv);
#endif
	stores_own_pages_fork(lo, hi, advice, madv);
	gs_table_own_pages_fork(lo, hi, advice, madv);
}

