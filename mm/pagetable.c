#include <string.h>
#include <strings.h>
#include "mm/layout.h"
#include "mm/pagetable.h"

#define ENTRIES 512
#define TABLE_FLAGS (PTE_P | PTE_RW | PTE_US)
/* The window's own PD and, when RAM's tables do not reach its PML4 slot, a PDPT. */
#define WINDOW_TABLES 2

static const struct { const char *name; uint64_t size; } page_names[] = {
	{ "4k", PT_4K }, { "2m", PT_2M }, { "1g", PT_1G },
};

int guest_pages_parse(const char *s, uint64_t *out)
{
	for (size_t i = 0; i < sizeof(page_names) / sizeof(page_names[0]); i++)
		if (strcasecmp(s, page_names[i].name) == 0) {
			*out = page_names[i].size;
			return 0;
		}
	return -1;
}

const char *guest_pages_name(uint64_t page)
{
	for (size_t i = 0; i < sizeof(page_names) / sizeof(page_names[0]); i++)
		if (page_names[i].size == page)
			return page_names[i].name;
	return "?";
}

static uint64_t tables_at_level(uint64_t mem_size, int shift)
{
	/* One table per 512 entries of 2^shift bytes each. */
	uint64_t span = 1ull << (shift + 9);
	return (mem_size + span - 1) / span;
}

/* Levels: shift of what one entry maps, 39 (PML4), 30 (PDPT), 21 (PD), 12 (PT). */
uint64_t pt_ram_bytes(uint64_t mem_size, uint64_t leaf)
{
	uint64_t pages = 0;
	for (int shift = 39; (1ull << shift) >= leaf; shift -= 9)
		pages += tables_at_level(mem_size, shift);
	return pages * PT_4K;
}

uint64_t pt_bytes(uint64_t mem_size, uint64_t leaf)
{
	return pt_ram_bytes(mem_size, leaf) + WINDOW_TABLES * PT_4K;
}

/*
 * The device window gets a PD of its own with one 2 MiB leaf, cache-disabled
 * (PCD | PWT) as device memory must be. Its PDPT slot is never one RAM uses:
 * the window starts at a 1 GiB boundary at or past the end of RAM.
 */
static void map_window(uint8_t *ram, uint64_t mem_size, uint64_t pml4, uint64_t tables)
{
	uint64_t w = layout_device_window(mem_size);
	uint64_t *pml4e = (uint64_t *)(ram + pml4) + (w >> 39) % ENTRIES;
	uint64_t pd = tables, pdpt = tables + PT_4K;
	if (!(*pml4e & PTE_P))
		*pml4e = pdpt | TABLE_FLAGS;
	pdpt = *pml4e & PTE_ADDR_MASK;
	((uint64_t *)(ram + pdpt))[(w >> 30) % ENTRIES] = pd | TABLE_FLAGS;
	((uint64_t *)(ram + pd))[(w >> 21) % ENTRIES] = w | TABLE_FLAGS | PTE_PS | PTE_PCD | PTE_PWT;
}

uint64_t pt_build(uint8_t *ram, uint64_t mem_size, uint64_t leaf, uint64_t pt_base)
{
	memset(ram + pt_base, 0, pt_bytes(mem_size, leaf));

	/* Tables of each level lie in a row: level L's table i maps the i-th span. */
	uint64_t level_base = pt_base;
	for (int shift = 39; (1ull << shift) >= leaf; shift -= 9) {
		uint64_t next_base = level_base + tables_at_level(mem_size, shift) * PT_4K;
		uint64_t entry_size = 1ull << shift;
		uint64_t *e = (uint64_t *)(ram + level_base);
		for (uint64_t i = 0; i * entry_size < mem_size; i++) {
			if (entry_size == leaf)
				e[i] = (i * entry_size) | TABLE_FLAGS | (leaf > PT_4K ? PTE_PS : 0);
			else
				e[i] = (next_base + i * PT_4K) | TABLE_FLAGS;
		}
		level_base = next_base;
	}
	map_window(ram, mem_size, pt_base, level_base);
	return pt_base;
}

uint64_t *pt_leaf(const uint8_t *ram, uint64_t mem_size, uint64_t cr3, uint64_t va, uint64_t *leaf)
{
	uint64_t table = cr3 & PTE_ADDR_MASK;
	for (int shift = 39; shift >= 12; shift -= 9) {
		if (table > mem_size - PT_4K || mem_size < PT_4K)
			return NULL;
		uint64_t *e = (uint64_t *)(ram + table + ((va >> shift) & (ENTRIES - 1)) * 8);
		if (!(*e & PTE_P))
			return NULL;
		if (shift == 12 || ((*e & PTE_PS) && shift <= 30)) {
			*leaf = 1ull << shift;
			return e;
		}
		table = *e & PTE_ADDR_MASK;
	}
	return NULL;
}

int pt_walk(const uint8_t *ram, uint64_t mem_size, uint64_t cr3, uint64_t va,
	    uint64_t *pa, uint64_t *leaf)
{
	uint64_t *e = pt_leaf(ram, mem_size, cr3, va, leaf);
	if (!e)
		return -1;
	*pa = (*e & PTE_ADDR_MASK & ~(*leaf - 1)) | (va & (*leaf - 1));
	return 0;
}
