/*
 * The scheduler's decisions, apart from its threads: a pure function of the
 * state below and a virtual clock (nanoseconds), so that the policies can be
 * tested deterministically (tests/unit/test_sched_policy.c).
 *
 * Every slice the thread side (sched.c) calls sched_account() with what each
 * VM used in the slice that ended, updates each VM's demand, and follows the
 * plan of sched_decide(): which VMs run until when, on which CPUs (gang),
 * and which vCPUs are co-stopped (relaxed; they are co-started together).
 *
 * Shares, caps and reserves are fractions of the CPUs the scheduler owns,
 * per VM and per group (a VM outside any group forms a group of its own).
 * Each demanding VM is entitled to a fraction: its reserve first (then its
 * group's), the rest split by shares among groups and within each group,
 * never above a cap or above what its vCPUs can use. `lag` adds up
 * entitlement minus CPU time received while the VM demanded; the policies
 * favour the VMs furthest behind. Caps are hard: CPU time per cap period
 * never goes above cap x CPUs x period (what a stop arrived late to prevent
 * is carried into the next period).
 */
#ifndef BEYOND_SCHED_POLICY_H
#define BEYOND_SCHED_POLICY_H

#include <stdint.h>

#define SCHED_MAX_VMS 64
#define SCHED_MAX_GROUPS (2 * SCHED_MAX_VMS)
#define SCHED_MAX_CPUS 64
#define SCHED_MAX_VCPUS 64
#define SCHED_PERIOD_NS 100000000ull /* cap periods: 100 ms, as CFS bandwidth control */

enum sched_policy {
	SCHED_OS,      /* plain threads under Linux; the monitor only throttles */
	SCHED_GANG,    /* whole VMs per slice, each vCPU on a CPU of its own */
	SCHED_RELAXED, /* threads under Linux, siblings co-stopped when their progress skews */
	SCHED_POLICIES
};

/* Shares (weight > 0), cap and reserve (fractions of the owned CPUs; cap 0: none). */
struct sched_share {
	double shares, cap, reserve;
};

struct sched_group {
	struct sched_share p;
	uint64_t period_used;        /* CPU-ns of its members in this cap period */
};

struct sched_entity {
	unsigned vcpus;
	unsigned group;
	struct sched_share p;
	/* Kept current by the caller: */
	uint64_t demand;             /* bit i: vCPU i wants to run (not waiting, not parked) */
	uint64_t progress[SCHED_MAX_VCPUS]; /* CPU-ns each vCPU ran (relaxed's skew) */
	/* The policy's own: */
	uint64_t period_used;        /* CPU-ns in this cap period */
	int64_t lag;                 /* CPU-ns: entitled minus received while demanding */
	uint64_t last_run;           /* start of its last slice: ties go to the longest waiting */
	uint64_t costopped;          /* relaxed: vCPUs co-stopped until their siblings catch up (co-start) */
};

struct sched_state {
	enum sched_policy policy;
	unsigned ncpus;
	uint64_t slice_ns, period_ns, skew_ns;
	uint64_t period_start;
	unsigned n_vms, n_groups;
	struct sched_entity vm[SCHED_MAX_VMS];
	struct sched_group group[SCHED_MAX_GROUPS];
};

struct sched_plan {
	uint64_t start, end;         /* the slice */
	struct {
		int run;
		uint64_t until;          /* stop at this time (<= end): its cap */
		unsigned first_cpu;      /* gang: vCPU i runs on owned CPU first_cpu + i */
		uint64_t stop;           /* relaxed: vCPUs co-stopped for this slice */
	} vm[SCHED_MAX_VMS];
};

/* An empty state; 0, or -1 if ncpus or the times are out of range. */
int sched_state_init(struct sched_state *s, enum sched_policy policy, unsigned ncpus, uint64_t slice_ns);
/* A group; its index, or -1 when full. */
int sched_state_add_group(struct sched_state *s, const struct sched_share *p);
/* A VM in group (or, with group -1, in a group of its own); its index, or -1 with a reason. */
int sched_state_add_vm(struct sched_state *s, unsigned vcpus, int group, const struct sched_share *p,
		       char *err, unsigned errlen);

/* Each VM's entitled fraction of all owned CPUs now (0 when it does not demand). */
void sched_entitle(const struct sched_state *s, double e[SCHED_MAX_VMS]);
/* The plan for the slice starting at now. */
void sched_decide(const struct sched_state *s, uint64_t now, struct sched_plan *p);
/* The slice that ends at now lasted elapsed ns; VM i used used[i] CPU-ns (gang: CPUs held x time). */
void sched_account(struct sched_state *s, uint64_t now, uint64_t elapsed, const uint64_t used[]);

/* What the policy enforces of cap, in CPU-ns per period; UINT64_MAX without a cap. */
uint64_t sched_quota(const struct sched_state *s, double cap);
const char *sched_policy_name(enum sched_policy p);
/* "os", "gang", "relaxed"; -1 for anything else. */
int sched_policy_parse(const char *s, enum sched_policy *p);
/* A fraction "0.25" or "25%", 0 < f <= 1; and shares, 0 < w <= 1e6. 0 or -1. */
int sched_parse_fraction(const char *s, double *out);
int sched_parse_shares(const char *s, double *out);

#endif
