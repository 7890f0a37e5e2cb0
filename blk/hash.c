/* xxhash is used header-only so that the static musl build needs no library. */
#include "blk/hash_simd.h"

struct blk_hash blk_hash128(const void *p, size_t n)
{
	static int simd = -1;	/* same answer from every thread: no lock */

	if (simd < 0) {
		__builtin_cpu_init();
		simd = __builtin_cpu_supports("avx512f") ? 512 : __builtin_cpu_supports("avx2") ? 256 : 0;
	}
	if (simd == 512)
		return blk_hash128_avx512(p, n);
	if (simd)
		return blk_hash128_avx2(p, n);
	return hash128_simd(p, n);	/* SSE2, x86-64's baseline */
}

uint64_t blk_hash64(const void *p, size_t n, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

struct blk_hash_stream *blk_hash64_begin(uint64_t seed)
{
	XXH3_state_t *st = XXH3_createState();

	if (st)
		XXH3_64bits_reset_withSeed(st, seed);
	return (struct blk_hash_stream *)st;
}

void blk_hash64_update(struct blk_hash_stream *st, const void *p, size_t n)
{
	XXH3_64bits_update((XXH3_state_t *)st, p, n);
}

uint64_t blk_hash64_end(struct blk_hash_stream *st)
{
	uint64_t h = XXH3_64bits_digest((XXH3_state_t *)st);

	XXH3_freeState((XXH3_state_t *)st);
	return h;
}
