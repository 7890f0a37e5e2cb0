/* Loads static ELF64 x86-64 guest images into guest RAM, refusing anything else. */
#ifndef BEYOND_ELF_LOADER_H
#define BEYOND_ELF_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct elf_image {
	uint64_t entry;
	uint64_t start, end;          /* extent of the PT_LOAD segments in RAM */
	uint64_t exception_handlers[32];
};

/*
 * Validates `file` (size bytes) and copies its PT_LOAD segments into ram,
 * zero-filling .bss. Segments must lie inside [load_min, load_max). Returns 0,
 * or -1 with a one-line reason in err. On failure ram may be partly written.
 */
int elf_load(const uint8_t *file, size_t size, uint8_t *ram, uint64_t load_min,
	     uint64_t load_max, struct elf_image *out, char *err, size_t errlen);

#endif
