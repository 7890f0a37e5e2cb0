/*
 * The TLB workloads. One source, compiled once (freestanding) and linked
 * both into the `tlb` guest and into the monitor, so the native baseline runs
 * the very same machine code as the guest.
 *
 *   chase   dependent loads along a random cyclic permutation of cache lines:
 *           latency per access
 *   gups    independent random read-modify-writes of 8-byte words (HPCC
 *           RandomAccess style): throughput per access
 *   stream  a sequential read sweep: the TLB-insensitive control
 */
#ifndef BEYOND_TLB_H
#define BEYOND_TLB_H

#include <stdint.h>
#include "guest-runtime/abi.h"

/* The chase visits at most this many lines, spread over every 4 KiB page of
 * the working set, so set-up time stays bounded while each step still lands
 * on a random page (1 Mi lines = 64 MiB, beyond the last-level cache). */
#define TLB_CHASE_MAX_LINES (1u << 20)
/* Scratch memory tlb_run needs right after the largest working set: the
 * permutation is shuffled there, in cache, then written out as pointers. */
#define TLB_SCRATCH_BYTES (TLB_CHASE_MAX_LINES * 4u)
#define TLB_CHASE_STEPS (512u << 10)
#define TLB_GUPS_UPDATES (2u << 20)

typedef void (*tlb_report_fn)(void *opaque, const struct beyond_tlb_result *r);

struct tlb_plan {
	uint8_t *base;           /* the largest size plus TLB_SCRATCH_BYTES */
	const uint64_t *sizes;   /* working sets in bytes, multiples of 4 KiB, powers of two */
	unsigned n_sizes;
	unsigned workloads;      /* bit mask of 1 << enum beyond_tlb_workload */
	unsigned passes;         /* per workload and size; pass 0 is the warm-up */
	tlb_report_fn report;
	void *opaque;
};

/* Runs the plan: for each size, touches the whole working set, then each workload's passes. */
void tlb_run(const struct tlb_plan *plan);

const char *tlb_workload_name(unsigned w);

#endif
