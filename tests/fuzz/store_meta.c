/*
 * Fuzz harness: store open with a crafted checkpoint. The input is a
 * metadata copy without its checksum, which the harness appends (unless
 * told not to), so the fuzzer reaches the checks of every field:
 *
 *   byte 0        bits 0-1: open mode (0 write, 1 read-only, 2 repair, mod
 *                 3); bit 2: also destroy the other copy; bit 3: leave the
 *                 checksum out
 *   then          the copy, written as meta<g mod 2> for the generation g
 *                 in its header (the newest copy's name if too short)
 */
#include "blk/hash.h"
#include "tests/fuzz/store_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t gen = 0, sum;
	char name[8], other[8];

	fuzz_init();
	if (!size)
		return 0;
	const uint8_t *copy = data + 1;
	size_t n = size - 1;
	if (n >= 24)
		memcpy(&gen, copy + 16, sizeof(gen));
	else
		gen = fz.gen;
	uint8_t *file = malloc(n + sizeof(sum));
	if (!file)
		abort();
	memcpy(file, copy, n);
	sum = blk_hash64(copy, n, 0);
	memcpy(file + n, &sum, sizeof(sum));
	fuzz_restore();
	snprintf(name, sizeof(name), "meta%u", (unsigned)(gen & 1));
	snprintf(other, sizeof(other), "meta%u", (unsigned)(~gen & 1));
	fuzz_put(name, file, n + (data[0] & 8 ? 0 : sizeof(sum)));
	if (data[0] & 4)
		fuzz_put(other, "", 0);
	free(file);
	fuzz_exercise((data[0] & 3) % 3);
	return 0;
}
