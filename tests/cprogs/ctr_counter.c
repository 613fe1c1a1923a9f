#define _GNU_SOURCE
/* ctr_counter: a legacy server that keeps a counter in System V shared
 * memory; the container tests' write loop and examples/docker's server.
 *
 *   ctr_counter [-k KEY] [-i MICROSECONDS] [-o FILE] [-T]
 *
 * It creates or finds the 4096-byte segment KEY (default 0x600d) and
 * reports "start A B": the two copies of the counter it found there.  Then
 * it counts for ever, every -i microseconds (default 100000): it stores n
 * in copy a, then in copy b, and only then reports "wrote n".  A kill
 * between the two stores leaves a == b + 1; any other pair than a == b or
 * a == b + 1 means that a write was torn or lost.
 *
 * Reports go to stdout, or with -o to FILE, appended with one write(2) per
 * line: a reported line is in the file system's hands before the next
 * store, whatever kills the process then.  -T ignores SIGTERM, like a
 * server stuck in a loop, so that `docker stop` has to kill it; without
 * it SIGTERM ends the program (as a container's PID 1 it would otherwise
 * be ignored).  Exit 2 when shmget or shmat fail (errno name printed). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

struct counter {
	uint64_t a, b;
};

static int out = 1;

/* One write(2) per line: never half a line in the file, never a line left
 * in a stdio buffer when the process is killed. */
__attribute__((format(printf, 1, 2))) static void report(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (write(out, line, (size_t)n) != n)
		_exit(3);
}

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	key_t key = 0x600d;
	useconds_t interval = 100000;
	int opt, ignore_term = 0;

	while ((opt = getopt(argc, argv, "k:i:o:T")) != -1) {
		switch (opt) {
		case 'k':
			key = (key_t)strtol(optarg, NULL, 0);
			break;
		case 'i':
			interval = (useconds_t)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			out = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (out < 0) {
				perror(optarg);
				return 1;
			}
			break;
		case 'T':
			ignore_term = 1;
			break;
		default:
			fprintf(stderr, "usage: ctr_counter [-k KEY] [-i MICROSECONDS] [-o FILE] [-T]\n");
			return 64;
		}
	}
	signal(SIGTERM, ignore_term ? SIG_IGN : on_term);
	signal(SIGINT, on_term);

	int id = shmget(key, 4096, IPC_CREAT | 0666);
	if (id < 0) {
		printf("shmget: %s\n", strerrorname_np(errno));
		return 2;
	}
	struct counter *c = shmat(id, NULL, 0);
	if (c == (void *)-1) {
		printf("shmat: %s\n", strerrorname_np(errno));
		return 2;
	}
	uint64_t a = __atomic_load_n(&c->a, __ATOMIC_SEQ_CST);
	uint64_t b = __atomic_load_n(&c->b, __ATOMIC_SEQ_CST);
	report("start %llu %llu\n", (unsigned long long)a, (unsigned long long)b);
	for (uint64_t n = a + 1;; n++) {
		/* Ordered stores: the pair tells a torn write from a lost one. */
		__atomic_store_n(&c->a, n, __ATOMIC_SEQ_CST);
		__atomic_store_n(&c->b, n, __ATOMIC_SEQ_CST);
		report("wrote %llu\n", (unsigned long long)n);
		if (interval)
			usleep(interval);
	}
}
