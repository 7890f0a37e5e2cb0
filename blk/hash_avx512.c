/* XXH3-128 compiled for AVX-512, about a quarter faster than the AVX2
 * build on 4 KiB blocks in cache (58 vs 46 GB/s here): every read and
 * write of the store hashes its blocks. blk_hash128() picks it at run
 * time where the CPU and the OS support AVX-512F. */
#pragma GCC target("avx512f")
#define XXH_INLINE_ALL
#include <xxhash.h>
#include "blk/hash.h"

struct blk_hash blk_hash128_avx512(const void *p, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(p, n);

	return (struct blk_hash){ .lo = h.low64, .hi = h.high64 };
}
