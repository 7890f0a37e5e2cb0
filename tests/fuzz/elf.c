/* Fuzz harness: the ELF loader (hv/elf_loader.c) with the input as a guest image. */
#include <stdint.h>
#include <stdlib.h>
#include "hv/elf_loader.h"
#include "mm/layout.h"

#define RAM_SIZE (2u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	struct elf_image img;
	char err[256];

	if (!ram && !(ram = malloc(RAM_SIZE)))
		abort();
	if (elf_load(data, size, ram, LAYOUT_IMAGE_MIN, RAM_SIZE, &img, err, sizeof(err)))
		return 0;
	/* What the monitor relies on for an accepted image. */
	if (img.start < LAYOUT_IMAGE_MIN || img.end > RAM_SIZE || img.start >= img.end ||
	    img.entry < img.start || img.entry >= img.end)
		abort();
	for (int v = 0; v < 32; v++)
		if (img.exception_handlers[v] < img.start || img.exception_handlers[v] >= img.end)
			abort();
	return 0;
}
