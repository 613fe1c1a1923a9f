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

#endif /* GOSHM_BENCH_CLOCK_H */
