/*
 * I/O caps: requests per second and bytes per second, each a token bucket
 * in its GCRA form (a theoretical arrival time per dimension, a burst of
 * CAP_BURST seconds). A request takes tokens from every cap over it at
 * once (its disk's, its VM's, its group's): it starts when all of them
 * allow it, on the I/O thread serving it. Over any interval T a cap admits
 * at most rate * (T + burst) + one request, so over 10 s it holds within
 * 1 % of the setting.
 *
 * Group caps are shared by name in the process: a [group NAME] section of
 * --config with io-iops / io-bps keys defines one, and every VM whose
 * `group` is NAME takes from it.
 */
#ifndef BEYOND_BLK_IO_CAP_H
#define BEYOND_BLK_IO_CAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define CAP_BURST 0.05
#define IO_CAP_LEVELS 3               /* disk, VM, group */

struct io_cap {
	pthread_mutex_t lock;
	double iops, bps;              /* 0: no cap */
	double tat_ops, tat_bytes;     /* seconds (CLOCK_MONOTONIC) */
	uint64_t waits;                /* requests this cap held back */
	uint64_t waited_ns;
};

void io_cap_init(struct io_cap *c, double iops, double bps);
void io_cap_destroy(struct io_cap *c);
/*
 * Takes the tokens of one request of `bytes` from caps[0..n) (NULL entries
 * and caps without limits are skipped), sleeping until all allow it or
 * wake_fd becomes readable (a reset or teardown: a group cap pushed far
 * ahead by another VM's requests must not hold it). The caps are locked
 * in array order: callers list them disk, VM, group.
 */
void io_cap_take(struct io_cap *const *caps, unsigned n, uint64_t bytes, int wake_fd);

/* An iops or bps value (K/M/G suffixes): 0, or -1 with why. */
int io_cap_parse(const char *key, const char *value, double *out, char *err, size_t errlen);
/*
 * A key of a [group NAME] section: io-iops or io-bps sets that cap of group
 * `name` (made on first use). 1 if key is not an I/O cap key, 0 if taken,
 * -1 with why on a bad value.
 */
int io_cap_group_key(const char *name, const char *key, const char *value, char *err, size_t errlen);
/* The named group's cap, or NULL if no section gave it one. */
struct io_cap *io_cap_group(const char *name);

#endif
