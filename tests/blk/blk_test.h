/* Helpers shared by the block store's unit tests. */
#ifndef BEYOND_TESTS_BLK_TEST_H
#define BEYOND_TESTS_BLK_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define BS 4096u

/* A block that says which (seed, lba) it is: seed and lba lead it. */
static inline void pattern(uint8_t *b, uint64_t seed, uint64_t lba)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + lba + 1;

	for (size_t i = 0; i < BS; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(b + i, &x, 8);
	}
	memcpy(b, &seed, 8);
	memcpy(b + 8, &lba, 8);
}

static inline bool has_pattern(const uint8_t *b, uint64_t seed, uint64_t lba)
{
	uint8_t want[BS];

	pattern(want, seed, lba);
	return !memcmp(b, want, BS);
}

#endif
