/*
 * The swap workloads (`beyond bench swap`, the pager tests). Freestanding:
 * memory and page-state hints come through struct swap_ops, so the same
 * code runs in the `swap` guest (guest-runtime/pager.h) and in the monitor.
 *
 *   sweep    every page written with a pattern of (page, pass), then each
 *            pass checks the last pass's pattern and writes a new one; one
 *            page in 8 is all zero. Checks every byte of `bytes`. With
 *            ops->prefetch it asks for the next 2 MiB while on this one.
 *   churn    allocates, dirties and frees 8 MiB buffers (two live at a
 *            time), so most of RAM is free at any moment
 *   cache    64 KiB blocks that can be rebuilt from their number, volatile
 *            while not in use; random lookups rebuild lost blocks and check
 *            the others (a block that survived make_stable must be intact)
 *   zero     a large area zeroed, then read back `passes` times
 *   hotcold  random read-modify-writes, 90 % into a hot eighth of the area
 */
#ifndef BEYOND_SWAP_H
#define BEYOND_SWAP_H

#include <stdint.h>
#include "guest-runtime/abi.h"

struct swap_ops {
	void *(*alloc)(uint64_t bytes);
	void (*free)(void *p, uint64_t bytes);
	void (*make_volatile)(void *p, uint64_t len);
	uint64_t (*make_stable)(void *p, uint64_t len); /* pages lost */
	void (*prefetch)(const void *p, uint64_t len);  /* NULL: none (sweep asks for the next 2 MiB ahead) */
	uint64_t (*now)(void);                          /* a cycle counter */
};

struct swap_plan {
	unsigned workload;          /* enum beyond_swap_workload */
	uint64_t bytes;             /* RAM the workload works on */
	unsigned passes;
	const struct swap_ops *ops;
};

/* Runs the plan and fills *r; r->errors counts pages that read back wrong. */
void swap_run(const struct swap_plan *plan, struct beyond_swap_result *r);

const char *swap_workload_name(unsigned w);
/* The workload named s, or SWAP_WORKLOADS. */
unsigned swap_workload_parse(const char *s);

#endif
