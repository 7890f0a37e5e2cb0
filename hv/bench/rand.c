/* Pseudo-random numbers for interleaving configurations and for test data: fixed seeds, repeatable runs. */
#include <string.h>
#include "hv/bench/bench.h"

uint64_t bench_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	return *state = x;
}

void bench_shuffle(uint32_t *v, size_t n, uint64_t *state)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = bench_rand(state) % i;
		uint32_t t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

void bench_fill(void *buf, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
	uint8_t *p = buf;
	for (size_t i = 0; i < n; i += 8) {
		bench_rand(&x);
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}
