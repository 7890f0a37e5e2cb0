/* guest: lies to the pager: frees pages (UNUSED), forces them out, then reads them expecting its data */
#include "guest-runtime/beyond.h"
#include "guest-runtime/pager.h"

#define BUF (4ull << 20)

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	mem_init();
	uint64_t *buf = page_alloc(BUF);
	for (uint64_t i = 0; i < BUF / 8; i++)
		buf[i] = i | 1;
	/* Everything else the heap has, touched twice, so that the host must evict the lied-about pages. */
	uint64_t n = page_free_bytes() & ~((2ull << 20) - 1);
	uint8_t *other = page_alloc(n);
	page_free(buf, BUF); /* the lie: "unused", yet still read below */
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t off = 0; other && off < n; off += 4096)
			other[off] = 1;
	uint64_t kept = 0;
	for (uint64_t i = 0; i < BUF / 8; i++)
		kept += buf[i] == (i | 1);
	/* Stage 1 reports how many words kept their value; the monitor's test expects fewer than all. */
	beyond_sync(1, kept, BUF / 8, 0);
	return kept == BUF / 8 ? 0 : 7;
}
