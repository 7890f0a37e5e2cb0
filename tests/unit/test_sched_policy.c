/*
 * The scheduling policies, deterministically: the plan of each slice is
 * followed exactly on a virtual clock (gang: CPUs held; os and relaxed:
 * Linux shares the CPUs evenly among the runnable vCPUs) and checked.
 */
#include <criterion/criterion.h>
#include <math.h>
#include "hv/sched/policy.h"

#define MS 1000000ull

struct sim {
	struct sched_state s;
	uint64_t now;
	uint64_t got[SCHED_MAX_VMS];        /* CPU-ns each VM received */
	uint64_t period_got[SCHED_MAX_VMS]; /* ... in the current cap period */
	uint64_t max_period[SCHED_MAX_VMS]; /* the most in any period */
	uint64_t last_ran[SCHED_MAX_VMS], max_gap[SCHED_MAX_VMS];
};

static void sim_init(struct sim *m, enum sched_policy p, unsigned ncpus)
{
	memset(m, 0, sizeof(*m));
	cr_assert_eq(sched_state_init(&m->s, p, ncpus, 5 * MS), 0);
}

static int add(struct sim *m, unsigned vcpus, int group, double shares, double cap, double reserve)
{
	struct sched_share p = { shares, cap, reserve };
	char err[128];
	int i = sched_state_add_vm(&m->s, vcpus, group, &p, err, sizeof(err));
	cr_assert_geq(i, 0, "%s", err);
	m->s.vm[i].demand = (1ull << vcpus) - 1;
	return i;
}

/* Checks the plan's gang invariant: whole VMs that want to run, on disjoint CPUs within ncpus. */
static void check_gang(const struct sched_state *s, const struct sched_plan *p)
{
	uint64_t cpus = 0;
	for (unsigned i = 0; i < s->n_vms; i++) {
		if (!p->vm[i].run)
			continue;
		cr_assert(s->vm[i].demand, "VM %u runs without demand", i);
		cr_assert_eq(p->vm[i].stop, 0, "gang never stops part of a VM");
		cr_assert_leq(p->vm[i].first_cpu + s->vm[i].vcpus, s->ncpus, "VM %u does not fit", i);
		uint64_t mine = ((1ull << s->vm[i].vcpus) - 1) << p->vm[i].first_cpu;
		cr_assert_eq(cpus & mine, 0, "VM %u shares a CPU with another", i);
		cpus |= mine;
	}
}

/* Follows plans for `ns` of virtual time. */
static void run(struct sim *m, uint64_t ns)
{
	struct sched_state *s = &m->s;
	uint64_t stop = m->now + ns, used[SCHED_MAX_VMS];
	while (m->now < stop) {
		struct sched_plan p;
		sched_decide(s, m->now, &p);
		cr_assert_gt(p.end, m->now);
		cr_assert_leq(p.end - m->now, s->slice_ns);
		if (s->policy == SCHED_GANG)
			check_gang(s, &p);
		double width = 0;
		for (unsigned i = 0; i < s->n_vms; i++)
			if (p.vm[i].run)
				width += __builtin_popcountll(s->vm[i].demand & ~p.vm[i].stop);
		double share = s->policy == SCHED_GANG || width <= s->ncpus ? 1 : s->ncpus / width;
		for (unsigned i = 0; i < s->n_vms; i++) {
			used[i] = 0;
			if (!p.vm[i].run)
				continue;
			cr_assert_leq(p.vm[i].until, p.end);
			unsigned w = s->policy == SCHED_GANG ? s->vm[i].vcpus
				   : (unsigned)__builtin_popcountll(s->vm[i].demand & ~p.vm[i].stop);
			used[i] = (uint64_t)(w * (p.vm[i].until - m->now) * share);
			for (unsigned j = 0; j < s->vm[i].vcpus; j++)
				if ((s->vm[i].demand & ~p.vm[i].stop) >> j & 1)
					s->vm[i].progress[j] += (uint64_t)((p.vm[i].until - m->now) * share);
			if (used[i]) {
				if (m->now - m->last_ran[i] > m->max_gap[i])
					m->max_gap[i] = m->now - m->last_ran[i];
				m->last_ran[i] = p.end;
			}
			m->got[i] += used[i];
			m->period_got[i] += used[i];
			if (m->period_got[i] > m->max_period[i])
				m->max_period[i] = m->period_got[i];
		}
		uint64_t period = s->period_start;
		sched_account(s, p.end, p.end - m->now, used);
		if (s->period_start != period)
			memset(m->period_got, 0, sizeof(m->period_got));
		m->now = p.end;
	}
}

static double frac(const struct sim *m, unsigned i, uint64_t ns)
{
	return (double)m->got[i] / ((double)m->s.ncpus * ns);
}

Test(sched_policy, gang_runs_whole_vms_only)
{
	struct sim m;
	sim_init(&m, SCHED_GANG, 4);
	add(&m, 2, -1, 1, 0, 0);
	add(&m, 3, -1, 1, 0, 0);
	add(&m, 1, -1, 1, 0, 0);
	add(&m, 4, -1, 2, 0, 0);
	for (int k = 0; k < 200; k++) {
		/* Demand comes and goes; run() checks every plan. */
		for (unsigned i = 0; i < m.s.n_vms; i++)
			m.s.vm[i].demand = ((k * 7 + i * 3) % 5) ? (1ull << m.s.vm[i].vcpus) - 1 : 0;
		run(&m, 5 * MS);
	}
}

Test(sched_policy, gang_refuses_a_vm_wider_than_its_cpus)
{
	struct sched_state s;
	struct sched_share p = { 1, 0, 0 };
	char err[128];
	sched_state_init(&s, SCHED_GANG, 2, 5 * MS);
	cr_assert_eq(sched_state_add_vm(&s, 3, -1, &p, err, sizeof(err)), -1);
	cr_assert(strstr(err, "cannot be gang-scheduled"), "%s", err);
	sched_state_init(&s, SCHED_OS, 2, 5 * MS);
	cr_assert_geq(sched_state_add_vm(&s, 3, -1, &p, err, sizeof(err)), 0, "os takes any width");
}

static void caps_hold(enum sched_policy pol)
{
	struct sim m;
	sim_init(&m, pol, 2);
	int c = add(&m, 2, -1, 4, 0.25, 0);
	add(&m, 2, -1, 1, 0, 0);
	add(&m, 2, -1, 1, 0, 0);
	run(&m, 2000 * MS);
	uint64_t quota = sched_quota(&m.s, 0.25);
	cr_assert_leq(m.max_period[c], quota, "%s: %lu CPU-ns in one period, cap %lu", sched_policy_name(pol),
		      (unsigned long)m.max_period[c], (unsigned long)quota);
	cr_assert_gt(frac(&m, c, 2000 * MS), 0.24, "%s: the cap is also reached: %g", sched_policy_name(pol),
		     frac(&m, c, 2000 * MS));
}

Test(sched_policy, caps_never_exceeded_in_any_period) { caps_hold(SCHED_GANG); caps_hold(SCHED_OS); caps_hold(SCHED_RELAXED); }

static void group_cap(enum sched_policy pol)
{
	struct sim m;
	struct sched_share g = { 1, 0.5, 0 };
	sim_init(&m, pol, 2);
	int grp = sched_state_add_group(&m.s, &g);
	int a = add(&m, 2, grp, 1, 0, 0), b = add(&m, 2, grp, 3, 0, 0);
	add(&m, 2, -1, 1, 0, 0);
	run(&m, 2000 * MS);
	double fa = frac(&m, a, 2000 * MS), fb = frac(&m, b, 2000 * MS);
	cr_assert_leq(fa + fb, 0.5 + 1e-9, "%s: %g + %g", sched_policy_name(pol), fa, fb);
	cr_assert_gt(fa + fb, 0.45, "%s: %g + %g", sched_policy_name(pol), fa, fb);
	cr_assert_float_eq(fb, 3 * fa, 0.05, "%s: shares split the group's part: %g, %g", sched_policy_name(pol), fa, fb);
}

Test(sched_policy, group_cap_bounds_its_members_together) { group_cap(SCHED_GANG); group_cap(SCHED_OS); }

Test(sched_policy, reserve_met_when_demanded)
{
	enum sched_policy pols[] = { SCHED_GANG, SCHED_OS };
	for (unsigned k = 0; k < 2; k++) {
		struct sim m;
		sim_init(&m, pols[k], 2);
		int r = add(&m, 2, -1, 1, 0, 0.5);
		add(&m, 2, -1, 10, 0, 0);
		add(&m, 2, -1, 10, 0, 0);
		run(&m, 1000 * MS);
		cr_assert_geq(frac(&m, r, 1000 * MS), 0.49, "%s: reserve 0.5, got %g", sched_policy_name(pols[k]),
			      frac(&m, r, 1000 * MS));
	}
}

Test(sched_policy, shares_split_what_reserves_leave)
{
	struct sim m;
	sim_init(&m, SCHED_GANG, 2);
	int a = add(&m, 2, -1, 1, 0, 0.5), b = add(&m, 2, -1, 1, 0, 0), c = add(&m, 2, -1, 2, 0, 0);
	double e[SCHED_MAX_VMS];
	sched_entitle(&m.s, e);
	cr_assert_float_eq(e[a], 0.625, 1e-9);
	cr_assert_float_eq(e[b], 0.125, 1e-9);
	cr_assert_float_eq(e[c], 0.25, 1e-9);
	run(&m, 4000 * MS);
	cr_assert_float_eq(frac(&m, a, 4000 * MS), 0.625, 0.02, "%g", frac(&m, a, 4000 * MS));
	cr_assert_float_eq(frac(&m, b, 4000 * MS), 0.125, 0.02, "%g", frac(&m, b, 4000 * MS));
	cr_assert_float_eq(frac(&m, c, 4000 * MS), 0.25, 0.02, "%g", frac(&m, c, 4000 * MS));
}

Test(sched_policy, an_idle_vm_gives_its_share_to_the_others)
{
	struct sim m;
	sim_init(&m, SCHED_GANG, 2);
	int a = add(&m, 2, -1, 1, 0, 0), b = add(&m, 2, -1, 3, 0, 0), idle = add(&m, 2, -1, 100, 0, 0);
	m.s.vm[idle].demand = 0;
	run(&m, 2000 * MS);
	cr_assert_eq(m.got[idle], 0);
	cr_assert_float_eq(frac(&m, a, 2000 * MS), 0.25, 0.02);
	cr_assert_float_eq(frac(&m, b, 2000 * MS), 0.75, 0.02);
	/* Waking up, it banks no credit from its idle time: it gets its share from now on, not more. */
	m.s.vm[idle].demand = 3;
	memset(m.got, 0, sizeof(m.got));
	run(&m, 2000 * MS);
	cr_assert_float_eq(frac(&m, idle, 2000 * MS), 100.0 / 104, 0.03, "%g", frac(&m, idle, 2000 * MS));
}

Test(sched_policy, no_starvation)
{
	struct sim m;
	sim_init(&m, SCHED_GANG, 2);
	/* One-vCPU VMs could fill the CPUs every slice; the two-vCPU one must still get its turn. */
	int wide = add(&m, 2, -1, 1, 0, 0);
	add(&m, 1, -1, 1, 0, 0);
	add(&m, 1, -1, 1, 0, 0);
	add(&m, 1, -1, 1, 0, 0);
	run(&m, 2000 * MS);
	for (unsigned i = 0; i < m.s.n_vms; i++) {
		cr_assert_leq(m.max_gap[i], 20 * m.s.slice_ns, "VM %u waited %lu ns", i, (unsigned long)m.max_gap[i]);
		cr_assert_gt(frac(&m, i, 2000 * MS), 0.2, "VM %u got %g", i, frac(&m, i, 2000 * MS));
	}
	cr_assert_float_eq(frac(&m, wide, 2000 * MS), 0.25, 0.03);
}

Test(sched_policy, relaxed_co_stops_the_vcpu_ahead)
{
	struct sim m;
	sim_init(&m, SCHED_RELAXED, 2);
	int v = add(&m, 2, -1, 1, 0, 0);
	m.s.vm[v].progress[0] = 20 * MS;
	m.s.vm[v].progress[1] = 1 * MS;
	struct sched_plan p;
	sched_decide(&m.s, 0, &p);
	cr_assert_eq(p.vm[v].stop, 1, "vCPU 0 leads by 19 ms: co-stopped");
	m.s.vm[v].demand = 1; /* vCPU 1 waits: it holds nobody back */
	sched_decide(&m.s, 0, &p);
	cr_assert_eq(p.vm[v].stop, 0);
}

/* Relaxed, one 3-vCPU VM on 3 CPUs whose vCPUs ran for the given ms; its index. */
static int skewed(struct sim *m, uint64_t ms0, uint64_t ms1, uint64_t ms2)
{
	sim_init(m, SCHED_RELAXED, 3);
	int v = add(m, 3, -1, 1, 0, 0);
	m->s.vm[v].progress[0] = ms0 * MS;
	m->s.vm[v].progress[1] = ms1 * MS;
	m->s.vm[v].progress[2] = ms2 * MS;
	return v;
}

Test(sched_policy, relaxed_co_starts_the_co_stopped_together)
{
	struct sim m;
	/* vCPU 2 runs alone and gains a slice (5 ms) each time: it passes 1's lead before 0's. */
	int v = skewed(&m, 30, 27, 12);
	uint64_t first = 0, restarted = 0;
	for (int k = 0; k < 40; k++) {
		struct sched_plan p;
		sched_decide(&m.s, m.now, &p);
		uint64_t stop = p.vm[v].stop;
		if (k == 0)
			first = stop;
		/* Both leaders stop together and restart together: never one of them alone. */
		cr_assert(stop == 0 || stop == 3, "slice %d: co-stopped %#lx", k, (unsigned long)stop);
		if (!stop && first && !restarted) {
			restarted = 1;
			cr_assert_geq(m.s.vm[v].progress[2] + m.s.skew_ns / 2, m.s.vm[v].progress[0],
				      "co-started before the laggard caught up");
		}
		run(&m, m.s.slice_ns);
	}
	cr_assert_eq(first, 3, "vCPUs 0 and 1 lead by 18 and 15 ms: co-stopped");
	cr_assert(restarted, "the laggard caught up and the VM was co-started");
}

Test(sched_policy, relaxed_never_stops_the_slowest)
{
	struct sim m;
	int v = skewed(&m, 30, 24, 10);
	run(&m, m.s.slice_ns); /* 0 and 1 co-stopped */
	m.s.vm[v].demand = 3; /* the laggard waits: of the co-stopped, the slower must run on */
	struct sched_plan p;
	sched_decide(&m.s, m.now, &p);
	cr_assert_eq(p.vm[v].stop, 1);
}

Test(sched_policy, os_leaves_linux_alone_without_settings)
{
	struct sim m;
	sim_init(&m, SCHED_OS, 2);
	for (int i = 0; i < 4; i++)
		add(&m, 2, -1, 1, 0, 0);
	m.s.vm[0].lag = -(int64_t)(50 * MS); /* far ahead: still not throttled when nothing is configured */
	m.s.vm[1].lag = 50 * MS;
	struct sched_plan p;
	sched_decide(&m.s, 0, &p);
	for (int i = 0; i < 4; i++)
		cr_assert(p.vm[i].run);
}

Test(sched_policy, parsing)
{
	double v;
	enum sched_policy p;
	cr_assert_eq(sched_parse_fraction("25%", &v), 0);
	cr_assert_float_eq(v, 0.25, 1e-12);
	cr_assert_eq(sched_parse_fraction("0.5", &v), 0);
	const char *bad[] = { "0", "1.5", "-0.1", "x", "", "nan", "inf", "25%%", "0.2x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(sched_parse_fraction(bad[i], &v), -1, "%s", bad[i]);
	cr_assert_eq(sched_parse_shares("0", &v), -1);
	cr_assert_eq(sched_parse_shares("1e7", &v), -1);
	cr_assert_eq(sched_policy_parse("gang", &p), 0);
	cr_assert_eq(p, SCHED_GANG);
	cr_assert_eq(sched_policy_parse("fifo", &p), -1);
}
