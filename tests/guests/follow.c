/* guest: keeps 16 MiB of data, frees 32 MiB it touched, follows the balloon target (beyond balloon) until given all back */
#include "guest-runtime/beyond.h"
#include "guest-runtime/pager.h"

#define DATA (16ull << 20)
#define SCRATCH (32ull << 20)

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (!mem_init()) {
		printf("follow: no pager (run with --balloon 0)\n");
		return 3;
	}
	uint64_t *data = page_alloc(DATA);
	for (uint64_t i = 0; i < DATA / 8; i++)
		data[i] = i * 0x9e3779b97f4a7c15ull;
	/* Touched, then free: resident on the host, so a balloon of it releases host memory. */
	uint8_t *scratch = page_alloc(SCRATCH);
	for (uint64_t off = 0; scratch && off < SCRATCH; off += 4096)
		scratch[off] = 1;
	page_free(scratch, SCRATCH);
	/* Poll the target once a millisecond, sleeping in between; end once memory given back has come back. */
	uint64_t last = 0, most = 0;
	printf("follow: polling\n");
	for (;;) {
		uint64_t held = balloon_poll();
		if (held != last)
			printf("follow: ballooned %lu MiB\n", (unsigned long)(held >> 20));
		last = held;
		most = held > most ? held : most;
		if (most && !held)
			break;
		struct beyond_hc_wait w = { .timeout_ns = 1000000 };
		hypercall(BEYOND_HC_WAIT, &w);
	}
	uint64_t bad = 0;
	for (uint64_t i = 0; i < DATA / 8; i++)
		bad += data[i] != i * 0x9e3779b97f4a7c15ull;
	printf("follow: gave back up to %lu MiB; %lu words wrong\n", (unsigned long)(most >> 20), (unsigned long)bad);
	return bad ? 1 : 0;
}
