/*
 * The guest's identity map: 4-level x86-64 page tables built by the monitor
 * inside guest RAM, with one leaf size (4 KiB, 2 MiB or 1 GiB) for all of RAM,
 * plus the device window above RAM (mm/layout.h) as one uncached 2 MiB page.
 */
#ifndef BEYOND_PAGETABLE_H
#define BEYOND_PAGETABLE_H

#include <stdint.h>

#define PT_4K (1ull << 12)
#define PT_2M (1ull << 21)
#define PT_1G (1ull << 30)

#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_A  (1ull << 5)  /* accessed: set by the (shadow) MMU on a walk */
#define PTE_PS (1ull << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

/* "4k" | "2m" | "1g" -> 4 KiB, 2 MiB, 1 GiB; 0 or -1. */
int guest_pages_parse(const char *s, uint64_t *out);
const char *guest_pages_name(uint64_t page);

/* Bytes of page tables needed to map mem_size bytes with leaf size `leaf`. */
uint64_t pt_ram_bytes(uint64_t mem_size, uint64_t leaf);
/* All the tables pt_build() writes: RAM's and the device window's. */
uint64_t pt_bytes(uint64_t mem_size, uint64_t leaf);

/*
 * Writes the tables at guest-physical pt_base (page aligned, pt_bytes() long,
 * inside RAM) mapping [0, mem_size) to itself, user-accessible and writable,
 * and the device window (layout_device_window()) uncached. mem_size must be a
 * multiple of leaf. Returns the CR3 value (the PML4).
 */
uint64_t pt_build(uint8_t *ram, uint64_t mem_size, uint64_t leaf, uint64_t pt_base);

/*
 * Walks the tables from cr3 the way the MMU does. Returns 0 and the physical
 * address and leaf size for va, or -1 if not mapped or a table lies outside RAM.
 */
int pt_walk(const uint8_t *ram, uint64_t mem_size, uint64_t cr3, uint64_t va,
	    uint64_t *pa, uint64_t *leaf);

/* The leaf entry mapping va (its size in *leaf), as pt_walk() finds it, or NULL. */
uint64_t *pt_leaf(const uint8_t *ram, uint64_t mem_size, uint64_t cr3, uint64_t va, uint64_t *leaf);

#endif
