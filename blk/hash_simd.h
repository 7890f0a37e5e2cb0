/* The body of blk_hash128() for one instruction set: a file includes it
 * after `#pragma GCC target(...)`, so that xxhash's inline code is
 * compiled for that target (the static binary itself targets x86-64). */
#ifndef BEYOND_BLK_HASH_SIMD_H
#define BEYOND_BLK_HASH_SIMD_H

#define XXH_INLINE_ALL
#include <xxhash.h>
#include "blk/hash.h"

static inline struct blk_hash hash128_simd(const void *p, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(p, n);

	return (struct blk_hash){ .lo = h.low64, .hi = h.high64 };
}

#endif
