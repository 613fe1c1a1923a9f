/* startup: how long a program takes to start and exit, without libgoshm
 * and with each build of it preloaded.  Every process a library is
 * preloaded into loads it, even one that never calls System V; this
 * measures what that costs a short-lived program.
 *
 *   startup N MODES PROGRAM [ARG...]
 *
 * MODES is a comma-separated list; each mode is "-" (no LD_PRELOAD) or a
 * library to preload.  PROGRAM runs N times in every mode (fork, execve,
 * waitpid), the modes taking turns run by run, so that the machine's
 * background load falls on all of them.  Only the child's environment
 * changes: this program itself is never preloaded, so fork costs the same
 * in every mode.  Prints one line per mode, in the order given:
 * "startup MODE MEDIAN_NS MIN_NS N". */
#include "clock.h"

#include <sys/wait.h>
#include <unistd.h>

#define MAX_MODES 8

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

/* One run of argv with env: fork to exit, in nanoseconds. */
static uint64_t run_once(char **argv, char **env)
{
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		DIE("fork");
	if (pid == 0) {
		execve(argv[0], argv, env);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		DIE("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "startup: %s failed (status %#x)\n", argv[0], status);
		exit(1);
	}
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	if (argc < 4 || atol(argv[1]) < 1) {
		fprintf(stderr, "usage: startup N MODES PROGRAM [ARG...]\n");
		return 64;
	}
	long n = atol(argv[1]);
	char *modes[MAX_MODES], *save = NULL;
	int nmodes = 0;
	for (char *m = strtok_r(argv[2], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		if (nmodes == MAX_MODES) {
			fprintf(stderr, "startup: at most %d modes\n", MAX_MODES);
			return 64;
		}
		modes[nmodes++] = m;
	}
	if (nmodes == 0) {
		fprintf(stderr, "startup: no mode\n");
		return 64;
	}

	char **envs[MAX_MODES];
	uint64_t *samples[MAX_MODES];
	for (int m = 0; m < nmodes; m++) {
		envs[m] = child_env(strcmp(modes[m], "-") == 0 ? NULL : modes[m]);
		samples[m] = calloc((size_t)n, sizeof *samples[m]);
		if (!samples[m])
			DIE("calloc");
	}
	for (long i = 0; i < n; i++)
		for (int m = 0; m < nmodes; m++)
			samples[m][i] = run_once(argv + 3, envs[m]);
	for (int m = 0; m < nmodes; m++) {
		uint64_t min = samples[m][0];
		for (long i = 1; i < n; i++)
			min = samples[m][i] < min ? samples[m][i] : min;
		uint64_t med = median_u64(samples[m], (size_t)n);
		printf("startup %s %llu %llu %ld\n", modes[m], (unsigned long long)med,
		       (unsigned long long)min, n);
	}
	return 0;
}
