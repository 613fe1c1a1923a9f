/*
 * rng.h - the fuzzers' generator (conf_fuzz.c, conf_sem_fuzz.c): a
 * xorshift64 seeded from the command line, so that a run is its seed.
 *
 *   rng_seed(arg)  seed from a number in any base strtoull reads
 *   rnd()          the next 64 bits
 *   pick(n)        a number below n
 *   PICK(array)    one of a fixed array's elements
 */
#ifndef CONF_RNG_H
#define CONF_RNG_H

#include <stdint.h>
#include <stdlib.h>

static uint64_t rng;

/* Mixed, and never 0: xorshift stays at 0 for ever. */
static __attribute__((unused)) void rng_seed(const char *arg)
{
	rng = strtoull(arg, NULL, 0) * 0x9e3779b97f4a7c15ull + 1;
}

static __attribute__((unused)) uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static __attribute__((unused)) int pick(int n) { return (int)(rnd() % (uint64_t)n); }

#define PICK(a) ((a)[pick((int)(sizeof(a) / sizeof((a)[0])))])

#endif
