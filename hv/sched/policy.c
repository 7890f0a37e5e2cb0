/* The scheduling policies as pure functions of struct sched_state (policy.h). */
#include <math.h> /* isfinite */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hv/sched/policy.h"

#define EPS 1e-12

static double dmin(double a, double b) { return a < b ? a : b; }

static const char *const policy_names[SCHED_POLICIES] = { "os", "gang", "relaxed" };

const char *sched_policy_name(enum sched_policy p)
{
	return p < SCHED_POLICIES ? policy_names[p] : "?";
}

int sched_policy_parse(const char *s, enum sched_policy *p)
{
	for (int i = 0; i < SCHED_POLICIES; i++)
		if (strcmp(s, policy_names[i]) == 0) {
			*p = i;
			return 0;
		}
	return -1;
}

static int parse_double(const char *s, double *out, int percent_ok)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v))
		return -1;
	if (percent_ok && *end == '%') {
		v /= 100;
		end++;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int sched_parse_fraction(const char *s, double *out)
{
	double v;
	if (parse_double(s, &v, 1) || !(v > 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}

int sched_parse_shares(const char *s, double *out)
{
	double v;
	if (parse_double(s, &v, 0) || !(v > 0 && v <= 1e6))
		return -1;
	*out = v;
	return 0;
}

int sched_state_init(struct sched_state *s, enum sched_policy policy, unsigned ncpus, uint64_t slice_ns)
{
	if (ncpus < 1 || ncpus > SCHED_MAX_CPUS || slice_ns < 1000 || slice_ns > SCHED_PERIOD_NS ||
	    policy >= SCHED_POLICIES)
		return -1;
	memset(s, 0, sizeof(*s));
	s->policy = policy;
	s->ncpus = ncpus;
	s->slice_ns = slice_ns;
	s->period_ns = SCHED_PERIOD_NS;
	s->skew_ns = slice_ns; /* relaxed: siblings may drift apart by one slice */
	return 0;
}

int sched_state_add_group(struct sched_state *s, const struct sched_share *p)
{
	if (s->n_groups == SCHED_MAX_GROUPS)
		return -1;
	s->group[s->n_groups] = (struct sched_group){ .p = *p };
	return (int)s->n_groups++;
}

/* Sum of the reserves that could be demanded at once: they must fit the CPUs. */
static double reserved(const struct sched_state *s)
{
	double sum = 0;
	for (unsigned g = 0; g < s->n_groups; g++)
		sum += s->group[g].p.reserve;
	for (unsigned i = 0; i < s->n_vms; i++)
		sum += s->vm[i].p.reserve;
	return sum;
}

int sched_state_add_vm(struct sched_state *s, unsigned vcpus, int group, const struct sched_share *p,
		       char *err, unsigned errlen)
{
	if (s->n_vms == SCHED_MAX_VMS)
		return snprintf(err, errlen, "more than %d VMs", SCHED_MAX_VMS), -1;
	if (vcpus < 1 || vcpus > SCHED_MAX_VCPUS)
		return snprintf(err, errlen, "%u vCPUs (1..%d)", vcpus, SCHED_MAX_VCPUS), -1;
	if (s->policy == SCHED_GANG && vcpus > s->ncpus)
		return snprintf(err, errlen, "%u vCPUs cannot be gang-scheduled on the %u CPUs the scheduler owns",
				vcpus, s->ncpus), -1;
	if (p->cap > 0 && p->reserve > p->cap)
		return snprintf(err, errlen, "reserve %g above cap %g", p->reserve, p->cap), -1;
	if (group >= (int)s->n_groups)
		return snprintf(err, errlen, "no group %d", group), -1;
	if (group < 0) {
		struct sched_share own = { .shares = p->shares };
		if ((group = sched_state_add_group(s, &own)) < 0)
			return snprintf(err, errlen, "too many groups"), -1;
	}
	if (reserved(s) + p->reserve > 1 + EPS)
		return snprintf(err, errlen, "reserves add up to more than all CPUs (%g)", reserved(s) + p->reserve), -1;
	s->vm[s->n_vms] = (struct sched_entity){ .vcpus = vcpus, .group = (unsigned)group, .p = *p };
	return (int)s->n_vms++;
}

uint64_t sched_quota(const struct sched_state *s, double cap)
{
	return cap > 0 ? (uint64_t)(cap * s->ncpus * s->period_ns) : UINT64_MAX;
}

/* CPUs a VM can use at once: gang holds one per vCPU, the others one per demanding vCPU. */
static unsigned width(const struct sched_state *s, const struct sched_entity *v)
{
	return s->policy == SCHED_GANG ? v->vcpus : (unsigned)__builtin_popcountll(v->demand);
}

/*
 * Spreads amount over the items in idx by weight w, none above head; what a
 * full item cannot take goes to the others. Adds to out[], lowers head[].
 * Returns what was given.
 */
static double waterfill(const unsigned *idx, unsigned n, const double *w, double *head, double amount, double *out)
{
	double given = 0;
	int open[SCHED_MAX_GROUPS];
	for (unsigned k = 0; k < n; k++)
		open[k] = head[idx[k]] > EPS && w[idx[k]] > 0;
	while (amount > EPS) {
		double total = 0;
		for (unsigned k = 0; k < n; k++)
			if (open[k])
				total += w[idx[k]];
		if (total <= 0)
			break;
		double spent = 0;
		int filled = 0;
		for (unsigned k = 0; k < n; k++) {
			if (!open[k])
				continue;
			unsigned i = idx[k];
			double give = amount * w[i] / total;
			if (give >= head[i] - EPS) {
				give = head[i];
				open[k] = 0;
				filled = 1;
			}
			out[i] += give;
			head[i] -= give;
			spent += give;
		}
		given += spent;
		amount -= spent;
		if (!filled)
			break; /* nobody was full: everything was handed out */
	}
	return given;
}

/* Gives a group `amount` more, split among its members by shares within their headroom. */
static double fill_group(const struct sched_state *s, unsigned g, double amount, double *head, double *e)
{
	unsigned idx[SCHED_MAX_VMS], n = 0;
	double w[SCHED_MAX_VMS];
	for (unsigned i = 0; i < s->n_vms; i++) {
		w[i] = s->vm[i].p.shares;
		if (s->vm[i].group == g)
			idx[n++] = i;
	}
	return waterfill(idx, n, w, head, amount, e);
}

void sched_entitle(const struct sched_state *s, double e[SCHED_MAX_VMS])
{
	double head[SCHED_MAX_VMS], ghead[SCHED_MAX_GROUPS], gw[SCHED_MAX_GROUPS], galloc[SCHED_MAX_GROUPS] = { 0 };
	double free_frac = 1;
	for (unsigned g = 0; g < s->n_groups; g++) {
		ghead[g] = s->group[g].p.cap > 0 ? s->group[g].p.cap : 1;
		gw[g] = s->group[g].p.shares;
	}
	for (unsigned i = 0; i < s->n_vms; i++) {
		const struct sched_entity *v = &s->vm[i];
		e[i] = 0;
		head[i] = v->demand ? (double)width(s, v) / s->ncpus : 0;
		if (v->p.cap > 0 && v->p.cap < head[i])
			head[i] = v->p.cap;
	}
	/* Reserves: each VM's own, then its group's, within every cap. */
	for (unsigned i = 0; i < s->n_vms; i++) {
		unsigned g = s->vm[i].group;
		double r = dmin(s->vm[i].p.reserve, dmin(head[i], ghead[g]));
		e[i] += r;
		head[i] -= r;
		ghead[g] -= r;
		galloc[g] += r;
		free_frac -= r;
	}
	for (unsigned g = 0; g < s->n_groups; g++) {
		double top = dmin(s->group[g].p.reserve - galloc[g], ghead[g]);
		if (top > EPS) {
			double r = fill_group(s, g, top, head, e);
			ghead[g] -= r;
			free_frac -= r;
		}
	}
	/* The rest by shares: among groups (each at most what its members can take), then within. */
	double take[SCHED_MAX_GROUPS] = { 0 };
	unsigned gidx[SCHED_MAX_GROUPS] = { 0 };
	for (unsigned g = 0; g < s->n_groups; g++) {
		double members = 0;
		for (unsigned i = 0; i < s->n_vms; i++)
			if (s->vm[i].group == g)
				members += head[i];
		ghead[g] = dmin(ghead[g], members);
		gidx[g] = g;
	}
	waterfill(gidx, s->n_groups, gw, ghead, free_frac > 0 ? free_frac : 0, take);
	for (unsigned g = 0; g < s->n_groups; g++)
		if (take[g] > EPS)
			fill_group(s, g, take[g], head, e);
}

/* Until when VM i may run from now without passing its or its group's cap in this period. */
static uint64_t cap_until(const struct sched_state *s, unsigned i, uint64_t now, uint64_t end)
{
	const struct sched_entity *v = &s->vm[i];
	const struct sched_group *g = &s->group[v->group];
	uint64_t q = sched_quota(s, v->p.cap), gq = sched_quota(s, g->p.cap);
	uint64_t left = q > v->period_used ? q - v->period_used : 0;
	uint64_t gleft = gq > g->period_used ? gq - g->period_used : 0;
	if (gleft < left)
		left = gleft;
	if (left == UINT64_MAX)
		return end;
	/* At full width it uses width CPU-ns per ns; an idle VM may wake with all its vCPUs. */
	unsigned w = width(s, v) ? width(s, v) : v->vcpus;
	uint64_t t = left / w;
	return t < end - now ? now + t : end;
}

/* Whether shares or reserves ask for more than Linux's per-thread fairness gives (os, relaxed). */
static int shares_matter(const struct sched_state *s)
{
	for (unsigned i = 0; i < s->n_vms; i++)
		if (s->vm[i].p.reserve > 0 || s->vm[i].p.shares != s->vm[0].p.shares)
			return 1;
	for (unsigned g = 0; g < s->n_groups; g++)
		if (s->group[g].p.reserve > 0 || s->group[g].p.shares != s->group[0].p.shares)
			return 1;
	return 0;
}

/* The order in which gang picks: furthest behind first, then the longest waiting. */
static int ahead_of(const struct sched_entity *a, unsigned ia, const struct sched_entity *b, unsigned ib)
{
	if (a->lag != b->lag)
		return a->lag > b->lag;
	if (a->last_run != b->last_run)
		return a->last_run < b->last_run;
	return ia < ib;
}

static void decide_gang(const struct sched_state *s, const int *eligible, struct sched_plan *p)
{
	unsigned order[SCHED_MAX_VMS], n = 0, free_cpus = s->ncpus;
	for (unsigned i = 0; i < s->n_vms; i++) {
		if (!eligible[i])
			continue;
		unsigned k = n++;
		while (k > 0 && ahead_of(&s->vm[i], i, &s->vm[order[k - 1]], order[k - 1])) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
	}
	/* Whole VMs only; the first always fits (vcpus <= ncpus), so the one furthest behind runs. */
	for (unsigned k = 0; k < n; k++) {
		unsigned i = order[k];
		if (s->vm[i].vcpus > free_cpus)
			continue;
		p->vm[i].run = 1;
		p->vm[i].first_cpu = s->ncpus - free_cpus;
		free_cpus -= s->vm[i].vcpus;
	}
}

static uint64_t slowest(const struct sched_entity *v)
{
	uint64_t min = UINT64_MAX;
	for (unsigned j = 0; j < v->vcpus; j++)
		if ((v->demand >> j & 1) && v->progress[j] < min)
			min = v->progress[j];
	return min;
}

/*
 * Relaxed: a vCPU ahead of its slowest demanding sibling by more than
 * skew_ns is co-stopped. Co-start: the co-stopped vCPUs stay stopped, all
 * of them, until the siblings running on have come within skew_ns / 2 of
 * the furthest ahead, and then restart together, rather than one by one as
 * each one's own lead shrinks (and soon stopped again).
 */
static uint64_t co_stop(const struct sched_state *s, const struct sched_entity *v)
{
	uint64_t held = v->costopped & v->demand, stop = 0, slow_run = UINT64_MAX, lead = 0;
	for (unsigned j = 0; j < v->vcpus; j++)
		if ((v->demand & ~held) >> j & 1 && v->progress[j] < slow_run)
			slow_run = v->progress[j];
	for (unsigned j = 0; j < v->vcpus; j++)
		if ((held >> j & 1) && v->progress[j] > slow_run && v->progress[j] - slow_run > lead)
			lead = v->progress[j] - slow_run;
	/* A co-stop goes on while a sibling runs and the lead is not made up; else all restart. */
	int going_on = slow_run != UINT64_MAX && lead > s->skew_ns / 2;
	uint64_t base = going_on ? slow_run : slowest(v);
	if (going_on)
		stop = held;
	for (unsigned j = 0; j < v->vcpus; j++)
		if ((v->demand >> j & 1) && v->progress[j] > base && v->progress[j] - base > s->skew_ns)
			stop |= 1ull << j;
	return stop;
}

void sched_decide(const struct sched_state *s, uint64_t now, struct sched_plan *p)
{
	int eligible[SCHED_MAX_VMS];
	int64_t behind = 0;
	memset(p, 0, sizeof(*p));
	p->start = now;
	p->end = now + s->slice_ns;
	uint64_t period_end = s->period_start + s->period_ns;
	if (period_end > now && period_end < p->end)
		p->end = period_end; /* quotas refill at the period's end: decide again there */
	for (unsigned i = 0; i < s->n_vms; i++) {
		p->vm[i].until = cap_until(s, i, now, p->end);
		eligible[i] = s->vm[i].demand && p->vm[i].until > now;
		if (eligible[i] && s->vm[i].lag > behind)
			behind = s->vm[i].lag;
	}
	if (s->policy == SCHED_GANG) {
		decide_gang(s, eligible, p);
		return;
	}
	/*
	 * Linux places the threads; a VM more than a slice of its width ahead
	 * sits out a slice while another is behind, so shares and reserves hold.
	 */
	int throttle = behind > 0 && shares_matter(s);
	for (unsigned i = 0; i < s->n_vms; i++) {
		const struct sched_entity *v = &s->vm[i];
		int64_t ahead = -(int64_t)(s->slice_ns * width(s, v));
		p->vm[i].run = eligible[i] && !(throttle && v->lag < ahead);
		if (p->vm[i].run && s->policy == SCHED_RELAXED)
			p->vm[i].stop = co_stop(s, v);
	}
}

static void roll_period(uint64_t *used, uint64_t quota)
{
	/* Only what went over the quota (a late stop) carries into the next period. */
	*used = quota != UINT64_MAX && *used > quota ? *used - quota : 0;
}

void sched_account(struct sched_state *s, uint64_t now, uint64_t elapsed, const uint64_t used[])
{
	double e[SCHED_MAX_VMS];
	int64_t bound = (int64_t)(s->ncpus * s->period_ns);
	sched_entitle(s, e);
	for (unsigned i = 0; i < s->n_vms; i++) {
		struct sched_entity *v = &s->vm[i];
		v->period_used += used[i];
		s->group[v->group].period_used += used[i];
		int64_t lag = v->lag - (int64_t)used[i];
		if (v->demand)
			lag += (int64_t)(e[i] * s->ncpus * elapsed);
		else if (lag > 0)
			lag = 0; /* a VM that wants nothing banks no credit */
		v->lag = lag > bound ? bound : lag < -bound ? -bound : lag;
		if (used[i])
			v->last_run = now;
		/* A waiting vCPU counts as keeping up (as VMware's): it holds no sibling back later. */
		uint64_t slow = slowest(v);
		for (unsigned j = 0; slow != UINT64_MAX && j < v->vcpus; j++)
			if (!(v->demand >> j & 1) && v->progress[j] < slow)
				v->progress[j] = slow;
		if (s->policy == SCHED_RELAXED)
			v->costopped = co_stop(s, v);
	}
	if (now >= s->period_start + s->period_ns) {
		for (unsigned i = 0; i < s->n_vms; i++)
			roll_period(&s->vm[i].period_used, sched_quota(s, s->vm[i].p.cap));
		for (unsigned g = 0; g < s->n_groups; g++)
			roll_period(&s->group[g].period_used, sched_quota(s, s->group[g].p.cap));
		s->period_start += (now - s->period_start) / s->period_ns * s->period_ns;
	}
}
