/* The balloon client: follows the target the host writes into the page-state table's header. */
#include "guest-runtime/beyond.h"
#include "guest-runtime/pager.h"

#define BLOCK BEYOND_BALLOON_BLOCK
#define MAX_BLOCKS 4096 /* 8 GiB given back at most */

extern struct beyond_pagestate_header *mem_table;
static uint64_t blocks[MAX_BLOCKS];
static unsigned held;

static int call(uint32_t op, uint64_t gpa)
{
	struct beyond_hc_balloon a = { .op = op, .gpa = gpa, .len = BLOCK };
	hypercall(BEYOND_HC_BALLOON, &a);
	return a.ret == 0 ? 0 : -1;
}

uint64_t balloon_poll(void)
{
	uint64_t target = mem_table ? __atomic_load_n(&mem_table->balloon_target, __ATOMIC_ACQUIRE) : 0;
	while ((uint64_t)held * BLOCK < target && held < MAX_BLOCKS) {
		void *b = page_alloc(BLOCK);
		if (!b)
			break;
		if (call(BEYOND_BALLOON_INFLATE, (uint64_t)(uintptr_t)b)) {
			page_free(b, BLOCK);
			break;
		}
		blocks[held++] = (uint64_t)(uintptr_t)b;
	}
	while (held && (uint64_t)held * BLOCK >= target + BLOCK) {
		uint64_t b = blocks[--held];
		call(BEYOND_BALLOON_DEFLATE, b);
		page_free((void *)(uintptr_t)b, BLOCK);
	}
	return (uint64_t)held * BLOCK;
}
