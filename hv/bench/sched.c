/*
 * `beyond bench sched`: the sched guest's workloads (lock, barrier,
 * independent) with ticket and PV locks, 1x, 2x and 4x overcommitted
 * (1, 2 and 4 VMs of as many vCPUs as the scheduler has CPUs), under each
 * policy; then a caps run: three VMs with a cap, a reserve and shares only.
 * Throughput is each VM's operations against one VM alone under os (the
 * dedicated run), divided by its fair share 1/overcommit: 1.0 is ideal.
 * `--slice sweep` instead runs the lock and independent workloads at 2x
 * under os and gang for each slice of a list: how the default was chosen.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "guest-runtime/workloads/sched.h"
#include "hv/bench/bench.h"
#include "hv/cli/cli.h"
#include "hv/guests.h"
#include "hv/sched/sched.h"
#include "hv/vm.h"
#include "mm/pagetable.h"

#define MAX_VMS 4
#define MAX_REPS 16
#define N_OVER 3
static const unsigned overcommits[N_OVER] = { 1, 2, 4 };

static const char sched_usage[] =
	"usage: beyond bench sched [--quick] [--ms N] [--reps N] [--slice TIME|sweep] [--caps-seconds N] [--json FILE]\n"
	"--ms N: how long each run's VMs work (default 1000, quick 300); --reps N: runs per cell (default 3, quick 1)\n"
	"--caps-seconds N: the caps run (default 10, quick 2)\n"
	"--slice sweep: lock and independent workloads at 2x under os and gang, per slice from 0.5 to 20 ms\n";

/* The slices of --slice sweep. */
static const uint64_t sweep_slices[] = { 500000, 1000000, 2000000, 5000000, 10000000, 20000000 };
#define N_SWEEP (sizeof(sweep_slices) / sizeof(sweep_slices[0]))

struct cell {
	unsigned over, policy, lock, workload;
	uint64_t slice_ns;
	struct bench_check check;
	unsigned n;
	double ops[MAX_REPS * MAX_VMS];      /* per VM per run: operations per second */
	double norm[MAX_REPS * MAX_VMS];     /* ... against the dedicated run, over the fair share */
	uint64_t hist[BEYOND_SCHED_HIST];
	double waits, kicks, seconds;        /* PV hypercalls and the time they span, summed */
};

struct sched_bench {
	unsigned ms, reps, ncpus;
	uint64_t slice_ns;
	int sweep;                           /* --slice sweep */
	double tsc_hz, caps_seconds;
	struct cell *cells;
	unsigned n_cells;
	struct { const char *what; double setting, got; struct bench_check check; } caps[SCHED_POLICIES][3];
};

struct collect {
	pthread_mutex_t lock;           /* the vCPUs of a VM report at the same moment */
	uint64_t ops[MAX_VMS], cycles[MAX_VMS];
	unsigned records[MAX_VMS];
	struct cell *c;
	char bad[128];
};

struct vm_ctx {
	struct collect *x;
	unsigned vm;
};

static void on_result(void *opaque, uint32_t type, const void *rec, uint32_t len)
{
	struct vm_ctx *v = opaque;
	const struct beyond_sched_result *r = rec;
	pthread_mutex_lock(&v->x->lock);
	if (type != BEYOND_RESULT_SCHED || len != sizeof(*r)) {
		snprintf(v->x->bad, sizeof(v->x->bad), "result record of type %u, %u bytes", type, len);
		pthread_mutex_unlock(&v->x->lock);
		return;
	}
	v->x->ops[v->vm] += r->ops;
	if (r->cycles > v->x->cycles[v->vm])
		v->x->cycles[v->vm] = r->cycles;
	v->x->records[v->vm]++;
	for (unsigned b = 0; b < BEYOND_SCHED_HIST; b++)
		v->x->c->hist[b] += r->hist[b];
	v->x->c->waits += r->waits;
	v->x->c->kicks += r->kicks;
	pthread_mutex_unlock(&v->x->lock);
}

/*
 * Runs n VMs of `vcpus` vCPUs with the sched guest's args under policy;
 * args NULL runs the caps VMs (independent work, options from opts[i]).
 * Returns 0 with each VM's ops/s in ops[], and cpu[] its CPU fraction.
 */
/* Per-VM module options of the caps run. */
struct vm_opts {
	struct vm_option o[2];
	unsigned n;
};

static int run_vms(struct sched_bench *b, struct kvm_host *kvm, unsigned policy, uint64_t slice_ns, unsigned n,
		   char **args, const struct vm_opts *opts, struct collect *x, struct bench_check *check, double *cpu)
{
	const struct builtin_guest *g = builtin_guest_find("sched");
	struct sched_options so;
	struct vm vms[MAX_VMS], *list[MAX_VMS];
	struct vm_ctx ctx[MAX_VMS];
	char err[512];
	unsigned made = 0;
	sched_options_default(&so);
	so.policy = policy;
	so.slice_ns = slice_ns;
	struct sched *s = sched_create(&so, err, sizeof(err));
	if (!s) {
		bench_fail(check, "%s", err);
		return -1;
	}
	for (; made < n; made++) {
		ctx[made] = (struct vm_ctx){ x, made };
		char name[16];
		snprintf(name, sizeof(name), "vm%u", made);
		struct vm_config cfg = {
			.name = name, .image = g->image, .image_size = g->size, .mem_size = 64ull << 20,
			.vcpus = b->ncpus, .guest_page = PT_2M, .host_pages = HOST_THP, .timeout = 60 + b->caps_seconds,
			.argc = 3, .argv = args, .console_fd = STDERR_FILENO, .on_result = on_result, .opaque = &ctx[made],
			.options = opts ? opts[made].o : NULL, .n_options = opts ? opts[made].n : 0, .sched = s,
		};
		list[made] = &vms[made];
		if (vm_create(&vms[made], kvm, &cfg, err, sizeof(err))) {
			bench_fail(check, "%s", err);
			vm_destroy(&vms[made]);
			break;
		}
	}
	double t0 = bench_now();
	if (made > 0 && vms[0].tsc_hz)
		b->tsc_hz = (double)vms[0].tsc_hz; /* KVM_GET_TSC_KHZ: the guests' cycles */
	if (made == n) {
		int bad = sched_run(s, list, n);
		if (bad >= 0)
			bench_fail(check, "VM %d: %s", bad, vms[bad].reason);
	}
	double wall = bench_now() - t0;
	for (unsigned i = 0; i < made; i++) {
		if (cpu)
			cpu[i] = sched_vm_cpu_ns(&vms[i]) / 1e9 / wall / b->ncpus;
		vm_destroy(&vms[i]);
	}
	sched_destroy(s);
	if (x->bad[0])
		bench_fail(check, "%s", x->bad);
	for (unsigned i = 0; i < n && check->achieved; i++)
		if (x->records[i] != b->ncpus)
			bench_fail(check, "VM %u reported %u of %u records", i, x->records[i], b->ncpus);
	return check->achieved ? 0 : -1;
}

static struct cell *find(struct sched_bench *b, unsigned over, unsigned policy, unsigned lock, unsigned w,
			 uint64_t slice_ns)
{
	for (unsigned i = 0; i < b->n_cells; i++) {
		struct cell *c = &b->cells[i];
		if (c->over == over && c->policy == policy && c->lock == lock && c->workload == w && c->slice_ns == slice_ns)
			return c;
	}
	return NULL;
}

static void run_cell(struct sched_bench *b, struct kvm_host *kvm, struct cell *c)
{
	char wl[16], lk[16], ms[16];
	char *args[3] = { wl, lk, ms };
	snprintf(wl, sizeof(wl), "%s", sched_workload_name(c->workload));
	snprintf(lk, sizeof(lk), "%s", sched_lock_name(c->lock));
	snprintf(ms, sizeof(ms), "%u", b->ms);
	struct collect x = { .lock = PTHREAD_MUTEX_INITIALIZER, .c = c };
	if (run_vms(b, kvm, c->policy, c->slice_ns, c->over, args, NULL, &x, &c->check, NULL) != 0)
		return;
	for (unsigned i = 0; i < c->over && c->n < MAX_REPS * MAX_VMS && b->tsc_hz > 0; i++) {
		double sec = x.cycles[i] / b->tsc_hz;
		c->ops[c->n++] = sec > 0 ? x.ops[i] / sec : 0;
		c->seconds += sec;
	}
}

/* Fills norm[]: against the dedicated run (os, 1x, same lock and workload), over the fair share. */
static void normalise(struct sched_bench *b)
{
	for (unsigned i = 0; i < b->n_cells; i++) {
		struct cell *c = &b->cells[i];
		struct cell *d = find(b, 1, SCHED_OS, c->lock, c->workload, b->slice_ns);
		struct bench_stats st;
		if (!d || !bench_stats(d->ops, d->check.achieved ? d->n : 0, &st) || st.median <= 0) {
			bench_fail(&c->check, "no dedicated (1x, os) run to compare with");
			continue;
		}
		for (unsigned k = 0; k < c->n; k++)
			c->norm[k] = c->ops[k] / st.median * c->over;
	}
}

/* The wait time below which a fraction q of the waits lie, in microseconds (log2 buckets: their middle). */
static double wait_quantile(const struct sched_bench *b, const struct cell *c, double q)
{
	uint64_t total = 0, seen = 0;
	for (unsigned k = 0; k < BEYOND_SCHED_HIST; k++)
		total += c->hist[k];
	for (unsigned k = 0; k < BEYOND_SCHED_HIST && total; k++) {
		seen += c->hist[k];
		if (seen >= q * total)
			return 1.5 * (double)(1ull << k) / b->tsc_hz * 1e6;
	}
	return NAN;
}

/* Three VMs, each wanting every CPU: a cap (with shares 4, so it asks for more), a reserve, shares only. */
static void caps_run(struct sched_bench *b, struct kvm_host *kvm, unsigned policy)
{
	static const struct vm_opts opts[3] = {
		{ { { "cap", "0.25" }, { "shares", "4" } }, 2 }, { { { "reserve", "0.5" } }, 1 }, { { { 0 } }, 0 },
	};
	static const char *const what[3] = { "cap 0.25, shares 4", "reserve 0.5", "shares 1" };
	static const struct sched_share share[3] = { { 4, 0.25, 0 }, { 1, 0, 0.5 }, { 1, 0, 0 } };
	/* What the policy entitles each to, all wanting every CPU (a reserve is a floor: the reserve
	 * VM's shares count for the rest too, so it gets 0.625 and the shares-only VM 0.125). */
	double expect[SCHED_MAX_VMS] = { 0 };
	struct sched_state st;
	char why[128];
	sched_state_init(&st, policy, b->ncpus, b->slice_ns);
	for (unsigned i = 0; i < 3; i++) {
		sched_state_add_vm(&st, b->ncpus, -1, &share[i], why, sizeof(why));
		st.vm[i].demand = (1ull << b->ncpus) - 1;
	}
	sched_entitle(&st, expect);
	char ms[16], wl[] = "independent", lk[] = "ticket";
	char *args[3] = { wl, lk, ms };
	struct cell scratch = { 0 };
	struct collect x = { .lock = PTHREAD_MUTEX_INITIALIZER, .c = &scratch };
	double cpu[3] = { 0 };
	struct bench_check check;
	snprintf(ms, sizeof(ms), "%.0f", b->caps_seconds * 1000);
	bench_check_init(&check);
	run_vms(b, kvm, policy, b->slice_ns, 3, args, opts, &x, &check, cpu);
	for (unsigned i = 0; i < 3; i++) {
		b->caps[policy][i].what = what[i];
		b->caps[policy][i].setting = expect[i];
		b->caps[policy][i].got = cpu[i];
		b->caps[policy][i].check = check;
		if (check.achieved && i == 0 && cpu[i] > expect[i] + 0.02)
			bench_fail(&b->caps[policy][i].check, "not achieved: %.3f is above the cap", cpu[i]);
		if (check.achieved && i == 1 && cpu[i] < share[i].reserve - 0.02)
			bench_fail(&b->caps[policy][i].check, "not achieved: %.3f is below the reserve", cpu[i]);
	}
}

static const char *cell_label(const struct cell *c, char *buf, size_t len)
{
	snprintf(buf, len, "%ux %-7s %-6s %-11s %4.1fms", c->over, sched_policy_name(c->policy), sched_lock_name(c->lock),
		 sched_workload_name(c->workload), c->slice_ns / 1e6);
	return buf;
}

/* The medians of a cell; 0 when it was not achieved. */
static int cell_stats(const struct cell *c, struct bench_stats *norm, struct bench_stats *ops)
{
	return bench_stats(c->norm, c->check.achieved ? c->n : 0, norm) &&
	       bench_stats(c->ops, c->check.achieved ? c->n : 0, ops);
}

static double median_norm(struct sched_bench *b, unsigned over, unsigned policy, unsigned lock, unsigned w,
			  uint64_t slice_ns)
{
	struct cell *c = find(b, over, policy, lock, w, slice_ns);
	struct bench_stats n, o;
	return c && cell_stats(c, &n, &o) ? n.median : NAN;
}

static void target(const char *what, double got, double want)
{
	if (isnan(got))
		printf("  %-52s not achieved: a run is missing\n", what);
	else
		printf("  %-52s %6.2f (target %s%.2f)%s\n", what, got, want < 0 ? "<= " : ">= ", (want < 0 ? -want : want),
		       (want < 0 ? got <= -want : got >= want) ? "" : "  not achieved");
}

/* Per slice at 2x: what gang and PV locks gain on the lock workload, and what gang costs independent work. */
static void report_sweep(struct sched_bench *b)
{
	printf("\nslice sweep at 2x (medians over the fair share; ratios against os + ticket at the same slice)\n"
	       "%8s %12s %12s %12s %12s %14s\n", "slice", "os+ticket", "gang+ticket", "gang+pv", "os+pv",
	       "indep gang/os");
	for (unsigned k = 0; k < N_SWEEP; k++) {
		uint64_t sl = sweep_slices[k];
		double os_t = median_norm(b, 2, SCHED_OS, SCHED_LOCK_TICKET, SCHED_WL_LOCK, sl);
		printf("%6.1fms %12.3f %12.2f %12.2f %12.2f %14.3f\n", sl / 1e6, os_t,
		       median_norm(b, 2, SCHED_GANG, SCHED_LOCK_TICKET, SCHED_WL_LOCK, sl) / os_t,
		       median_norm(b, 2, SCHED_GANG, SCHED_LOCK_PV, SCHED_WL_LOCK, sl) / os_t,
		       median_norm(b, 2, SCHED_OS, SCHED_LOCK_PV, SCHED_WL_LOCK, sl) / os_t,
		       median_norm(b, 2, SCHED_GANG, SCHED_LOCK_TICKET, SCHED_WL_INDEPENDENT, sl) /
			       median_norm(b, 2, SCHED_OS, SCHED_LOCK_TICKET, SCHED_WL_INDEPENDENT, sl));
	}
}

static void report_table(struct sched_bench *b)
{
	char label[64];
	printf("\nthroughput per VM against one VM alone under os, over the fair share (1.0 ideal): median [min, max]\n"
	       "spread = (max - min) / median across VMs and runs; lock/barrier wait in us (log2 buckets)\n\n");
	printf("%-41s %7s %7s %7s %7s %9s %9s %9s %9s\n", "configuration", "median", "min", "max", "spread",
	       "wait p50", "wait p99", "waits/s", "kicks/s");
	for (unsigned i = 0; i < b->n_cells; i++) {
		struct cell *c = &b->cells[i];
		struct bench_stats n, o;
		cell_label(c, label, sizeof(label));
		if (!cell_stats(c, &n, &o)) {
			printf("%-41s not achieved: %s\n", label, c->check.reason);
			continue;
		}
		printf("%-41s %7.3f %7.3f %7.3f %7.3f %9.1f %9.1f %9.0f %9.0f\n", label, n.median, n.min, n.max, n.spread,
		       wait_quantile(b, c, 0.5), wait_quantile(b, c, 0.99), c->seconds ? c->waits / c->seconds : 0,
		       c->seconds ? c->kicks / c->seconds : 0);
	}
	if (b->sweep) {
		report_sweep(b);
		return;
	}
	double os_t = median_norm(b, 2, SCHED_OS, SCHED_LOCK_TICKET, SCHED_WL_LOCK, b->slice_ns);
	printf("\ntargets (lock workload at 2x, against os + ticket; independent: gang against os)\n");
	target("gang + ticket / os + ticket", median_norm(b, 2, SCHED_GANG, SCHED_LOCK_TICKET, SCHED_WL_LOCK, b->slice_ns) / os_t, 5);
	target("os + pv / os + ticket", median_norm(b, 2, SCHED_OS, SCHED_LOCK_PV, SCHED_WL_LOCK, b->slice_ns) / os_t, 8);
	target("gang + pv / os + ticket", median_norm(b, 2, SCHED_GANG, SCHED_LOCK_PV, SCHED_WL_LOCK, b->slice_ns) / os_t, 8);
	for (unsigned k = 0; k < N_OVER; k++) {
		char what[64];
		snprintf(what, sizeof(what), "independent %ux: |gang / os - 1|", overcommits[k]);
		double r = median_norm(b, overcommits[k], SCHED_GANG, SCHED_LOCK_TICKET, SCHED_WL_INDEPENDENT, b->slice_ns) /
			   median_norm(b, overcommits[k], SCHED_OS, SCHED_LOCK_TICKET, SCHED_WL_INDEPENDENT, b->slice_ns) - 1;
		target(what, r < 0 ? -r : r, -0.05);
	}
	printf("\ncaps run (%.0f s, three VMs of %u vCPUs): CPU fraction of the scheduler's %u CPUs\n", b->caps_seconds,
	       b->ncpus, b->ncpus);
	for (unsigned p = 0; p < SCHED_POLICIES; p++)
		for (unsigned i = 0; i < 3 && b->caps[p][i].what; i++) {
			if (!b->caps[p][i].check.achieved && b->caps[p][i].got == 0)
				printf("  %-8s %-20s not achieved: %s\n", sched_policy_name(p), b->caps[p][i].what,
				       b->caps[p][i].check.reason);
			else
				printf("  %-8s %-20s %.3f (entitled %.3f)%s%s\n", sched_policy_name(p), b->caps[p][i].what,
				       b->caps[p][i].got, b->caps[p][i].setting, b->caps[p][i].check.achieved ? "" : "  ",
				       b->caps[p][i].check.achieved ? "" : b->caps[p][i].check.reason);
		}
}

static int report_json(struct sched_bench *b, const struct bench_out *o)
{
	FILE *f = bench_out_open(o, "json");
	if (!f)
		return -1;
	struct json j;
	json_start(&j, f);
	json_object(&j, NULL, 1);
	json_uint(&j, "cpus", b->ncpus);
	json_uint(&j, "ms", b->ms);
	json_uint(&j, "slice_ns", b->slice_ns);
	json_array(&j, "runs", 1);
	for (unsigned i = 0; i < b->n_cells; i++) {
		struct cell *c = &b->cells[i];
		struct bench_stats n, op;
		int ok = cell_stats(c, &n, &op);
		json_object(&j, NULL, 0);
		json_uint(&j, "overcommit", c->over);
		json_str(&j, "policy", sched_policy_name(c->policy));
		json_str(&j, "lock", sched_lock_name(c->lock));
		json_str(&j, "workload", sched_workload_name(c->workload));
		json_uint(&j, "slice_ns", c->slice_ns);
		json_num(&j, "normalized_median", ok ? n.median : NAN, 4);
		json_num(&j, "normalized_min", ok ? n.min : NAN, 4);
		json_num(&j, "normalized_max", ok ? n.max : NAN, 4);
		json_num(&j, "spread", ok ? n.spread : NAN, 4);
		json_num(&j, "ops_per_s_median", ok ? op.median : NAN, 1);
		json_num(&j, "wait_us_p50", ok ? wait_quantile(b, c, 0.5) : NAN, 2);
		json_num(&j, "wait_us_p99", ok ? wait_quantile(b, c, 0.99) : NAN, 2);
		json_num(&j, "waits_per_s", ok && c->seconds ? c->waits / c->seconds : NAN, 1);
		json_num(&j, "kicks_per_s", ok && c->seconds ? c->kicks / c->seconds : NAN, 1);
		json_array(&j, "normalized", 0);
		for (unsigned k = 0; ok && k < c->n; k++)
			json_num(&j, NULL, c->norm[k], 4);
		json_end(&j);
		json_check(&j, &c->check);
		json_end(&j);
	}
	json_end(&j);
	json_array(&j, "caps", 1);
	for (unsigned p = 0; p < SCHED_POLICIES; p++)
		for (unsigned i = 0; i < 3 && b->caps[p][i].what; i++) {
			json_object(&j, NULL, 0);
			json_str(&j, "policy", sched_policy_name(p));
			json_str(&j, "vm", b->caps[p][i].what);
			json_num(&j, "entitled", b->caps[p][i].setting, 3);
			json_num(&j, "cpu_fraction", b->caps[p][i].got, 4);
			json_check(&j, &b->caps[p][i].check);
			json_end(&j);
		}
	json_end(&j);
	json_end(&j);
	if (bench_out_close(o, "json", f))
		return -1;
	printf("\nJSON: %s.json\n", o->stem);
	return 0;
}

/* STEM.dat: per workload and lock, a row per overcommit: the median of each policy. */
static int write_dat(struct sched_bench *b, const struct bench_out *o)
{
	FILE *dat = bench_out_open(o, "dat");
	if (!dat)
		return -1;
	for (unsigned w = 0; w < SCHED_WORKLOADS; w++)
		for (unsigned l = 0; l < SCHED_LOCKS; l++) {
			fprintf(dat, "# %s %s: overcommit os gang relaxed\n", sched_workload_name(w), sched_lock_name(l));
			for (unsigned k = 0; k < N_OVER; k++) {
				fprintf(dat, "%u", overcommits[k]);
				for (unsigned p = 0; p < SCHED_POLICIES; p++) {
					double v = median_norm(b, overcommits[k], p, l, w, b->slice_ns);
					fprintf(dat, isnan(v) ? " NaN" : " %g", v);
				}
				fprintf(dat, "\n");
			}
			fprintf(dat, "\n\n");
		}
	return bench_out_close(o, "dat", dat);
}

static void plot_body(FILE *gp, const char *dat, void *ctx)
{
	(void)ctx;
	fprintf(gp, "set logscale x 2\nset xrange [0.8:5]\nset yrange [0:*]\nset xlabel 'overcommit'\n"
		    "set ylabel 'throughput / fair share'\nset key top right font ',8'\nset grid\n"
		    "set multiplot layout %u,%u title 'beyond bench sched'\n", SCHED_LOCKS, SCHED_WORKLOADS);
	for (unsigned l = 0; l < SCHED_LOCKS; l++)
		for (unsigned w = 0; w < SCHED_WORKLOADS; w++) {
			fprintf(gp, "set title '%s, %s locks'\nplot ", sched_workload_name(w), sched_lock_name(l));
			for (unsigned p = 0; p < SCHED_POLICIES; p++)
				fprintf(gp, "%s'%s' index %u using 1:%u with linespoints title '%s'", p ? ", " : "", dat,
					w * SCHED_LOCKS + l, p + 2, sched_policy_name(p));
			fprintf(gp, ", 1 with lines dt 2 lc 'gray' notitle\n");
		}
	fprintf(gp, "unset multiplot\n");
}

#define MAX_CELLS (N_OVER * SCHED_POLICIES * SCHED_LOCKS * SCHED_WORKLOADS + N_SWEEP * 2 * SCHED_LOCKS * SCHED_WORKLOADS)

static void add_cell(struct sched_bench *b, unsigned over, unsigned p, unsigned l, unsigned w, uint64_t slice_ns)
{
	struct cell *cl = &b->cells[b->n_cells++];
	*cl = (struct cell){ .over = over, .policy = p, .lock = l, .workload = w, .slice_ns = slice_ns };
	bench_check_init(&cl->check);
}

/* The matrix; or for a sweep the dedicated runs, then os and gang at 2x per slice. */
static void add_cells(struct sched_bench *b)
{
	for (unsigned k = 0; k < (b->sweep ? 1 : N_OVER); k++)
		for (unsigned p = 0; p < (b->sweep ? 1 : SCHED_POLICIES); p++)
			for (unsigned w = 0; w < SCHED_WORKLOADS; w++)
				for (unsigned l = 0; l < (w == SCHED_WL_INDEPENDENT ? 1u : SCHED_LOCKS); l++)
					if (!b->sweep || w != SCHED_WL_BARRIER)
						add_cell(b, overcommits[k], p, l, w, b->slice_ns);
	for (unsigned k = 0; b->sweep && k < N_SWEEP; k++)
		for (unsigned p = SCHED_OS; p <= SCHED_GANG; p++)
			for (unsigned w = 0; w < SCHED_WORKLOADS; w++)
				for (unsigned l = 0; l < (w == SCHED_WL_INDEPENDENT ? 1u : SCHED_LOCKS); l++)
					if (w != SCHED_WL_BARRIER)
						add_cell(b, 2, p, l, w, sweep_slices[k]);
}

int bench_sched_main(int argc, char **argv)
{
	static const struct option opts[] = {
		BENCH_OPTIONS,
		{ "ms", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "slice", required_argument, NULL, 's' },
		{ "caps-seconds", required_argument, NULL, 'c' },
		{ 0 },
	};
	struct sched_bench b = { .slice_ns = SCHED_DEFAULT_SLICE_NS };
	struct bench_args a;
	unsigned ms = 0, reps = 0, caps = 0;
	int c, r = 0;
	bench_args_init(&a, sched_usage);
	while ((c = bench_getopt(&a, argc, argv, opts)) > 0) {
		switch (c) {
		case 'm': r = bench_parse_uint(&a, "--ms", optarg, 50, 600000, &ms); break;
		case 'r': r = bench_parse_uint(&a, "--reps", optarg, 1, MAX_REPS, &reps); break;
		case 'c': r = bench_parse_uint(&a, "--caps-seconds", optarg, 1, 3600, &caps); break;
		case 's':
			b.sweep = strcmp(optarg, "sweep") == 0;
			if (!b.sweep && sched_parse_slice(optarg, &b.slice_ns))
				r = usage_error(a.usage, "bad --slice '%s'", optarg);
			break;
		}
		if (r)
			return r;
	}
	if (c < 0)
		return a.status;
	b.ms = ms ? ms : a.quick ? 300 : 1000;
	b.reps = reps ? reps : a.quick ? 1 : 3;
	b.caps_seconds = caps ? caps : a.quick ? 2 : 10;
	struct sched_options so;
	sched_options_default(&so);
	b.ncpus = so.ncpus;
	struct bench_out out;
	if (bench_out_init(&out, "sched", a.json))
		return STATUS_SETUP_ERROR;
	struct kvm_host kvm;
	char err[256];
	if (kvm_host_open(&kvm, err, sizeof(err)))
		return setup_error("%s", err);
	b.cells = calloc(MAX_CELLS, sizeof(*b.cells));
	if (!b.cells) {
		kvm_host_close(&kvm);
		return setup_error("out of memory");
	}
	add_cells(&b);
	char slice[32];
	snprintf(slice, sizeof(slice), b.sweep ? "sweep" : "%.1f ms", b.slice_ns / 1e6);
	printf("beyond bench sched: %u CPUs, VMs of %u vCPUs, %u ms per run, %u runs per cell, slice %s\n",
	       b.ncpus, b.ncpus, b.ms, b.reps, slice);
	fflush(stdout);
	uint32_t order[MAX_CELLS];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	struct bench_progress p;
	bench_progress_start(&p, b.reps * b.n_cells + (b.sweep ? 0 : SCHED_POLICIES));
	for (unsigned rep = 0; rep < b.reps; rep++) {
		for (unsigned i = 0; i < b.n_cells; i++)
			order[i] = i;
		bench_shuffle(order, b.n_cells, &rng);
		for (unsigned i = 0; i < b.n_cells; i++) {
			char label[64];
			struct cell *cl = &b.cells[order[i]];
			bench_progress(&p, "run %u/%u: %s", rep + 1, b.reps, cell_label(cl, label, sizeof(label)));
			run_cell(&b, &kvm, cl);
		}
	}
	for (unsigned pol = 0; pol < SCHED_POLICIES && !b.sweep; pol++) {
		bench_progress(&p, "caps: %s, %.0f s", sched_policy_name(pol), b.caps_seconds);
		caps_run(&b, &kvm, pol);
	}
	bench_progress_end(&p);
	normalise(&b);
	report_table(&b);
	int status = report_json(&b, &out);
	if (status == 0 && !b.sweep && write_dat(&b, &out) == 0)
		bench_plot(&out, 1500, 900, plot_body, NULL);
	free(b.cells);
	kvm_host_close(&kvm);
	return status ? STATUS_SETUP_ERROR : 0;
}
