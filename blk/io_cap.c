#include <time.h>
#include "blk/io_cap.h"
#include "blk/io_stats.h"

void io_cap_init(struct io_cap *c, double iops, double bps)
{
	pthread_mutex_init(&c->lock, NULL);
	c->iops = iops;
	c->bps = bps;
	c->tat_ops = c->tat_bytes = 0;
	c->waits = c->waited_ns = 0;
}

void io_cap_destroy(struct io_cap *c) { pthread_mutex_destroy(&c->lock); }

/* One dimension: the time the request may start at, and the next theoretical arrival. */
static double gcra(double *tat, double now, double rate, double cost)
{
	if (rate <= 0)
		return now;
	double start = *tat - CAP_BURST;
	*tat = (*tat > now ? *tat : now) + cost / rate;
	return start;
}

void io_cap_take(struct io_cap *c, uint64_t bytes)
{
	if (c->iops <= 0 && c->bps <= 0)
		return;
	pthread_mutex_lock(&c->lock);
	double now = io_now_ns() * 1e-9;
	double a = gcra(&c->tat_ops, now, c->iops, 1), b = gcra(&c->tat_bytes, now, c->bps, (double)bytes);
	double start = a > b ? a : b;
	if (start > now) {
		c->waits++;
		c->waited_ns += (uint64_t)((start - now) * 1e9);
	}
	pthread_mutex_unlock(&c->lock);
	if (start > now) {
		struct timespec t = { (time_t)start, (long)((start - (time_t)start) * 1e9) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) != 0)
			;
	}
}
