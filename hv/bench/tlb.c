/*
 * `beyond bench tlb`: runs the TLB workloads in a guest for every guest/host
 * page-size pair and natively for every host backing, repetitions interleaved
 * across configurations, each configuration checked (huge pages granted,
 * guest leaf size built) rather than assumed.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "guest-runtime/workloads/tlb.h"
#include "hv/bench/tlb.h"
#include "hv/cli/cli.h"
#include "hv/guests.h"
#include "hv/kvm.h"
#include "mm/range.h"
#include "hv/vm.h"
#include "mm/hugetlb_pool.h"
#include "mm/pagetable.h"

/* Room for the image, stacks, page tables and the workloads' scratch beside the largest working set. */
#define RAM_OVERHEAD (64ull << 20)
#define WS_ALIGN (2ull << 20)
#define GUEST_TIMEOUT 900.0
/* Native plus three guest page sizes, each on every host backing. */
#define MAX_CONFIGS (4 * HOST_PAGES_COUNT)

static const char tlb_usage[] =
	"usage: beyond bench tlb [--quick] [--workload chase,gups,stream] [--guest-pages 4k,2m,1g]\n"
	"                        [--host-pages 4k,thp,hugetlb2m,hugetlb1g] [--no-native]\n"
	"                        [--sizes 16M,64M,...] [--reps N] [--cpu N] [--json FILE]\n"
	"--reps N: timed samples per configuration (default 6), taken as rounds of 2 passes\n";

static const char *const default_sizes[] = { "16M", "64M", "256M", "1G", "4G" };
static const char *const quick_sizes[] = { "16M", "64M" };

/* Calibrates the TSC against CLOCK_MONOTONIC_RAW over 200 ms. */
static double tsc_hz_measure(void)
{
	struct timespec a, b;
	uint32_t lo, hi;
	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	uint64_t t0 = ((uint64_t)hi << 32) | lo;
	struct timespec nap = { 0, 200000000 };
	nanosleep(&nap, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	uint64_t t1 = ((uint64_t)hi << 32) | lo;
	return (t1 - t0) / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9);
}

struct run_ctx {
	struct tlb_bench *b;
	struct tlb_config *c;
	unsigned records;
	char bad[128];                /* a record that made no sense */
};

static void record(void *opaque, const struct beyond_tlb_result *r)
{
	struct run_ctx *x = opaque;
	unsigned s = 0;
	while (s < x->b->n_sizes && x->b->sizes[s] != r->working_set)
		s++;
	if (r->workload >= TLB_WORKLOADS || s == x->b->n_sizes || r->accesses == 0) {
		snprintf(x->bad, sizeof(x->bad), "unexpected record (workload %u, %lu bytes)", r->workload,
			 (unsigned long)r->working_set);
		return;
	}
	x->records++;
	if (r->pass == 0)
		return; /* the warm-up */
	unsigned *n = &x->c->n[r->workload][s];
	if (*n < BENCH_MAX_REPS)
		x->c->ns[r->workload][s][(*n)++] = r->cycles * 1e9 / x->b->tsc_hz / r->accesses;
}

static void guest_result(void *opaque, uint32_t type, const void *rec, uint32_t len)
{
	struct run_ctx *x = opaque;
	if (type == BEYOND_RESULT_TLB && len == sizeof(struct beyond_tlb_result))
		record(x, rec);
	else
		snprintf(x->bad, sizeof(x->bad), "result record of type %u, %u bytes", type, len);
}

static uint64_t ram_for(const struct tlb_bench *b, const struct tlb_config *c)
{
	uint64_t max = 0, ram;
	for (unsigned s = 0; s < b->n_sizes; s++)
		if (b->sizes[s] > max)
			max = b->sizes[s];
	uint64_t align = host_page_size(c->host_pages);
	if (c->guest_page > align)
		align = c->guest_page;
	align_up_checked(max + RAM_OVERHEAD, align, &ram);
	return ram;
}

static void not_achieved(struct tlb_config *c, const char *fmt, const char *detail)
{
	if (c->achieved) {
		c->achieved = 0;
		snprintf(c->reason, sizeof(c->reason), fmt, detail);
	}
}

/* Every pass of every workload and size must have reported, and sensibly. */
static void check_records(const struct tlb_bench *b, struct tlb_config *c, const struct run_ctx *x)
{
	unsigned want = b->n_sizes * __builtin_popcount(b->workloads) * (b->passes + 1);
	char got[64];
	if (x->bad[0])
		not_achieved(c, "%s", x->bad);
	snprintf(got, sizeof(got), "%u of %u", x->records, want);
	if (x->records != want)
		not_achieved(c, "the workloads reported %s records", got);
}

/* Checks the host backing really is what was asked for. */
static void check_backing(struct tlb_config *c, const struct guest_mem *m, uint64_t pte_before)
{
	struct guest_mem_usage u;
	if (guest_mem_usage(m, &u) != 0) {
		not_achieved(c, "%s", "cannot read /proc/self/smaps");
		return;
	}
	double share = u.resident ? (double)u.huge / u.resident : 0;
	if (share < c->huge_share)
		c->huge_share = share;
	c->host_pte = u.page_table > pte_before ? u.page_table - pte_before : 0;
	char got[64];
	snprintf(got, sizeof(got), "%.1f%%", 100 * share);
	if (c->host_pages == HOST_4K && share > 0.01)
		not_achieved(c, "host used huge pages for %s of RAM despite MADV_NOHUGEPAGE", got);
	if (c->host_pages != HOST_4K && share < 0.95)
		not_achieved(c, "host backed only %s of RAM with huge pages", got);
}

static void run_guest(struct tlb_bench *b, struct tlb_config *c, struct kvm_host *kvm)
{
	const struct builtin_guest *g = builtin_guest_find("tlb");
	char sizes[BENCH_MAX_SIZES][24], workloads[64] = "", passes[16];
	char *argv[2 + BENCH_MAX_SIZES] = { workloads, passes };
	for (unsigned w = 0; w < TLB_WORKLOADS; w++)
		if (b->workloads & (1u << w))
			snprintf(workloads + strlen(workloads), sizeof(workloads) - strlen(workloads), "%s%s",
				 workloads[0] ? "," : "", tlb_workload_name(w));
	snprintf(passes, sizeof(passes), "%u", b->passes + 1);
	for (unsigned s = 0; s < b->n_sizes; s++) {
		snprintf(sizes[s], sizeof(sizes[s]), "%lu", (unsigned long)b->sizes[s]);
		argv[2 + s] = sizes[s];
	}
	struct run_ctx x = { .b = b, .c = c };
	struct vm_config cfg = {
		.name = "tlb", .image = g->image, .image_size = g->size, .mem_size = ram_for(b, c),
		.vcpus = 1, .guest_page = c->guest_page, .host_pages = c->host_pages, .populate = 1,
		.timeout = GUEST_TIMEOUT, .argc = 2 + b->n_sizes, .argv = argv, .console_fd = STDERR_FILENO,
		.pin = 1, .pin_cpu = b->cpu, .on_result = guest_result, .opaque = &x,
	};
	uint64_t pte_before = guest_mem_host_pte();
	struct vm vm;
	char err[512];
	if (vm_create(&vm, kvm, &cfg, err, sizeof(err))) {
		not_achieved(c, "%s", err);
	} else {
		int status = vm_run(&vm);
		if (status != 0)
			not_achieved(c, "guest failed: %s", vm.reason);
		check_records(b, c, &x);
		check_backing(c, &vm.mem, pte_before);
		/* The working set starts at the first 2 MiB boundary of the heap (guests/tlb.c). */
		uint64_t ws, pa, leaf = 0;
		align_up_checked(vm.heap_start, WS_ALIGN, &ws);
		if (pt_walk(vm.mem.base, vm.mem.size, vm.cr3, ws, &pa, &leaf) != 0 || leaf != c->guest_page)
			not_achieved(c, "guest page tables map the working set with %s leaves",
				     guest_pages_name(leaf));
		c->guest_leaf = leaf;
	}
	vm_destroy(&vm);
}

struct native_ctx {
	struct tlb_plan plan;
	int cpu;
	int pinned;
};

static void *native_thread(void *arg)
{
	struct native_ctx *n = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(n->cpu, &set);
	n->pinned = sched_setaffinity(0, sizeof(set), &set) == 0;
	if (n->pinned)
		tlb_run(&n->plan);
	return NULL;
}

static void run_native(struct tlb_bench *b, struct tlb_config *c)
{
	struct guest_mem m;
	char err[512];
	uint64_t pte_before = guest_mem_host_pte();
	if (guest_mem_alloc(&m, ram_for(b, c), c->host_pages, 1, err, sizeof(err))) {
		not_achieved(c, "%s", err);
		return;
	}
	struct run_ctx x = { .b = b, .c = c };
	struct native_ctx n = {
		.plan = { .base = m.base, .sizes = b->sizes, .n_sizes = b->n_sizes, .workloads = b->workloads,
			  .passes = b->passes + 1, .report = record, .opaque = &x },
		.cpu = b->cpu,
	};
	pthread_t t;
	if (pthread_create(&t, NULL, native_thread, &n) != 0) {
		not_achieved(c, "%s", "cannot start the native thread");
	} else {
		pthread_join(t, NULL);
		if (!n.pinned)
			not_achieved(c, "%s", "cannot pin the native thread");
		check_records(b, c, &x);
		check_backing(c, &m, pte_before);
	}
	guest_mem_free(&m);
}

static int parse_list(const char *arg, const char *what, int (*item)(const char *, void *), void *out)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (item(t, out))
			return usage_error(tlb_usage, "bad %s '%s'", what, t);
	return 0;
}

struct selection {
	unsigned guest_pages;  /* mask: 1 4k, 2 2m, 4 1g */
	unsigned host_pages;   /* mask of 1 << enum host_pages */
	unsigned workloads;
	struct tlb_bench *b;
};

static int item_workload(const char *t, void *o)
{
	for (unsigned w = 0; w < TLB_WORKLOADS; w++)
		if (strcmp(t, tlb_workload_name(w)) == 0) {
			((struct selection *)o)->workloads |= 1u << w;
			return 0;
		}
	return -1;
}

static int item_guest_pages(const char *t, void *o)
{
	uint64_t p;
	if (guest_pages_parse(t, &p))
		return -1;
	((struct selection *)o)->guest_pages |= p == PT_4K ? 1 : p == PT_2M ? 2 : 4;
	return 0;
}

static int item_host_pages(const char *t, void *o)
{
	enum host_pages p;
	if (host_pages_parse(t, &p))
		return -1;
	((struct selection *)o)->host_pages |= 1u << p;
	return 0;
}

static int item_size(const char *t, void *o)
{
	struct tlb_bench *b = ((struct selection *)o)->b;
	uint64_t v;
	if (parse_size(t, &v) || v < (1u << 20) || (v & (v - 1)) || b->n_sizes == BENCH_MAX_SIZES)
		return -1; /* powers of two: gups masks its index */
	b->sizes[b->n_sizes++] = v;
	return 0;
}

/* Lists the matrix: native per host backing first, then guest x host. */
static int build_matrix(struct tlb_bench *b, const struct selection *sel, int native)
{
	static const uint64_t gp[] = { PT_4K, PT_2M, PT_1G };
	b->configs = calloc(MAX_CONFIGS, sizeof(*b->configs));
	if (!b->configs)
		return -1;
	for (int h = 0; native && h < HOST_PAGES_COUNT; h++)
		if (sel->host_pages & (1u << h))
			b->configs[b->n_configs++] = (struct tlb_config){ .native = 1, .host_pages = h };
	for (int g = 0; g < 3; g++)
		for (int h = 0; h < HOST_PAGES_COUNT; h++)
			if ((sel->guest_pages & (1u << g)) && (sel->host_pages & (1u << h)))
				b->configs[b->n_configs++] = (struct tlb_config){ .guest_page = gp[g], .host_pages = h };
	for (unsigned i = 0; i < b->n_configs; i++) {
		b->configs[i].achieved = 1;
		b->configs[i].huge_share = 1;
	}
	return 0;
}

static int drop_page_cache(void)
{
	FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
	if (!f)
		return -1;
	sync();
	int ok = fputs("1\n", f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/*
 * Grows the hugetlb pools once for the whole run, so no run pays for it or
 * races for it: 1G first, while memory still has free contiguous GiBs.
 */
static void reserve_pools(struct tlb_bench *b, long added[HOST_PAGES_COUNT])
{
	static const enum host_pages order[] = { HOST_HUGETLB1G, HOST_HUGETLB2M };
	for (unsigned k = 0; k < 2; k++) {
		enum host_pages h = order[k];
		uint64_t need = 0;
		for (unsigned i = 0; i < b->n_configs; i++)
			if (b->configs[i].host_pages == h && ram_for(b, &b->configs[i]) > need)
				need = ram_for(b, &b->configs[i]);
		if (need == 0)
			continue;
		added[h] = hugetlb_pool_reserve(h, need);
		if (added[h] < 0 && drop_page_cache() == 0) {
			/* Page cache scattered over RAM is what usually keeps a GiB from being free. */
			fprintf(stderr, "bench tlb: dropped the clean page cache to find %s pages\n",
				host_pages_name(h));
			added[h] = hugetlb_pool_reserve(h, need);
		}
		if (added[h] < 0)
			fprintf(stderr, "bench tlb: could not reserve %s pages up front; runs will try again\n",
				host_pages_name(h));
	}
}

static void run_matrix(struct tlb_bench *b, struct kvm_host *kvm)
{
	unsigned order[MAX_CONFIGS];
	uint64_t rng = 0x2545f4914f6cdd1dull;
	time_t start = time(NULL);
	for (unsigned round = 0; round < b->rounds; round++) {
		/* A fresh shuffled order each repetition, so drift hits every configuration alike. */
		for (unsigned i = 0; i < b->n_configs; i++)
			order[i] = i;
		for (unsigned i = b->n_configs - 1; i > 0; i--) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			unsigned j = rng % (i + 1), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (unsigned k = 0; k < b->n_configs; k++) {
			struct tlb_config *c = &b->configs[order[k]];
			char label[64];
			fprintf(stderr, "\r\033[K[round %u/%u, run %u/%u, %lds] %s", round + 1, b->rounds, k + 1,
				b->n_configs, (long)(time(NULL) - start), tlb_config_label(c, label, sizeof(label)));
			if (!c->achieved && round > 0)
				continue; /* it will not become achievable: say why once, spend no time */
			if (c->native)
				run_native(b, c);
			else
				run_guest(b, c, kvm);
		}
	}
	fprintf(stderr, "\r\033[Kdone in %lds\n", (long)(time(NULL) - start));
}

int bench_tlb_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "workload", required_argument, NULL, 'w' },
		{ "guest-pages", required_argument, NULL, 'g' },
		{ "host-pages", required_argument, NULL, 'H' },
		{ "no-native", no_argument, NULL, 'N' },
		{ "sizes", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tlb_bench b = { .reps = 6, .cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1 };
	struct selection sel = { .b = &b };
	int quick = 0, native = 1, c, r = 0;
	char *end, json[256];
	optind = 1;
	while ((c = getopt_long(argc, argv, "qw:g:H:Ns:r:c:j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quick = 1; break;
		case 'w': r = parse_list(optarg, "workload", item_workload, &sel); break;
		case 'g': r = parse_list(optarg, "guest page size", item_guest_pages, &sel); break;
		case 'H': r = parse_list(optarg, "host page size", item_host_pages, &sel); break;
		case 'N': native = 0; break;
		case 's': r = parse_list(optarg, "size (a power of two, at least 1M)", item_size, &sel); break;
		case 'r':
			b.reps = (unsigned)strtoul(optarg, &end, 10);
			if (*end || b.reps < 1 || b.reps > BENCH_MAX_REPS)
				return usage_error(tlb_usage, "bad --reps '%s' (1..%d)", optarg, BENCH_MAX_REPS);
			break;
		case 'c':
			b.cpu = (int)strtol(optarg, &end, 10);
			if (*end || b.cpu < 0 || b.cpu >= CPU_SETSIZE)
				return usage_error(tlb_usage, "bad --cpu '%s'", optarg);
			break;
		case 'j': b.json_path = optarg; break;
		case 'h': fputs(tlb_usage, stdout); return 0;
		default: return usage_error(tlb_usage, NULL);
		}
		if (r)
			return r;
	}
	if (optind < argc)
		return usage_error(tlb_usage, "unexpected argument '%s'", argv[optind]);
	/*
	 * Each VM run takes warm-up + `passes` timed passes; runs are repeated in
	 * rounds shuffled across configurations. Two passes per run halve the
	 * set-up cost (populating RAM, first-touch shadow faults: ~25 s per 4 GiB
	 * of guest 4K pages under kvm_pvm) while drift still hits every
	 * configuration alike.
	 */
	b.passes = b.reps >= 2 ? 2 : 1;
	b.rounds = (b.reps + b.passes - 1) / b.passes;
	b.reps = b.rounds * b.passes;
	if (b.n_sizes == 0) {
		unsigned n = quick ? 2 : 5;
		for (unsigned i = 0; i < n; i++)
			item_size((quick ? quick_sizes : default_sizes)[i], &sel);
	}
	sel.workloads = sel.workloads ? sel.workloads : (1u << TLB_WORKLOADS) - 1;
	sel.guest_pages = sel.guest_pages ? sel.guest_pages : 7;
	sel.host_pages = sel.host_pages ? sel.host_pages : (1u << HOST_PAGES_COUNT) - 1;
	b.workloads = sel.workloads;
	if (!b.json_path) {
		time_t now = time(NULL);
		char day[16];
		strftime(day, sizeof(day), "%Y-%m-%d", localtime(&now));
		mkdir("results", 0755);
		snprintf(json, sizeof(json), "results/tlb-%s.json", day);
		b.json_path = json;
	}

	FILE *probe = fopen(b.json_path, "w"); /* fail now, not after minutes of measuring */
	if (!probe)
		return setup_error("cannot write %s: %s", b.json_path, strerror(errno));
	fclose(probe);

	struct kvm_host kvm;
	char err[256];
	if (kvm_host_open(&kvm, err, sizeof(err)))
		return setup_error("%s", err);
	b.mmu = kvm_mmu_mode(b.mmu_detail, sizeof(b.mmu_detail));
	b.tsc_hz = tsc_hz_measure();
	if (build_matrix(&b, &sel, native)) {
		kvm_host_close(&kvm);
		return setup_error("out of memory");
	}
	long pool_added[HOST_PAGES_COUNT] = { 0 };
	reserve_pools(&b, pool_added);

	printf("beyond bench tlb: KVM %s, TSC %.3f GHz, CPU %d, %u samples (%u rounds of %u passes)\nmmu: %s\n",
	       b.mmu_detail, b.tsc_hz / 1e9, b.cpu, b.reps, b.rounds, b.passes, b.mmu);
	fflush(stdout);
	run_matrix(&b, &kvm);
	for (int h = 0; h < HOST_PAGES_COUNT; h++)
		hugetlb_pool_release(h, pool_added[h]);

	tlb_report_table(&b);
	int status = tlb_report_json(&b, b.json_path);
	if (status == 0)
		tlb_report_plot(&b, b.json_path);
	free(b.configs);
	kvm_host_close(&kvm);
	return status ? STATUS_SETUP_ERROR : 0;
}
