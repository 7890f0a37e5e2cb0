/* Volatile buffers and prefetch over the page-state table of palloc.c. */
#include "guest-runtime/beyond.h"
#include "guest-runtime/pager.h"
#include "guest-runtime/pagestate.h"

extern struct beyond_pagestate_header *mem_table;

static uint8_t *entry(const void *p)
{
	return &mem_table->state[(uint64_t)(uintptr_t)p / 4096];
}

void make_volatile(void *p, uint64_t len)
{
	for (uint64_t off = 0; mem_table && off < len; off += 4096)
		ps_make_volatile(entry((char *)p + off));
}

uint64_t make_stable(void *p, uint64_t len)
{
	uint64_t lost = 0;
	for (uint64_t off = 0; mem_table && off < len; off += 4096)
		lost += ps_make_stable(entry((char *)p + off));
	return lost;
}

int page_present(const void *p)
{
	return !mem_table || !(__atomic_load_n(entry(p), __ATOMIC_ACQUIRE) & BEYOND_PAGE_NOT_PRESENT);
}

void prefetch(const void *p, uint64_t len)
{
	struct beyond_hc_range a = { .gpa = (uint64_t)(uintptr_t)p, .len = len };
	hypercall(BEYOND_HC_PREFETCH, &a);
}
