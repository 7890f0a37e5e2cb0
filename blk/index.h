/*
 * Hash index of the block store: an open-addressing table of 32-bit slot
 * numbers. The hashes themselves live in the store's slot table, so an
 * entry costs 4 bytes / load factor instead of a full key.
 */
#ifndef BEYOND_BLK_INDEX_H
#define BEYOND_BLK_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct blk_hash {
	uint64_t lo, hi;
};

struct blk_index {
	uint32_t *tab;		/* 0 = empty */
	size_t mask;		/* capacity - 1, capacity a power of two */
	size_t count;
	const struct blk_hash *const *hashes;	/* &slot table, which may move */
};

int blk_index_init(struct blk_index *ix, const struct blk_hash *const *hashes);
void blk_index_free(struct blk_index *ix);
int blk_index_insert(struct blk_index *ix, uint32_t slot);
void blk_index_remove(struct blk_index *ix, uint32_t slot);

/* Iterates over the slots whose hash is *h (collisions give several):
 * start with *pos = 0; returns 0 when there are no more. */
uint32_t blk_index_next(const struct blk_index *ix, const struct blk_hash *h, size_t *pos);

static inline size_t blk_index_bytes(const struct blk_index *ix)
{
	return (ix->mask + 1) * sizeof(uint32_t);
}

#endif
