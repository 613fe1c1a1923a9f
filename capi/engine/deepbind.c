/*
 * deepbind.c - calls from modules loaded with RTLD_DEEPBIND reach goshm.
 *
 * A module that dlopen loads with RTLD_DEEPBIND (PHP loads every extension
 * so) looks its symbols up in its own dependencies before the global
 * scope: its shmget binds to libc.so.6, and a preloaded libgoshm never
 * sees the call.  The library interposes dlopen and dlmopen; after such a
 * load has returned it rewrites, in the objects the load added, the GOT slots
 * (JUMP_SLOT and GLOB_DAT relocations) of shmget, shmat, shmdt, shmctl,
 * shm_open, shm_unlink, semget, semop, semtimedop and semctl, and of the
 * calls creds.c watches (set*id(), unshare, setns, clone, syscall), that
 * the C library answered, to what the global scope answers for the same
 * name: goshm's entry points (PHP's sysvsem extension calls the semaphore
 * ones, its posix extension seteuid).  Those names resolve as if the
 * module had been loaded without RTLD_DEEPBIND; every other symbol keeps
 * the isolation the program asked for, and a module that defines one of
 * them itself keeps its own.
 *
 * glibc's dlopen takes the caller's return address to pick the calling
 * object: its namespace, its RPATH/RUNPATH for a name without a slash,
 * its directory for $ORIGIN.  A wrapper that called dlopen would make
 * libgoshm the caller.  So an ordinary load is a tail call (the caller
 * glibc sees is the program's), and only a RTLD_DEEPBIND load, which
 * must come back here, resolves the name as the calling object would:
 * its namespace (dlmopen), $ORIGIN as its directory, a bare name along
 * its search path (dlinfo RTLD_DI_SERINFO), then the cache.  Nothing runs
 * when no module is loaded; an ordinary dlopen costs one jump.
 *
 * glibc only: musl has no RTLD_DEEPBIND.  A Go program that imports
 * package goshm gets this dlopen too, for the C code linked into it; the
 * executable's own calls then behave as the library's do.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h> /* any libc header: __GLIBC__ */

#if defined(__GLIBC__)

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GS_EXPORT __attribute__((visibility("default")))
/* config.c (this file stands apart from engine.h). */
__attribute__((visibility("hidden"))) void *gs_next_symbol(void **cache, const char *name);

#if defined(__x86_64__)
#define GS_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define GS_R_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define GS_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define GS_R_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

typedef void *(*dlopen_fn)(const char *, int);
typedef void *(*dlmopen_fn)(Lmid_t, const char *, int);

/* With shm_open and shm_unlink, so that GOSHM_POSIX reaches such modules
 * too (posix.c); and the calls that change a thread's ids or what is
 * mapped where and what a mapping is, so that the engine sees them
 * (creds.c, mapwatch.c, attrwatch.c): PHP's
 * posix_seteuid() is such a module's. */
static const char *const rebound_names[] = {
	"shmget", "shmat", "shmdt", "shmctl", "shm_open", "shm_unlink",
	"semget", "semop", "semtimedop", "semctl",
	"setuid", "seteuid", "setreuid", "setresuid", "setgid", "setegid", "setregid", "setresgid",
	"unshare", "setns", "clone", "syscall",
	"mmap", "mmap64", "munmap", "mremap", "remap_file_pages",
	"mprotect", "pkey_mprotect", "madvise", "posix_madvise",
	"mlock", "mlock2", "munlock", "mlockall", "munlockall"};
#define GS_NREBOUND (sizeof rebound_names / sizeof rebound_names[0])

/* The C library's dlopen and dlmopen, found once (a race finds the same
 * pointer twice). */
static dlopen_fn next_dlopen(void)
{
	static void *f;
	return (dlopen_fn)gs_next_symbol(&f, "dlopen");
}

static dlmopen_fn next_dlmopen(void)
{
	static void *f;
	return (dlmopen_fn)gs_next_symbol(&f, "dlmopen");
}

#ifdef GS_R_JUMP_SLOT

/* One loaded object, as dl_iterate_phdr shows it. */
struct obj {
	ElfW(Addr) base;
	const ElfW(Phdr) *phdr;
	ElfW(Half) phnum;
	int is_libc;
};

struct objs {
	struct obj *v;
	size_t n, cap;
	unsigned long long adds, subs; /* the loader's counters at the walk */
};

static int libc_name(const char *name)
{
	const char *slash = name ? strrchr(name, '/') : NULL;
	const char *base = slash ? slash + 1 : name ? name : "";
	return strncmp(base, "libc.so", 7) == 0;
}

/* dl_iterate_phdr holds the loader's list lock: only copy there, and look
 * things up (dlsym) after it has returned. */
static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct objs *o = arg;
	o->adds = info->dlpi_adds;
	o->subs = info->dlpi_subs;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct obj *v = realloc(o->v, cap * sizeof *v);
		if (!v)
			return 1;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = (struct obj){ info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum,
		                         libc_name(info->dlpi_name) };
	return 0;
}

static int in_segment(const struct obj *ob, ElfW(Word) type, uintptr_t a)
{
	for (ElfW(Half) i = 0; i < ob->phnum; i++) {
		const ElfW(Phdr) *p = &ob->phdr[i];
		if (p->p_type == type && a >= ob->base + p->p_vaddr &&
		    a < ob->base + p->p_vaddr + p->p_memsz)
			return 1;
	}
	return 0;
}

static int in_libc(const struct objs *o, uintptr_t a)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].is_libc && in_segment(&o->v[i], PT_LOAD, a))
			return 1;
	return 0;
}

/* glibc stores the dynamic section's addresses relocated, musl and the
 * vDSO as offsets. */
static uintptr_t dyn_ptr(const struct obj *ob, ElfW(Addr) p)
{
	return p < ob->base ? ob->base + p : p;
}

/* Writes a GOT slot.  One under RELRO (or, oddly, in a segment without
 * write access) is read-only by now: write it
 * through /proc/self/mem, which the kernel lets a process do to its own
 * read-only private pages without changing their protection (so no race
 * with a loader protecting pages in another thread), else by mprotect. */
/* The protection of the page at a as the loader left it: its segment's,
 * read-only under RELRO; -1 outside every segment. */
static int page_prot(const struct obj *ob, uintptr_t a)
{
	for (ElfW(Half) i = 0; i < ob->phnum; i++) {
		const ElfW(Phdr) *p = &ob->phdr[i];
		if (p->p_type != PT_LOAD || a < ob->base + p->p_vaddr ||
		    a >= ob->base + p->p_vaddr + p->p_memsz)
			continue;
		int prot = (p->p_flags & PF_R ? PROT_READ : 0) | (p->p_flags & PF_X ? PROT_EXEC : 0);
		if ((p->p_flags & PF_W) && !in_segment(ob, PT_GNU_RELRO, a))
			prot |= PROT_WRITE;
		return prot;
	}
	return -1;
}

static void write_slot(const struct obj *ob, uintptr_t slot, uintptr_t to, int *memfd)
{
	int prot = page_prot(ob, slot);
	if (prot < 0)
		return;
	if (prot & PROT_WRITE) {
		__atomic_store_n((uintptr_t *)slot, to, __ATOMIC_RELAXED);
		return;
	}
	if (*memfd == -2)
		*memfd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (*memfd >= 0 && pwrite(*memfd, &to, sizeof to, (off_t)slot) == (ssize_t)sizeof to)
		return;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	void *start = (void *)(slot & ~(page - 1));
	if (mprotect(start, page, prot | PROT_WRITE) == 0) {
		__atomic_store_n((uintptr_t *)slot, to, __ATOMIC_RELAXED);
		mprotect(start, page, prot);
	}
}

/* The object's JUMP_SLOT and GLOB_DAT relocations of the rebound names
 * that it imports and that landed in the C library (or, lazily bound, still
 * point at its own PLT): point them at the global scope's. */
static void rebind_object(const struct objs *o, const struct obj *ob, void *const to[],
                          int *memfd)
{
	const ElfW(Dyn) *dyn = NULL;
	for (ElfW(Half) i = 0; i < ob->phnum; i++)
		if (ob->phdr[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(ob->base + ob->phdr[i].p_vaddr);
	if (!dyn)
		return;
	uintptr_t symtab = 0, strtab = 0, jmprel = 0, rela = 0;
	size_t pltrelsz = 0, relasz = 0, relacount = 0;
	long pltrel = 0;
	for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB: symtab = dyn_ptr(ob, d->d_un.d_ptr); break;
		case DT_STRTAB: strtab = dyn_ptr(ob, d->d_un.d_ptr); break;
		case DT_JMPREL: jmprel = dyn_ptr(ob, d->d_un.d_ptr); break;
		case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
		case DT_PLTREL: pltrel = (long)d->d_un.d_val; break;
		case DT_RELA: rela = dyn_ptr(ob, d->d_un.d_ptr); break;
		case DT_RELASZ: relasz = d->d_un.d_val; break;
		case DT_RELACOUNT: relacount = d->d_un.d_val; break;
		}
	}
	if (!symtab || !strtab)
		return;
	/* The relative relocations come first in DT_RELA (DT_RELACOUNT of
	 * them: most of a large program's), and name no symbol. */
	struct {
		uintptr_t at;
		size_t size, skip;
	} tables[2] = { { pltrel == DT_RELA ? jmprel : 0, pltrelsz, 0 }, { rela, relasz, relacount } };
	for (int t = 0; t < 2; t++) {
		const ElfW(Rela) *r = (const ElfW(Rela) *)tables[t].at;
		size_t n = r ? tables[t].size / sizeof *r : 0;
		for (size_t i = tables[t].skip; i < n; i++) {
			unsigned long type = ELF64_R_TYPE(r[i].r_info);
			if (type != GS_R_JUMP_SLOT && type != GS_R_GLOB_DAT)
				continue;
			const ElfW(Sym) *sym = (const ElfW(Sym) *)symtab + ELF64_R_SYM(r[i].r_info);
			if (sym->st_shndx != SHN_UNDEF)
				continue; /* its own definition: its business */
			const char *name = (const char *)strtab + sym->st_name;
			if (!name[0] || !strchr("sucmr", name[0]))
				continue; /* no rebound name: most go no further */
			for (size_t k = 0; k < GS_NREBOUND; k++) {
				if (!to[k] || strcmp(name, rebound_names[k]) != 0)
					continue;
				uintptr_t slot = ob->base + r[i].r_offset;
				uintptr_t now = *(const uintptr_t *)slot;
				if (now != (uintptr_t)to[k] &&
				    (in_libc(o, now) || in_segment(ob, PT_LOAD, now)))
					write_slot(ob, slot, (uintptr_t)to[k], memfd);
			}
		}
	}
}

/* The objects of another namespace, which dl_iterate_phdr (it walks its
 * caller's) does not show: the handle's link map, each object's program
 * headers found from its ELF header. */
static void collect_ns(void *handle, struct objs *o)
{
	struct link_map *lm = NULL;
	if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
		return;
	while (lm->l_prev)
		lm = lm->l_prev;
	for (; lm; lm = lm->l_next) {
		Dl_info di;
		if (!lm->l_ld || !dladdr(lm->l_ld, &di) || !di.dli_fbase)
			continue;
		const ElfW(Ehdr) *eh = di.dli_fbase;
		if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
			continue;
		struct dl_phdr_info info = { .dlpi_addr = lm->l_addr, .dlpi_name = lm->l_name,
			                         .dlpi_phdr = (const ElfW(Phdr) *)((const char *)eh +
			                                                          eh->e_phoff),
			                         .dlpi_phnum = eh->e_phnum };
		if (collect(&info, sizeof info, o))
			return;
	}
}

/* The loader's counts of objects loaded and unloaded so far. */
static int counters(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct objs *o = arg;
	o->adds = info->dlpi_adds;
	o->subs = info->dlpi_subs;
	return 1;
}

static void loader_counts(struct objs *o)
{
	dl_iterate_phdr(counters, o);
}

/* After a RTLD_DEEPBIND load (or one into another namespace): the slots
 * for the rebound names that went to the C library, in the objects the load
 * added -- the module and the dependencies loaded with it, which the
 * loader appends to the namespace's list: the last (adds now - adds
 * before) objects, or every object when something was unloaded meanwhile
 * -- or, in another namespace, in every object of it.  Rewriting is
 * idempotent. */
static void rebind_all(void *handle, const struct objs *before)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* one walk at a time */
	void *to[GS_NREBOUND];
	int any = 0;
	for (size_t k = 0; k < GS_NREBOUND; k++) {
		Dl_info di;
		to[k] = dlsym(RTLD_DEFAULT, rebound_names[k]);
		if (to[k] && dladdr(to[k], &di) && libc_name(di.dli_fname))
			to[k] = NULL; /* the global scope has no interposer for it */
		any |= to[k] != NULL;
	}
	if (!any)
		return;
	int saved = errno;
	Lmid_t ns = LM_ID_BASE;
	dlinfo(handle, RTLD_DI_LMID, &ns);
	pthread_mutex_lock(&lock);
	struct objs o = { 0 };
	if (ns == LM_ID_BASE)
		dl_iterate_phdr(collect, &o);
	else
		collect_ns(handle, &o);
	size_t first = 0;
	if (ns == LM_ID_BASE && o.subs == before->subs && o.adds - before->adds < o.n)
		first = o.n - (size_t)(o.adds - before->adds);
	Dl_info self;
	int memfd = -2;
	int have_self = dladdr((void *)rebind_all, &self) != 0;
	for (size_t i = first; i < o.n; i++) {
		if (have_self && o.v[i].base == (ElfW(Addr))self.dli_fbase)
			continue; /* goshm itself */
		rebind_object(&o, &o.v[i], to, &memfd);
	}
	if (memfd >= 0)
		close(memfd);
	free(o.v);
	pthread_mutex_unlock(&lock);
	errno = saved;
}

#else
struct objs {
	int unused;
};
static void loader_counts(struct objs *o)
{
	(void)o;
}
static void rebind_all(void *handle, const struct objs *before)
{
	(void)handle;
	(void)before;
}
#endif /* GS_R_JUMP_SLOT */

/* The calling object's namespace, and file resolved as glibc would from
 * it: "$ORIGIN" is its directory, a bare name is looked for along its
 * search path.  Returns file itself when nothing needs resolving; *buf
 * holds what it allocated. */
static const char *resolve_as(const void *caller, const char *file, Lmid_t *ns, char **buf)
{
	Dl_info di;
	struct link_map *lm = NULL;
	*ns = LM_ID_BASE;
	*buf = NULL;
	if (!dladdr1(caller, &di, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return file;
	Lmid_t id;
	if (dlinfo(lm, RTLD_DI_LMID, &id) == 0)
		*ns = id;
	if (!file)
		return file;

	if (strncmp(file, "$ORIGIN/", 8) == 0 || strncmp(file, "${ORIGIN}/", 10) == 0) {
		char origin[4096];
		const char *obj = lm->l_name && *lm->l_name ? lm->l_name : NULL;
		ssize_t n;
		if (obj) {
			if (!realpath(obj, origin))
				return file;
			n = (ssize_t)strlen(origin);
		} else {
			n = readlink("/proc/self/exe", origin, sizeof origin - 1);
			if (n <= 0)
				return file;
			origin[n] = 0;
		}
		char *slash = strrchr(origin, '/');
		if (!slash)
			return file;
		*slash = 0;
		const char *rest = strchr(file, '/');
		size_t len = strlen(origin) + strlen(rest) + 1;
		if (!(*buf = malloc(len)))
			return file;
		memcpy(*buf, origin, strlen(origin));
		memcpy(*buf + strlen(origin), rest, strlen(rest) + 1);
		return *buf;
	}
	if (strchr(file, '/'))
		return file;

	/* A bare name: one already loaded (by name or soname) is found
	 * without a search; else the caller's RPATH, LD_LIBRARY_PATH and
	 * RUNPATH, as dlinfo lists them for it.  Not found there: the name
	 * as it is, for the cache and the default directories. */
	void *h = *ns == LM_ID_BASE ? next_dlopen()(file, RTLD_NOLOAD | RTLD_LAZY)
	                            : next_dlmopen()(*ns, file, RTLD_NOLOAD | RTLD_LAZY);
	if (h) {
		dlclose(h);
		return file;
	}
	Dl_serinfo size;
	if (dlinfo(lm, RTLD_DI_SERINFOSIZE, &size) != 0)
		return file;
	Dl_serinfo *si = malloc(size.dls_size);
	if (!si)
		return file;
	memcpy(si, &size, sizeof size);
	if (dlinfo(lm, RTLD_DI_SERINFO, si) == 0) {
		for (unsigned i = 0; i < si->dls_cnt; i++) {
			const char *dir = si->dls_serpath[i].dls_name;
			size_t len = strlen(dir) + strlen(file) + 2;
			char *path = malloc(len);
			if (!path)
				break;
			memcpy(path, dir, strlen(dir));
			path[strlen(dir)] = '/';
			memcpy(path + strlen(dir) + 1, file, strlen(file) + 1);
			if (access(path, F_OK) == 0) {
				*buf = path;
				break;
			}
			free(path);
		}
	}
	free(si);
	return *buf ? *buf : file;
}

static __attribute__((noinline)) void *deep_open(const void *caller, int explicit_ns, Lmid_t ns,
                                                 const char *file, int mode)
{
	char *buf;
	Lmid_t caller_ns;
	const char *path = resolve_as(caller, file, &caller_ns, &buf);
	if (!explicit_ns)
		ns = caller_ns;
	struct objs before = { 0 };
	loader_counts(&before);
	void *h = ns == LM_ID_BASE ? next_dlopen()(path, mode) : next_dlmopen()(ns, path, mode);
	if (!h && buf) /* not loadable where we found it: let the loader search */
		h = ns == LM_ID_BASE ? next_dlopen()(file, mode) : next_dlmopen()(ns, file, mode);
	free(buf);
	if (h)
		rebind_all(h, &before);
	return h;
}

/* The plain path must stay a tail call even in a -O0 build (CMake's
 * Debug): glibc would see libgoshm as the caller otherwise. */
#if defined(__clang__)
#define GS_TAIL_FN
#define GS_TAIL __attribute__((musttail))
#else
#define GS_TAIL_FN __attribute__((optimize("O2")))
#define GS_TAIL
#endif

GS_EXPORT GS_TAIL_FN void *dlopen(const char *file, int mode)
{
	if (mode & RTLD_DEEPBIND)
		return deep_open(__builtin_return_address(0), 0, LM_ID_BASE, file, mode);
	GS_TAIL return next_dlopen()(file, mode); /* glibc sees the caller */
}

GS_EXPORT GS_TAIL_FN void *dlmopen(Lmid_t ns, const char *file, int mode)
{
	/* A new namespace has its own C library, which a preloaded library
	 * does not reach either. */
	if ((mode & RTLD_DEEPBIND) || ns != LM_ID_BASE)
		return deep_open(__builtin_return_address(0), 1, ns, file, mode);
	GS_TAIL return next_dlmopen()(ns, file, mode);
}

#endif /* __GLIBC__ */
