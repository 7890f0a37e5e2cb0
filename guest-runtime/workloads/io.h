/*
 * The I/O workload: one loop keeping `depth` requests of `block` bytes in
 * flight, sequential or random over `span` bytes, for a given number of
 * TSC cycles. One source, compiled freestanding and linked both into the
 * `disk` guest (requests go to virtio-blk) and into the monitor (the host
 * baselines: the same loop over pread/pwrite or the store API), so both
 * sides issue the very same offsets.
 */
#ifndef BEYOND_IO_WORKLOAD_H
#define BEYOND_IO_WORKLOAD_H

#include <stdint.h>
#include "guest-runtime/abi.h"

#define IO_MAX_DEPTH 64

/* Where requests go: submit() starts one, complete() returns a finished one. */
struct io_backend {
	/* 0, or -1 if it cannot take another request now. */
	int (*submit)(void *ctx, int write, uint64_t off, void *buf, uint32_t len, uint64_t tag);
	/* Starts what was submitted (one notification for the batch). */
	void (*kick)(void *ctx);
	/* Status (0 OK) of a finished request with its tag, or -1 if none has finished yet. */
	int (*complete)(void *ctx, uint64_t *tag);
	void *ctx;
};

struct io_plan {
	uint32_t disk, pattern, write, block, depth;  /* as in struct beyond_io_result */
	uint64_t span;               /* bytes of the disk used, a multiple of block */
	uint64_t cycles;             /* how long to run */
	uint64_t seed;               /* random offsets, distinct written data */
	uint8_t *bufs;               /* depth * block bytes */
};

/* Runs the plan; fills r. */
void io_run(const struct io_plan *p, const struct io_backend *b, struct beyond_io_result *r);

#endif
