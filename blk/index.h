/*
 * Hash index of the block store: slot numbers in an open-addressing table
 * keyed by the hash the slot table holds for each slot (blk/meta.h), so an
 * entry costs 4 bytes / load factor instead of a full key.
 */
#ifndef BEYOND_BLK_INDEX_H
#define BEYOND_BLK_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct blk_hash {
	uint64_t lo, hi;
};

/* A slot word keeps bits 24-63 of its block's hash.lo there; the low bits
 * are the slot's flags and count (blk/meta.h). */
#define SLOT_HASH (~0ull << 24)

static inline uint64_t slot_hash_key(const struct blk_hash *h)
{
	return h->lo & SLOT_HASH;
}

struct blk_index {
	uint32_t *tab;		/* 0 = empty */
	size_t cap, count;
	const uint64_t *const *words;	/* &slot table, which may move */
};

int blk_index_init(struct blk_index *ix, const uint64_t *const *words);
void blk_index_free(struct blk_index *ix);
int blk_index_insert(struct blk_index *ix, uint32_t slot);
void blk_index_remove(struct blk_index *ix, uint32_t slot);

/* Iterates over the slots whose hash key is key (slot_hash_key(); different
 * blocks may share one): start with *pos = 0; returns 0 when there are no
 * more. */
uint32_t blk_index_next(const struct blk_index *ix, uint64_t key, size_t *pos);

/* Starts the cache misses of looking up n keys (two per key, one on the
 * table and one on the slot table per entry probed), so that lookups of a
 * batch overlap them instead of waiting for each in turn. Only a hint. */
void blk_index_prefetch(const struct blk_index *ix, const uint64_t *keys, size_t n);

static inline size_t blk_index_bytes(const struct blk_index *ix)
{
	return ix->cap * sizeof(uint32_t);
}

#endif
