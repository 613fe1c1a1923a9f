/*
 * crash_page.h - what the power-cut test (tests/crash) writes into a
 * segment, so that every 8-byte word of a page found after a cut says
 * which segment, which creation of it, which page and which version it
 * belongs to, and a word of anything else -- another segment, another
 * creation of the same key, another page, a torn or garbled word -- does
 * not decode.
 *
 * Word w of page p of creation INC of key KEY, at version V (1..65535):
 *
 *     INC << 48 | V << 32 | crash_hash(NONCE, KEY, INC, p, w, V)
 *
 * NONCE is the test run's.  Version 0 is a word never written: 0, as a new
 * segment reads.  A page is written word by word with aligned 8-byte
 * stores, so the kernel writing it back in the middle of a write can only
 * leave words of the two versions, each whole: a page of mixed versions is
 * what a cut during a write leaves, and the test checks every word's
 * version against what was flushed.
 */
#ifndef CRASH_PAGE_H
#define CRASH_PAGE_H

#include <stdint.h>

#define CRASH_PAGE 4096u
#define CRASH_WORDS (CRASH_PAGE / 8u)
#define CRASH_MAX 65535u /* highest creation number and version */

static inline uint64_t crash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint32_t crash_hash(uint64_t nonce, int32_t key, uint32_t inc, uint32_t page,
                                  uint32_t word, uint32_t version)
{
	uint64_t h = crash_mix(nonce ^ ((uint64_t)(uint32_t)key << 32 | inc));
	h = crash_mix(h ^ ((uint64_t)page << 32 | (uint64_t)word << 16 | version));
	return (uint32_t)h;
}

static inline uint64_t crash_word(uint64_t nonce, int32_t key, uint32_t inc, uint32_t page,
                                  uint32_t word, uint32_t version)
{
	if (version == 0)
		return 0;
	return (uint64_t)inc << 48 | (uint64_t)version << 32 |
	       crash_hash(nonce, key, inc, page, word, version);
}

/* The creation and version word w of page p of key says it is, or -1 for
 * a word that is not one of key's words at that place. */
static inline int crash_decode(uint64_t nonce, int32_t key, uint32_t page, uint32_t word,
                               uint64_t w, uint32_t *inc, uint32_t *version)
{
	*inc = (uint32_t)(w >> 48);
	*version = (uint32_t)(w >> 32) & 0xffff;
	if (w == 0)
		return 0;
	if (*inc == 0 || *version == 0)
		return -1;
	return w == crash_word(nonce, key, *inc, page, word, *version) ? 0 : -1;
}

#endif
