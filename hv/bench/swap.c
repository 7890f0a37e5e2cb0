/*
 * `beyond bench swap`: the pager under workloads whose RAM exceeds the
 * limit (guest-runtime/workloads/swap.h), in four modes:
 *   nolimit  no pager (the baseline)
 *   naive    limit enforced, no hints, no zero check, 4K units
 *   coop     page states and zero check, 4K units
 *   coop-2m  the same with 2M units (THP host pages, re-collapsed)
 * plus coop-fifo on hotcold (victims by install order, not by the guest's
 * accessed bits; hotcold runs on guest 4K pages so that each 4K unit has
 * its own bit). Every run is checked: the guest verifies its data, the
 * 2M modes must end >= 95 % on huge pages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hv/bench/bench.h"
#include "hv/cli/cli.h"
#include "hv/guests.h"
#include "guest-runtime/workloads/swap.h"
#include "hv/pager.h"
#include "mm/pagetable.h"

static const char swap_usage[] =
	"usage: beyond bench swap [--quick] [--reps N] [--cpu N] [--json FILE]\n"
	"Workloads sweep, churn, cache, zero, hotcold, each on more RAM than the limit, in modes\n"
	"nolimit, naive, coop, coop-2m (and coop-fifo for hotcold). Default: 512M RAM, 128M limit,\n"
	"256M working sets, 3 repetitions; --quick: 128M, 32M, 64M, 1.\n";

enum mode { NOLIMIT, NAIVE, COOP, COOP2M, COOPFIFO, MODES };
static const char *const mode_names[MODES] = { "nolimit", "naive", "coop", "coop-2m", "coop-fifo" };

#define MAX_REPS 16
#define PASSES 10 /* sweep: each pass evicts and restores the whole working set once */

struct cell {
	unsigned workload, mode;
	unsigned n;
	double seconds[MAX_REPS];
	struct bench_stats time;
	struct pager_stats st;       /* of the last run */
	struct beyond_swap_result r;
	double huge_share;           /* of resident guest RAM at the end, from smaps */
	struct bench_check check;
};

struct swap_bench {
	uint64_t mem, limit, bytes;
	unsigned reps, cpu;
	struct cell cells[SWAP_WORKLOADS * MODES];
	unsigned n_cells;
};

struct run_ctx {
	struct beyond_swap_result r;
	int records;
};

static void on_result(void *opaque, uint32_t type, const void *rec, uint32_t len)
{
	struct run_ctx *x = opaque;
	if (type == BEYOND_RESULT_SWAP && len == sizeof(x->r)) {
		memcpy(&x->r, rec, len);
		x->records++;
	}
}

static unsigned passes_for(unsigned workload)
{
	return workload == SWAP_SWEEP ? PASSES : workload == SWAP_HOTCOLD ? 8 : 2;
}

static void run_cell(struct swap_bench *b, struct cell *c, struct kvm_host *kvm)
{
	const struct builtin_guest *g = builtin_guest_find("swap");
	char size[24], passes[8], limit[24];
	char *argv[] = { (char *)swap_workload_name(c->workload), size, passes, NULL };
	snprintf(size, sizeof(size), "%lu", (unsigned long)b->bytes);
	snprintf(passes, sizeof(passes), "%u", passes_for(c->workload));
	snprintf(limit, sizeof(limit), "%lu", (unsigned long)b->limit);
	struct vm_option opts[3] = { { "mem-limit", limit } };
	unsigned n_opts = c->mode == NOLIMIT ? 0 : 1;
	if (c->mode == NAIVE)
		opts[n_opts++] = (struct vm_option){ "pager-mode", "naive" };
	if (c->mode == COOP || c->mode == COOPFIFO)
		opts[n_opts++] = (struct vm_option){ "swap-unit", "4k" };
	if (c->mode == COOPFIFO)
		opts[n_opts++] = (struct vm_option){ "pager-victim", "fifo" };
	struct run_ctx x = { 0 };
	struct vm_config cfg = {
		.name = "swap", .image = g->image, .image_size = g->size, .mem_size = b->mem, .vcpus = 1,
		/* hotcold compares victim choices: guest 4K pages give an accessed bit per 4K unit. */
		.guest_page = c->workload == SWAP_HOTCOLD ? PT_4K : PT_2M, .host_pages = HOST_THP, .timeout = 600, .argc = 3, .argv = argv,
		.console_fd = STDERR_FILENO, .pin = 1, .pin_cpu = (int)b->cpu, .on_result = on_result, .opaque = &x,
		.options = opts, .n_options = n_opts,
	};
	struct vm vm;
	char err[512];
	double t0 = bench_now();
	if (vm_create(&vm, kvm, &cfg, err, sizeof(err))) {
		bench_fail(&c->check, "%s", err);
		vm_destroy(&vm);
		return;
	}
	int status = vm_run(&vm);
	double t = bench_now() - t0;
	struct guest_mem_usage u;
	if (status != 0 || x.records != 1)
		bench_fail(&c->check, "guest failed (status %d): %s", status, vm.reason);
	else if (x.r.errors)
		bench_fail(&c->check, "%lu pages read back wrong", (unsigned long)x.r.errors);
	if (pager_vm_stats(&vm, &c->st) != 0)
		memset(&c->st, 0, sizeof(c->st));
	if (guest_mem_usage(&vm.mem, &u) == 0)
		c->huge_share = u.resident ? (double)u.huge / u.resident : 0;
	if (c->mode == COOP2M && c->huge_share < 0.95)
		bench_fail(&c->check, "only %.1f%% of resident RAM on huge pages after the run", 100 * c->huge_share);
	vm_destroy(&vm);
	c->r = x.r;
	if (c->n < MAX_REPS)
		c->seconds[c->n++] = t;
}

static void print_table(struct swap_bench *b)
{
	printf("\n| workload | mode | time s (median) | written MiB | read MiB | faults | dropped unused/zero/volatile MiB | huge %% | check |\n"
	       "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
	for (unsigned i = 0; i < b->n_cells; i++) {
		struct cell *c = &b->cells[i];
		bench_stats(c->seconds, c->n, &c->time);
		printf("| %s | %s | %.2f | %.1f | %.1f | %lu | %.0f/%.0f/%.0f | %.0f | %s |\n",
		       swap_workload_name(c->workload), mode_names[c->mode], c->time.median,
		       c->st.swap_out_bytes / 1048576.0, c->st.swap_in_bytes / 1048576.0, (unsigned long)c->st.faults,
		       c->st.unused_dropped / 1048576.0, c->st.zero_dropped / 1048576.0,
		       c->st.volatile_discarded / 1048576.0, 100 * c->huge_share,
		       c->check.achieved ? "ok" : c->check.reason);
	}
}

static struct cell *find(struct swap_bench *b, unsigned w, unsigned m)
{
	for (unsigned i = 0; i < b->n_cells; i++)
		if (b->cells[i].workload == w && b->cells[i].mode == m)
			return &b->cells[i];
	return NULL;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

/* Bytes moved to and from swap per second of run time. */
static double swap_rate(const struct cell *c)
{
	return ratio((double)(c->st.swap_out_bytes + c->st.swap_in_bytes), c->time.median);
}

struct targets {
	uint64_t hinted_written;     /* coop: bytes written for zero, churn (unused) and cache (volatile) */
	double churn_speedup, churn_speedup_2m, rate_2m_over_4k, huge_after_cycles, fifo_over_clock_faults;
};

static void targets(struct swap_bench *b, struct targets *t)
{
	memset(t, 0, sizeof(*t));
	static const unsigned hinted[] = { SWAP_ZERO, SWAP_CHURN, SWAP_CACHE };
	for (unsigned i = 0; i < 3; i++)
		t->hinted_written += find(b, hinted[i], COOP)->st.swap_out_bytes;
	t->churn_speedup = ratio(find(b, SWAP_CHURN, NAIVE)->time.median, find(b, SWAP_CHURN, COOP)->time.median);
	t->churn_speedup_2m = ratio(find(b, SWAP_CHURN, NAIVE)->time.median, find(b, SWAP_CHURN, COOP2M)->time.median);
	t->rate_2m_over_4k = ratio(swap_rate(find(b, SWAP_SWEEP, COOP2M)), swap_rate(find(b, SWAP_SWEEP, COOP)));
	t->huge_after_cycles = find(b, SWAP_SWEEP, COOP2M)->huge_share;
	t->fifo_over_clock_faults = ratio((double)find(b, SWAP_HOTCOLD, COOPFIFO)->st.faults,
					  (double)find(b, SWAP_HOTCOLD, COOP)->st.faults);
	printf("\ntargets:\n"
	       "  bytes written for zero, unused and volatile pages (coop): %lu (target 0)\n"
	       "  churn coop vs naive: %.1fx, coop-2m vs naive: %.1fx (target >= 5x)\n"
	       "  sweep swap throughput 2M vs 4K units: %.1fx (target >= 1.4x)\n"
	       "  huge pages after %u evict/restore cycles (sweep, coop-2m): %.1f%% (target >= 95%%)\n"
	       "  hotcold faults, fifo victims / clock over accessed bits: %.2f\n",
	       (unsigned long)t->hinted_written, t->churn_speedup, t->churn_speedup_2m, t->rate_2m_over_4k, PASSES,
	       100 * t->huge_after_cycles, t->fifo_over_clock_faults);
}

static int write_json(struct swap_bench *b, const struct targets *t, const struct bench_out *out)
{
	char path[BENCH_PATH_MAX];
	FILE *f = fopen(bench_out_path(out, "json", path, sizeof(path)), "w");
	if (!f)
		return setup_error("cannot write %s", path);
	struct json j;
	json_start(&j, f);
	json_object(&j, NULL, 1);
	json_uint(&j, "mem", b->mem);
	json_uint(&j, "limit", b->limit);
	json_uint(&j, "working_set", b->bytes);
	json_array(&j, "runs", 1);
	for (unsigned i = 0; i < b->n_cells; i++) {
		const struct cell *c = &b->cells[i];
		json_object(&j, NULL, 0);
		json_str(&j, "workload", swap_workload_name(c->workload));
		json_str(&j, "mode", mode_names[c->mode]);
		json_num(&j, "seconds_median", c->time.median, 4);
		json_num(&j, "seconds_min", c->time.min, 4);
		json_num(&j, "seconds_max", c->time.max, 4);
		json_uint(&j, "written", c->st.swap_out_bytes);
		json_uint(&j, "read", c->st.swap_in_bytes);
		json_uint(&j, "faults", c->st.faults);
		json_uint(&j, "unused_dropped", c->st.unused_dropped);
		json_uint(&j, "zero_dropped", c->st.zero_dropped);
		json_uint(&j, "volatile_discarded", c->st.volatile_discarded);
		json_uint(&j, "rebuilt", c->r.rebuilt);
		json_num(&j, "swap_in_median_us", c->st.in_median_us, 1);
		json_num(&j, "swap_in_p99_us", c->st.in_p99_us, 1);
		json_num(&j, "swap_out_median_us", c->st.out_median_us, 1);
		json_num(&j, "swap_out_p99_us", c->st.out_p99_us, 1);
		json_num(&j, "huge_share", c->huge_share, 3);
		json_check(&j, &c->check);
		json_end(&j);
	}
	json_end(&j);
	json_object(&j, "targets", 1);
	json_uint(&j, "hinted_bytes_written", t->hinted_written);
	json_num(&j, "churn_coop_speedup", t->churn_speedup, 2);
	json_num(&j, "churn_coop2m_speedup", t->churn_speedup_2m, 2);
	json_num(&j, "swap_rate_2m_over_4k", t->rate_2m_over_4k, 2);
	json_num(&j, "huge_share_after_cycles", t->huge_after_cycles, 3);
	json_num(&j, "hotcold_fifo_over_clock_faults", t->fifo_over_clock_faults, 2);
	json_end(&j);
	json_end(&j);
	if (fclose(f) != 0)
		return setup_error("cannot write %s", path);
	printf("json: %s\n", path);
	return 0;
}

static void plot_body(FILE *gp, const char *dat, void *ctx)
{
	(void)ctx;
	fprintf(gp, "set title 'beyond bench swap: run time by mode (log scale)'\n"
		    "set style data histogram\nset style histogram cluster gap 1\nset style fill solid border -1\n"
		    "set logscale y\nset ylabel 'seconds'\nset key top left\n"
		    "plot '%s' using 2:xtic(1) title 'nolimit', '' using 3 title 'naive', '' using 4 title 'coop', "
		    "'' using 5 title 'coop-2m'\n", dat);
}

static int write_plot(struct swap_bench *b, const struct bench_out *out)
{
	FILE *f = bench_out_open(out, "dat");
	if (!f)
		return -1;
	for (unsigned w = 0; w < SWAP_WORKLOADS; w++) {
		fprintf(f, "%s", swap_workload_name(w));
		for (unsigned m = NOLIMIT; m <= COOP2M; m++)
			fprintf(f, " %.4f", find(b, w, m)->time.median);
		fprintf(f, "\n");
	}
	if (bench_out_close(out, "dat", f))
		return -1;
	return bench_plot(out, 900, 500, plot_body, NULL);
}

int bench_swap_main(int argc, char **argv)
{
	static const struct option opts[] = {
		BENCH_OPTIONS,
		BENCH_OPTION_CPU,
		{ "reps", required_argument, NULL, 'r' },
		{ 0 },
	};
	static struct swap_bench b;
	struct bench_args a;
	int c, r = 0;
	unsigned reps = 0;
	bench_args_init(&a, swap_usage);
	while ((c = bench_getopt(&a, argc, argv, opts)) > 0) {
		if (c == 'r')
			r = bench_parse_uint(&a, "--reps", optarg, 1, MAX_REPS, &reps);
		if (r)
			return r;
	}
	if (c < 0)
		return a.status;
	b.mem = a.quick ? 128ull << 20 : 512ull << 20;
	b.limit = b.mem / 4;
	b.bytes = b.mem / 2;
	b.reps = reps ? reps : a.quick ? 1 : 3;
	b.cpu = (unsigned)a.cpu;
	for (unsigned w = 0; w < SWAP_WORKLOADS; w++)
		for (unsigned m = 0; m < MODES; m++)
			if (m != COOPFIFO || w == SWAP_HOTCOLD) {
				b.cells[b.n_cells] = (struct cell){ .workload = w, .mode = m };
				bench_check_init(&b.cells[b.n_cells++].check);
			}
	struct bench_out out;
	if (bench_out_init(&out, "swap", a.json))
		return STATUS_SETUP_ERROR;
	struct kvm_host kvm;
	char err[256];
	if (kvm_host_open(&kvm, err, sizeof(err)))
		return setup_error("%s", err);
	printf("beyond bench swap: RAM %lu MiB, limit %lu MiB, working sets %lu MiB, %u repetitions, CPU %u\n",
	       (unsigned long)(b.mem >> 20), (unsigned long)(b.limit >> 20), (unsigned long)(b.bytes >> 20), b.reps,
	       b.cpu);
	fflush(stdout);
	/* Rounds of every configuration in a shuffled order, so drift hits all alike. */
	uint32_t order[SWAP_WORKLOADS * MODES];
	uint64_t seed = 0x5eed;
	struct bench_progress p;
	bench_progress_start(&p, b.reps * b.n_cells);
	for (unsigned round = 0; round < b.reps; round++) {
		for (unsigned i = 0; i < b.n_cells; i++)
			order[i] = i;
		bench_shuffle(order, b.n_cells, &seed);
		for (unsigned i = 0; i < b.n_cells; i++) {
			struct cell *cl = &b.cells[order[i]];
			bench_progress(&p, "round %u/%u: %s %s", round + 1, b.reps, swap_workload_name(cl->workload),
				       mode_names[cl->mode]);
			run_cell(&b, cl, &kvm);
		}
	}
	bench_progress_end(&p);
	kvm_host_close(&kvm);
	print_table(&b);
	struct targets t;
	targets(&b, &t);
	int status = write_json(&b, &t, &out);
	if (status == 0)
		write_plot(&b, &out);
	return status;
}
