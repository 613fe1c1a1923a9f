/*
 * soak_layout.h - what the soak test's segments hold, shared by
 * soak_worker.c and soak_check.c.
 *
 * A segment is a header and an array of records.  A writer reserves a slot
 * with an atomic increment of `next`, fills the record and sets `done`
 * last (release), so a record with done == 1 is complete; a writer killed
 * half-way leaves done == 0.
 */
#ifndef SOAK_LAYOUT_H
#define SOAK_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SOAK_KEYS 8
#define SOAK_CHURN_KEYS 6            /* keys whose segments get removed */
#define SOAK_KEY0 0x50a40000
#define SOAK_SEGSZ (1024 * 1024 + 100) /* not a whole number of pages */

struct soak_hdr {
	uint32_t next;
	uint32_t reserved[3];
};

struct soak_rec {
	int32_t pid;
	uint32_t seq;
	uint32_t check;
	uint32_t done;
};

#define SOAK_CAP ((SOAK_SEGSZ - sizeof(struct soak_hdr)) / sizeof(struct soak_rec))

static inline struct soak_rec *soak_recs(void *seg)
{
	return (struct soak_rec *)((char *)seg + sizeof(struct soak_hdr));
}

/* What a complete record's check field must be. */
static inline uint32_t soak_check(int32_t pid, uint32_t seq)
{
	uint32_t h = (uint32_t)pid * 2654435761u ^ seq * 40503u;
	return h ^ (h >> 15) ^ 0x5a5a5a5au;
}

#endif
