/*
 * An I/O cap: requests per second and bytes per second, each a token
 * bucket in its GCRA form (a theoretical arrival time per dimension, a
 * burst of CAP_BURST seconds). A request waits until both dimensions
 * allow it; over any interval T the cap admits at most rate * (T + burst),
 * so over 10 s it holds within 1 % of the setting.
 */
#ifndef BEYOND_BLK_IO_CAP_H
#define BEYOND_BLK_IO_CAP_H

#include <pthread.h>
#include <stdint.h>

#define CAP_BURST 0.05

struct io_cap {
	pthread_mutex_t lock;
	double iops, bps;              /* 0: no cap */
	double tat_ops, tat_bytes;     /* seconds (CLOCK_MONOTONIC) */
	uint64_t waits;                /* requests that had to wait */
	uint64_t waited_ns;
};

void io_cap_init(struct io_cap *c, double iops, double bps);
void io_cap_destroy(struct io_cap *c);
/* Takes the tokens of one request of `bytes`, sleeping until the cap allows it. */
void io_cap_take(struct io_cap *c, uint64_t bytes);

#endif
