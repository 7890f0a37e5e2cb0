/*
 * I/O accounting of one disk: operations, bytes and errors per kind,
 * latency (median and p99 from a log-linear histogram, 1/16 octave, so
 * within 3.2 %), queue depth (mean and peak, sampled as each request
 * starts). One writer per struct (each I/O thread has its own, so no
 * cache line is shared per request); io_stats_add() sums them for reports.
 */
#ifndef BEYOND_BLK_IO_STATS_H
#define BEYOND_BLK_IO_STATS_H

#include <stdint.h>

struct stats_out;

enum io_kind { IOK_READ, IOK_WRITE, IOK_FLUSH, IOK_DISCARD, IOK_ZEROES, IOK_OTHER, IOK_KINDS };

#define IO_LAT_SUB 16
#define IO_LAT_BUCKETS (64 * IO_LAT_SUB)

struct io_stats {
	uint64_t ops[IOK_KINDS], bytes[IOK_KINDS], errors[IOK_KINDS];
	uint64_t lat[IO_LAT_BUCKETS];  /* nanoseconds, log-linear */
	uint64_t depth_sum, depth_max, started;
};

/* Now, in nanoseconds (CLOCK_MONOTONIC). */
uint64_t io_now_ns(void);
/* A request starts with `depth` requests (itself included) queued or in service. */
void io_stats_start(struct io_stats *s, uint64_t depth);
/* It ended: kind, bytes moved, ok or not, and when it started (io_now_ns()); returns now. */
uint64_t io_stats_done(struct io_stats *s, enum io_kind k, uint64_t bytes, int ok, uint64_t start_ns);
/* Adds a's counters into sum (for a VM's total). */
void io_stats_add(struct io_stats *sum, const struct io_stats *a);
/* The counters, latency in microseconds, as stats values (hv/stats.h). */
void io_stats_report(const struct io_stats *s, struct stats_out *o);

#endif
