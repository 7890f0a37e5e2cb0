/* The page-table builder, checked by walking what it built the way the MMU does. */
#include <criterion/criterion.h>
#include <sys/mman.h>
#include "mm/layout.h"
#include "mm/pagetable.h"

static uint8_t *ram_map(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	return p;
}

/* Builds an identity map at the top of RAM and checks addresses across all of it. */
static void check_identity(uint64_t mem, uint64_t leaf)
{
	uint8_t *ram = ram_map(mem);
	uint64_t bytes = pt_bytes(mem, leaf);
	uint64_t base = mem - bytes;
	uint64_t cr3 = pt_build(ram, mem, leaf, base);
	cr_assert_eq(cr3, base);

	uint64_t probes[] = { 0, 1, leaf - 1, leaf, leaf + 8, mem / 2 + 12345, mem - leaf, mem - 1 };
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint64_t pa = 0, got = 0;
		cr_assert_eq(pt_walk(ram, mem, cr3, probes[i], &pa, &got), 0, "va %#lx unmapped", probes[i]);
		cr_assert_eq(pa, probes[i], "va %#lx -> pa %#lx", probes[i], pa);
		cr_assert_eq(got, leaf, "va %#lx leaf %#lx, wanted %#lx", probes[i], got, leaf);
	}
	/* Every leaf, not just the probes: step through RAM one leaf at a time (bounded). */
	uint64_t step = mem / leaf > 65536 ? mem / 65536 : leaf;
	for (uint64_t va = 0; va < mem; va += step) {
		uint64_t pa, got;
		cr_assert_eq(pt_walk(ram, mem, cr3, va, &pa, &got), 0);
		cr_assert_eq(pa, va);
		cr_assert_eq(got, leaf);
	}
	uint64_t pa, got;
	uint64_t window = layout_device_window(mem);
	if (window > mem)
		cr_assert_neq(pt_walk(ram, mem, cr3, mem, &pa, &got), 0, "past the end of RAM is mapped");
	cr_assert_neq(pt_walk(ram, mem, cr3, window + LAYOUT_DEVICE_WINDOW_SIZE, &pa, &got), 0,
		      "past the device window is mapped");
	/* The device window: identity mapped, one 2 MiB page. */
	cr_assert_eq(pt_walk(ram, mem, cr3, window + 0x1234, &pa, &got), 0, "device window unmapped");
	cr_assert_eq(pa, window + 0x1234);
	cr_assert_eq(got, PT_2M);
	munmap(ram, mem);
}

Test(pagetable, identity_4k) { check_identity(64ull << 20, PT_4K); }
Test(pagetable, identity_4k_odd_size) { check_identity((64ull << 20) + 3 * 4096, PT_4K); }
Test(pagetable, identity_4k_multi_gib) { check_identity(3ull << 30, PT_4K); }
Test(pagetable, identity_2m) { check_identity(512ull << 20, PT_2M); }
Test(pagetable, identity_2m_large) { check_identity(5ull << 30, PT_2M); }
Test(pagetable, identity_1g) { check_identity(4ull << 30, PT_1G); }
Test(pagetable, identity_1g_over_512g_boundary)
{
	/* 513 GiB needs a second PDPT: the walk must cross it. */
	check_identity(513ull << 30, PT_1G);
}
Test(pagetable, window_in_a_pml4_slot_of_its_own)
{
	/* 512 GiB of RAM fills the first PDPT: the window needs a PDPT of its own. */
	check_identity(512ull << 30, PT_1G);
}

Test(pagetable, page_size_names)
{
	uint64_t p;
	cr_assert(guest_pages_parse("2M", &p) == 0 && p == PT_2M);
	cr_assert(guest_pages_parse("4k", &p) == 0 && p == PT_4K);
	cr_assert(guest_pages_parse("1g", &p) == 0 && p == PT_1G);
	cr_assert_neq(guest_pages_parse("3k", &p), 0);
	cr_assert_str_eq(guest_pages_name(PT_1G), "1g");
}

Test(pagetable, sizes_match_the_talk)
{
	/* Per GiB: 4K leaves need 512 PTs + 1 PD (~2 MiB), 2M leaves one PD (4 KiB). */
	cr_assert_eq(pt_ram_bytes(1ull << 30, PT_4K), (512 + 1 + 1 + 1) * 4096);
	cr_assert_eq(pt_ram_bytes(1ull << 30, PT_2M), 3 * 4096);
	cr_assert_eq(pt_ram_bytes(1ull << 30, PT_1G), 2 * 4096);
	cr_assert_eq(pt_ram_bytes(4ull << 30, PT_4K), (2048 + 4 + 1 + 1) * 4096);
	/* The device window adds two tables at most, whatever RAM's size. */
	cr_assert_eq(pt_bytes(4ull << 30, PT_4K) - pt_ram_bytes(4ull << 30, PT_4K), 2 * 4096);
}

Test(pagetable, walk_rejects_tables_outside_ram)
{
	uint64_t mem = 4ull << 20;
	uint8_t *ram = ram_map(mem);
	uint64_t pa, leaf;
	/* A PML4 entry pointing past RAM must fail the walk, not read outside. */
	uint64_t bad = (mem + 4096) | PTE_P | PTE_RW;
	memcpy(ram, &bad, 8);
	cr_assert_neq(pt_walk(ram, mem, 0, 0, &pa, &leaf), 0);
	cr_assert_neq(pt_walk(ram, mem, mem, 0, &pa, &leaf), 0);
	munmap(ram, mem);
}
