/*
 * deepbind_host - loads plugins/libgsdeep.so the way PHP loads its
 * extensions (dlopen with RTLD_DEEPBIND) and has it write or read a
 * segment: under goshm the segment must be in the store (issue 16).
 *
 *     deepbind_host HOW KEY [TEXT]
 *
 * HOW names how the plugin is found and bound:
 *   bare    dlopen("libgsdeep.so"): the host's RUNPATH ($ORIGIN/plugins)
 *   origin  dlopen("$ORIGIN/plugins/libgsdeep.so")
 *   path    dlopen of the absolute path
 *   lazy    the absolute path, RTLD_LAZY: the plugin's PLT not yet bound
 *   plain   "bare" without RTLD_DEEPBIND (goshm's dlopen passes it on)
 *   newns   dlmopen(LM_ID_NEWLM) of the absolute path
 * With TEXT it creates the segment and writes TEXT; without, it reads.
 * A KEY that starts with "/" is a POSIX object's name instead (shm_open).
 * A KEY also names a semaphore set of one, made with TEXT's length as its
 * value, or read.
 * Prints "whoami=<plugin|host> id=<id> text=<text> sem=<value>": whoami is which
 * plugin_whoami the plugin's own call reached, "plugin" with RTLD_DEEPBIND
 * (and in a new namespace), "host" without.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *plugin_whoami(void) { return "host"; }

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: deepbind_host bare|origin|path|lazy|plain|newns KEY [TEXT]\n");
		return 2;
	}
	const char *how = argv[1];
	char path[PATH_MAX + 32], exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return 2;
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(path, sizeof path, "%s/plugins/libgsdeep.so", exe);

	int flags = RTLD_NOW | RTLD_DEEPBIND;
	void *h;
	if (!strcmp(how, "bare"))
		h = dlopen("libgsdeep.so", flags);
	else if (!strcmp(how, "origin"))
		h = dlopen("$ORIGIN/plugins/libgsdeep.so", flags);
	else if (!strcmp(how, "path"))
		h = dlopen(path, flags);
	else if (!strcmp(how, "lazy"))
		h = dlopen(path, RTLD_LAZY | RTLD_DEEPBIND);
	else if (!strcmp(how, "plain"))
		h = dlopen("libgsdeep.so", RTLD_NOW);
	else if (!strcmp(how, "newns"))
		h = dlmopen(LM_ID_NEWLM, path, RTLD_NOW);
	else
		return 2;
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	const char *(*whoami)(void) = (const char *(*)(void))dlsym(h, "plugin_scope");
	int (*run)(int, const char *, char *, size_t) =
		(int (*)(int, const char *, char *, size_t))dlsym(h, "plugin_run");
	if (!whoami || !run) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return 1;
	}
	char text[4096];
	if (argv[2][0] == '/') {
		int (*posix)(const char *, const char *, char *, size_t) =
			(int (*)(const char *, const char *, char *, size_t))dlsym(h, "plugin_posix");
		if (!posix || posix(argv[2], argc > 3 ? argv[3] : NULL, text, sizeof text) < 0) {
			perror("plugin_posix");
			return 1;
		}
		printf("whoami=%s name=%s text=%s\n", whoami(), argv[2], text);
		return 0;
	}
	int key = (int)strtol(argv[2], NULL, 0);
	int id = run(key, argc > 3 ? argv[3] : NULL, text, sizeof text);
	if (id < 0) {
		perror("plugin_run");
		return 1;
	}
	int (*sem)(int, int, int) = (int (*)(int, int, int))dlsym(h, "plugin_sem");
	int val = sem ? sem(key, argc > 3, argc > 3 ? (int)strlen(argv[3]) : 0) : -1;
	if (val < 0) {
		perror("plugin_sem");
		return 1;
	}
	printf("whoami=%s id=%d text=%s sem=%d\n", whoami(), id, text, val);
	return 0;
}
