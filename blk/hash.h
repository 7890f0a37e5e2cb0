/* Content hash of blocks (XXH3-128) and checksum of metadata (XXH3-64). */
#ifndef BEYOND_BLK_HASH_H
#define BEYOND_BLK_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "blk/index.h"

struct blk_hash blk_hash128(const void *p, size_t n);
/* For blk_hash128(): */
struct blk_hash blk_hash128_avx2(const void *p, size_t n);
struct blk_hash blk_hash128_avx512(const void *p, size_t n);
uint64_t blk_hash64(const void *p, size_t n, uint64_t seed);

static inline bool blk_hash_eq(const struct blk_hash *a, const struct blk_hash *b)
{
	return a->lo == b->lo && a->hi == b->hi;
}

/* Streaming XXH3-64 for checksumming files written piecewise. */
struct blk_hash_stream;
struct blk_hash_stream *blk_hash64_begin(uint64_t seed);
void blk_hash64_update(struct blk_hash_stream *st, const void *p, size_t n);
uint64_t blk_hash64_end(struct blk_hash_stream *st);	/* frees st */

#endif
