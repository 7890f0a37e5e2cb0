/*
 * Fuzz harness: store open and journal replay. The input describes the
 * journal of the newest checkpoint of a small store; the harness gives the
 * records valid checksums (unless told not to), so the fuzzer reaches the
 * record checks and the tell-apart of torn tails and damage:
 *
 *   byte 0        open mode: 0 write, 1 read-only, 2 repair (mod 3)
 *   then, repeated:
 *     u8 ctl      bits 0-2: 0 J_SLOT, 1 J_MAP, 2 J_TRIM, 3 J_VOL_NEW,
 *                 4 J_VOL_COPY, 5 J_VOL_DEL, 6 J_COMMIT (its start is
 *                 filled in unless bit 4), 7 raw bytes (a torn or damaged
 *                 stretch); bit 3: flip a bit of the checksum
 *     u8 len      payload bytes that follow (fewer at the end)
 *     payload
 */
#include "tests/fuzz/store_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t types[] = { J_SLOT, J_MAP, J_TRIM, J_VOL_NEW, J_VOL_COPY, J_VOL_DEL, J_COMMIT };
	struct journal j = { .gen = 0 };
	char *out = NULL, name[16];
	size_t outlen = 0, pos = 1;
	uint64_t start = 0;

	fuzz_init();
	if (!size)
		return 0;
	j.gen = fz.gen;
	FILE *f = open_memstream(&out, &outlen);
	while (pos + 2 <= size) {
		uint8_t ctl = data[pos], len = data[pos + 1];
		const uint8_t *p = data + pos + 2;
		pos += 2;
		len = size - pos < len ? size - pos : len;
		pos += len;
		if ((ctl & 7) == 7) {
			fwrite(p, 1, len, f);
			continue;
		}
		uint8_t payload[256];
		memcpy(payload, p, len);
		if (types[ctl & 7] == J_COMMIT && !(ctl & 16)) {
			len = sizeof(start);
			memcpy(payload, &start, sizeof(start));
		}
		j.len = 0;
		if (journal_add(&j, types[ctl & 7], payload, len))
			abort();
		j.buf[0] ^= (ctl & 8) ? 1 : 0;
		fwrite(j.buf, 1, j.len, f);
		fflush(f);
		if (types[ctl & 7] == J_COMMIT)
			start = outlen;
	}
	fclose(f);
	free(j.buf);
	fuzz_restore();
	snprintf(name, sizeof(name), "journal%u", (unsigned)(fz.gen & 1));
	fuzz_put(name, out, outlen);
	free(out);
	fuzz_exercise(data[0] % 3);
	return 0;
}
