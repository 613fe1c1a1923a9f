/* startup: how long a program takes to start and exit, with and without
 * libgoshm preloaded.  The library carries a dormant Go runtime that
 * initialises in every process it is loaded into; this measures what that
 * costs a short-lived program.
 *
 *   startup N LIB|- PROGRAM [ARG...]
 *
 * Runs PROGRAM N times (fork, execve, waitpid), with LD_PRELOAD=LIB in its
 * environment, or without LD_PRELOAD for "-".  Only the child's environment
 * changes: this program itself is never preloaded, so fork costs the same
 * in both modes.  Prints "startup MEDIAN_NS MIN_NS N". */
#include "clock.h"

#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The environment without LD_PRELOAD, plus LD_PRELOAD=lib unless lib is
 * NULL. */
static char **child_env(const char *lib)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 2, sizeof *env);
	if (!env)
		DIE("calloc");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
			env[k++] = environ[i];
	if (lib && asprintf(&env[k++], "LD_PRELOAD=%s", lib) < 0)
		DIE("asprintf");
	return env;
}

int main(int argc, char **argv)
{
	if (argc < 4 || atol(argv[1]) < 1) {
		fprintf(stderr, "usage: startup N LIB|- PROGRAM [ARG...]\n");
		return 64;
	}
	long n = atol(argv[1]);
	char **env = child_env(strcmp(argv[2], "-") == 0 ? NULL : argv[2]);
	uint64_t *samples = calloc((size_t)n, sizeof *samples);
	if (!samples)
		DIE("calloc");

	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		pid_t pid = fork();
		if (pid < 0)
			DIE("fork");
		if (pid == 0) {
			execve(argv[3], argv + 3, env);
			_exit(127);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid)
			DIE("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "startup: %s failed (status %#x)\n", argv[3], status);
			return 1;
		}
		samples[i] = now_ns() - t0;
	}
	uint64_t med = median_u64(samples, (size_t)n);
	printf("startup %llu %llu %ld\n", (unsigned long long)med,
	       (unsigned long long)samples[0], n);
	return 0;
}
