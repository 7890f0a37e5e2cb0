/* The page allocator: a bitmap of the heap's 4 KiB pages, next-fit, free pages UNUSED. */
#include "guest-runtime/beyond.h"
#include "guest-runtime/pager.h"
#include "guest-runtime/pagestate.h"

#define PAGE 4096ull
#define BLOCK (2ull << 20)
#define BLOCK_PAGES (BLOCK / PAGE)

struct beyond_pagestate_header *mem_table; /* shared with volatile.c and balloon.c */
static uint64_t *used;          /* bit per page from heap_base */
static uint64_t heap_base, heap_pages, cursor, free_pages;

static int is_used(uint64_t i) { return (used[i / 64] >> (i % 64)) & 1; }

static void mark(uint64_t first, uint64_t n, int in_use)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (in_use)
			used[i / 64] |= 1ull << (i % 64);
		else
			used[i / 64] &= ~(1ull << (i % 64));
		ps_set_state(&mem_table->state[(heap_base / PAGE) + i], in_use ? BEYOND_PAGE_STABLE : BEYOND_PAGE_UNUSED);
	}
	free_pages = in_use ? free_pages - n : free_pages + n;
}

int mem_init(void)
{
	uint64_t start = (boot_info.heap_start + BLOCK - 1) & ~(BLOCK - 1);
	uint64_t pages = boot_info.mem_size / PAGE;
	/* The table and the bitmap come first, in the heap's first pages. */
	uint64_t table_bytes = (sizeof(struct beyond_pagestate_header) + pages + PAGE - 1) & ~(PAGE - 1);
	uint64_t end = boot_info.heap_end & ~(PAGE - 1);
	uint64_t bitmap_bytes = ((end - start) / PAGE / 64 + 1) * 8;
	mem_table = (void *)(uintptr_t)start;
	used = (uint64_t *)(uintptr_t)(start + table_bytes);
	heap_base = (start + table_bytes + bitmap_bytes + BLOCK - 1) & ~(BLOCK - 1);
	heap_pages = heap_base < end ? (end - heap_base) / PAGE : 0;
	memset(mem_table, 0, table_bytes); /* every page STABLE until the allocator says otherwise */
	memset(used, 0, bitmap_bytes);
	mem_table->magic = BEYOND_PAGESTATE_MAGIC;
	mem_table->pages = pages;
	free_pages = 0;
	mark(0, heap_pages, 0);
	struct beyond_hc_pagestate a = { .table = (uint64_t)(uintptr_t)mem_table };
	hypercall(BEYOND_HC_PAGESTATE, &a);
	return a.ret == 0;
}

/* Free, and (with present) not NOT_PRESENT: the host has it, so touching it costs no fault. */
static int usable(uint64_t i, int present)
{
	return !is_used(i) && !(present && (__atomic_load_n(&mem_table->state[heap_base / PAGE + i], __ATOMIC_RELAXED) &
					    BEYOND_PAGE_NOT_PRESENT));
}

/* A usable run of n pages at or after `from` (aligned to `align` pages); heap_pages if none. */
static uint64_t find_run(uint64_t from, uint64_t n, uint64_t align, int present)
{
	for (uint64_t i = (from + align - 1) / align * align; i + n <= heap_pages;) {
		uint64_t j = 0;
		while (j < n && usable(i + j, present))
			j++;
		if (j == n)
			return i;
		i = (i + j + 1 + align - 1) / align * align;
	}
	return heap_pages;
}

void *page_alloc(uint64_t bytes)
{
	uint64_t n = (bytes + PAGE - 1) / PAGE, align = bytes >= BLOCK ? BLOCK_PAGES : 1;
	if (n == 0 || n > free_pages)
		return 0;
	/* Free memory the host still has first (the NOT_PRESENT view), then any. */
	uint64_t i = heap_pages;
	for (int present = 1; present >= 0 && i == heap_pages; present--) {
		i = find_run(cursor, n, align, present);
		if (i == heap_pages)
			i = find_run(0, n, align, present);
	}
	if (i == heap_pages)
		return 0;
	mark(i, n, 1);
	cursor = i + n; /* next fit: free memory is spread over the heap, as in a long-running guest */
	return (void *)(uintptr_t)(heap_base + i * PAGE);
}

void page_free(void *p, uint64_t bytes)
{
	uint64_t a = (uint64_t)(uintptr_t)p;
	if (!p || a < heap_base || (a - heap_base) % PAGE)
		return;
	uint64_t first = (a - heap_base) / PAGE, n = (bytes + PAGE - 1) / PAGE;
	if (first + n <= heap_pages)
		mark(first, n, 0);
}

uint64_t page_free_bytes(void)
{
	return free_pages * PAGE;
}
