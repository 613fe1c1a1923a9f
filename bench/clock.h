/* clock.h - what every benchmark program shares: a monotonic clock in
 * nanoseconds, the median of a set of samples, and dying loudly when a
 * call fails (a benchmark that ignores an error measures the error path). */
#ifndef GOSHM_BENCH_CLOCK_H
#define GOSHM_BENCH_CLOCK_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Sorts v in place; returns its median (the upper one for even n). */
static inline uint64_t median_u64(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_u64);
	return v[n / 2];
}

/* Reports a failed call with its errno and exits: results of a run in
 * which a call failed are not results. */
#define DIE(what)                                                            \
	do {                                                                 \
		fprintf(stderr, "%s: %s: %s (%s:%d)\n",                      \
		        program_invocation_short_name, what,                 \
		        strerrorname_np(errno), __FILE__, __LINE__);         \
		exit(1);                                                     \
	} while (0)

#define ROUND_NS 100000000ull /* a calibrated round lasts about 0.1 s */

/* Warms run up (caches, page tables, the store's registry) and returns
 * the iterations that make a round last about ROUND_NS. */
static inline long calibrate(void (*run)(void *, long), void *arg)
{
	long n = 1;
	for (;;) {
		uint64_t t0 = now_ns();
		run(arg, n);
		uint64_t dt = now_ns() - t0;
		if (dt >= ROUND_NS / 5 || n >= (1l << 30)) {
			long want = (long)((double)n * ROUND_NS / (dt ? dt : 1));
			return want > 0 ? want : 1;
		}
		n *= 2;
	}
}

/* Times run(arg, n) in rounds (at most 64) of iters iterations, or of a
 * calibrated number when iters is 0, after a warm-up, and prints
 * "op NAME MEDIAN_NS FASTEST_NS ITERS ROUNDS", nanoseconds per iteration. */
static inline void time_rounds(const char *name, void (*run)(void *, long), void *arg,
                               long iters, int rounds)
{
	long n = iters;
	if (n > 0)
		run(arg, 1); /* warm-up */
	else
		n = calibrate(run, arg);
	uint64_t per_op[64];
	for (int r = 0; r < rounds; r++) {
		uint64_t t0 = now_ns();
		run(arg, n);
		per_op[r] = (now_ns() - t0) / (uint64_t)n;
	}
	uint64_t med = median_u64(per_op, (size_t)rounds); /* sorts per_op */
	printf("op %s %llu %llu %ld %d\n", name, (unsigned long long)med,
	       (unsigned long long)per_op[0], n, rounds);
	fflush(stdout);
}

#endif /* GOSHM_BENCH_CLOCK_H */
