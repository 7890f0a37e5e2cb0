/*
 * An example guest, written and built the way a user does it:
 *   make guest SRC=guest-runtime/examples/primes.c OUT=primes.elf
 *   build/beyond run primes.elf 100
 * prints the primes up to N, one a line, then how many there were.
 */
#include "guest-runtime/beyond.h"

int main(int argc, char **argv)
{
	const char *end = "";
	uint64_t n = argc == 2 ? strtou64(argv[1], &end) : 0;
	if (n < 2 || *end) {
		printf("usage: %s N (N >= 2, K/M/G suffixes allowed)\n", argv[0]);
		return 2;
	}
	/* The sieve lives in the heap: guest RAM the image does not use. */
	uint8_t *composite = (uint8_t *)(uintptr_t)boot_info.heap_start;
	if (n >= boot_info.heap_end - boot_info.heap_start) {
		printf("%s: a sieve up to %lu does not fit in %lu MiB of heap (try --mem)\n", argv[0],
		       (unsigned long)n, (unsigned long)((boot_info.heap_end - boot_info.heap_start) >> 20));
		return 3;
	}
	memset(composite, 0, n + 1);

	/* Every console hypercall is a VM exit: print a buffer full at a time. */
	char out[4096];
	size_t len = 0;
	uint64_t count = 0;
	for (uint64_t p = 2; p <= n; p++) {
		if (composite[p])
			continue;
		for (uint64_t m = p; m <= n / p; m++)
			composite[m * p] = 1;
		count++;
		if (len + 24 > sizeof(out)) {
			console_write(out, len);
			len = 0;
		}
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%lu\n", (unsigned long)p);
	}
	console_write(out, len);
	printf("%lu primes up to %lu\n", (unsigned long)count, (unsigned long)n);
	return 0;
}
