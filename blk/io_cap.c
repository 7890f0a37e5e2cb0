#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "blk/io_cap.h"
#include "blk/io_stats.h"
#include "hv/cli/cli.h"

void io_cap_init(struct io_cap *c, double iops, double bps)
{
	pthread_mutex_init(&c->lock, NULL);
	c->iops = iops;
	c->bps = bps;
	c->tat_ops = c->tat_bytes = 0;
	c->waits = c->waited_ns = 0;
}

void io_cap_destroy(struct io_cap *c) { pthread_mutex_destroy(&c->lock); }

static int limited(const struct io_cap *c) { return c && (c->iops > 0 || c->bps > 0); }

/* When one dimension lets a request start (GCRA: a burst before the theoretical arrival). */
static double allowed(double tat, double rate) { return rate > 0 ? tat - CAP_BURST : 0; }

/* The request starts at `start`: the next theoretical arrival moves by its cost. */
static void charge(double *tat, double start, double rate, double cost)
{
	if (rate > 0)
		*tat = (*tat > start ? *tat : start) + cost / rate;
}

void io_cap_take(struct io_cap *const *caps, unsigned n, uint64_t bytes, int wake_fd)
{
	struct io_cap *held[IO_CAP_LEVELS];
	unsigned k = 0;
	for (unsigned i = 0; i < n && k < IO_CAP_LEVELS; i++)
		if (limited(caps[i]))
			pthread_mutex_lock(&(held[k++] = caps[i])->lock);
	if (k == 0)
		return;
	double now = io_now_ns() * 1e-9, start = now;
	for (unsigned i = 0; i < k; i++) {
		double a = allowed(held[i]->tat_ops, held[i]->iops), b = allowed(held[i]->tat_bytes, held[i]->bps);
		double own = a > b ? a : b;
		if (own > now) {
			held[i]->waits++;
			held[i]->waited_ns += (uint64_t)((own - now) * 1e9);
		}
		start = own > start ? own : start;
	}
	for (unsigned i = k; i-- > 0;) {
		charge(&held[i]->tat_ops, start, held[i]->iops, 1);
		charge(&held[i]->tat_bytes, start, held[i]->bps, (double)bytes);
		pthread_mutex_unlock(&held[i]->lock);
	}
	struct pollfd p = { wake_fd, POLLIN, 0 };
	while (start > now) {
		double left = start - now;
		struct timespec t = { (time_t)left, (long)((left - (time_t)left) * 1e9) };
		if (ppoll(&p, 1, &t, NULL) > 0)
			return;
		now = io_now_ns() * 1e-9;
	}
}

int io_cap_parse(const char *key, const char *value, double *out, char *err, size_t errlen)
{
	bool bytes = strstr(key, "bps") != NULL;
	uint64_t n;

	if (parse_size_in(key, value, bytes ? 4096 : 1, bytes ? 1ull << 40 : 1ull << 30, &n, err, errlen))
		return -1;
	*out = (double)n;
	return 0;
}

/* --- caps shared by name (groups); they live as long as the process ------------ */

struct named_cap {
	struct named_cap *next;
	struct io_cap cap;
	char name[];
};

static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static struct named_cap *groups;

static struct named_cap *lookup(const char *name)
{
	struct named_cap *g = groups;
	while (g && strcmp(g->name, name) != 0)
		g = g->next;
	return g;
}

int io_cap_group_key(const char *name, const char *key, const char *value, char *err, size_t errlen)
{
	int iops = strcmp(key, "io-iops") == 0;
	double v;
	if (!iops && strcmp(key, "io-bps") != 0)
		return 1;
	if (io_cap_parse(key, value, &v, err, errlen))
		return -1;
	pthread_mutex_lock(&groups_lock);
	struct named_cap *g = lookup(name);
	if (!g && (g = calloc(1, sizeof(*g) + strlen(name) + 1))) {
		strcpy(g->name, name);
		io_cap_init(&g->cap, 0, 0);
		g->next = groups;
		groups = g;
	}
	if (g)
		*(iops ? &g->cap.iops : &g->cap.bps) = v;
	pthread_mutex_unlock(&groups_lock);
	if (!g)
		snprintf(err, errlen, "out of memory");
	return g ? 0 : -1;
}

struct io_cap *io_cap_group(const char *name)
{
	pthread_mutex_lock(&groups_lock);
	struct named_cap *g = name ? lookup(name) : NULL;
	pthread_mutex_unlock(&groups_lock);
	return g ? &g->cap : NULL;
}
