/* guest: reads back two evicted 4 MiB halves of a buffer, the second after PREFETCH; syncs between phases */
#include "guest-runtime/beyond.h"
#include "guest-runtime/pager.h"

#define PAGE 4096ull
#define HALF (4ull << 20)

static uint64_t pattern(uint64_t i) { return i * 0x9e3779b97f4a7c15ull + 1; }

/* Touches every page of other, so that the host must evict the buffer. */
static void push_out(uint8_t *other, uint64_t n)
{
	for (uint64_t off = 0; off < n; off += PAGE)
		other[off]++;
}

static uint64_t absent(const uint8_t *p, uint64_t len)
{
	uint64_t n = 0;
	for (uint64_t off = 0; off < len; off += PAGE)
		n += !page_present(p + off);
	return n;
}

/* Reads words [first, first + HALF / 8): the pages absent when reached, and wrong words in *bad. */
static uint64_t read_half(uint64_t *w, uint64_t first, uint64_t *bad)
{
	uint64_t missing = 0;
	for (uint64_t i = first; i < first + HALF / 8; i++) {
		if (i % (PAGE / 8) == 0)
			missing += !page_present(&w[i]);
		*bad += w[i] != pattern(i);
	}
	return missing;
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (!mem_init())
		return 3;
	uint64_t *buf = page_alloc(2 * HALF), bad = 0;
	for (uint64_t i = 0; buf && i < 2 * HALF / 8; i++)
		buf[i] = pattern(i);
	uint64_t n = 32ull << 20; /* twice the test's limit */
	uint8_t *other = page_alloc(n);
	if (!buf || !other)
		return 4;
	push_out(other, n);
	beyond_sync(1, absent((uint8_t *)buf, 2 * HALF), 0, 0);
	uint64_t missing = read_half(buf, 0, &bad);
	beyond_sync(2, missing, bad, 0);
	push_out(other, n);
	uint8_t *second = (uint8_t *)buf + HALF;
	uint64_t before = absent(second, HALF), waits = 0;
	prefetch(second, HALF);
	/* The host reads it in while this vCPU sleeps (at most 10 s). */
	while (absent(second, HALF) && waits++ < 10000) {
		struct beyond_hc_wait w = { .timeout_ns = 1000000 };
		hypercall(BEYOND_HC_WAIT, &w);
	}
	beyond_sync(3, before, waits, 0);
	missing = read_half(buf, HALF / 8, &bad);
	beyond_sync(4, missing, bad, 0);
	return bad ? 1 : 0;
}
