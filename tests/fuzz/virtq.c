/*
 * Fuzz harness: the split virtqueue's chain walker (hv/virtio/virtq.c)
 * against 64 KiB of guest RAM from the input. Input: 8 bytes of queue set-up
 * { log2 size (bit 7: indirect descriptors), u16 desc / 16, u16 avail / 2,
 * u16 used / 4, pops }, then the RAM image. Every chain the walker accepts
 * is read and written end to end (ASan checks it lies in RAM) and returned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "hv/virtio/virtq.h"

#define RAM_SIZE (64u << 10)

static uint8_t *ram;
static struct virtq_chain chain;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram && !(ram = malloc(RAM_SIZE)))
		abort();
	if (size < 8)
		return 0;
	uint16_t d, a, u;
	memcpy(&d, data + 1, 2);
	memcpy(&a, data + 3, 2);
	memcpy(&u, data + 5, 2);
	size_t image = size - 8 < RAM_SIZE ? size - 8 : RAM_SIZE;
	memcpy(ram, data + 8, image);
	memset(ram + image, 0, RAM_SIZE - image);

	struct guest_mem mem = { .base = ram, .size = RAM_SIZE };
	struct virtq q;
	char why[256];
	uint16_t qsize = (uint16_t)(1u << (data[0] & 15));
	if (virtq_init(&q, &mem, qsize, data[0] >> 7, (uint64_t)d * 16, (uint64_t)a * 2, (uint64_t)u * 4, why,
		       sizeof(why)))
		return 0;
	for (unsigned i = 0; i <= data[7] && virtq_pending(&q, why, sizeof(why)) > 0; i++) {
		if (virtq_pop(&q, &chain, why, sizeof(why)) != 1)
			break;
		uint32_t written = 0;
		for (unsigned s = 0; s < chain.n; s++) {
			volatile uint8_t *p = chain.seg[s].p;
			uint32_t len = chain.seg[s].len;
			uint8_t sum = p[0] ^ p[len - 1];
			if (chain.seg[s].writable) {
				p[0] = sum;
				p[len - 1] = sum;
				written += len;
			}
		}
		virtq_push(&q, chain.head, written);
	}
	return 0;
}
