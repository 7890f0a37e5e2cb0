/*
 * `beyond bench tlb`: runs the TLB workloads in a guest for every guest/host
 * page-size pair and natively for every host backing, repetitions interleaved
 * across configurations, each configuration checked (huge pages granted,
 * guest leaf size built) rather than assumed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const char default_sizes[] = "16M,64M,256M,1G,4G", quick_sizes[] = "16M,64M";

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
	if (*n < TLB_MAX_REPS)
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

/* Every pass of every workload and size must have reported, and sensibly. */
static void check_records(const struct tlb_bench *b, struct tlb_config *c, const struct run_ctx *x)
{
	unsigned want = b->n_sizes * __builtin_popcount(b->workloads) * (b->passes + 1);
	if (x->bad[0])
		bench_fail(&c->check, "%s", x->bad);
	if (x->records != want)
		bench_fail(&c->check, "the workloads reported %u of %u records", x->records, want);
}

/* Checks the host backing really is what was asked for. */
static void check_backing(struct tlb_config *c, const struct guest_mem *m, uint64_t pte_before)
{
	struct guest_mem_usage u;
	if (guest_mem_usage(m, &u) != 0) {
		bench_fail(&c->check, "cannot read /proc/self/smaps");
		return;
	}
	double share = u.resident ? (double)u.huge / u.resident : 0;
	if (share < c->huge_share)
		c->huge_share = share;
	c->host_pte = u.page_table > pte_before ? u.page_table - pte_before : 0;
	if (c->host_pages == HOST_4K && share > 0.01)
		bench_fail(&c->check, "host used huge pages for %.1f%% of RAM despite MADV_NOHUGEPAGE", 100 * share);
	if (c->host_pages != HOST_4K && share < 0.95)
		bench_fail(&c->check, "host backed only %.1f%% of RAM with huge pages", 100 * share);
}

static void run_guest(struct tlb_bench *b, struct tlb_config *c, struct kvm_host *kvm)
{
	const struct builtin_guest *g = builtin_guest_find("tlb");
	char sizes[TLB_MAX_SIZES][24], workloads[64] = "", passes[16];
	char *argv[2 + TLB_MAX_SIZES] = { workloads, passes };
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
		bench_fail(&c->check, "%s", err);
	} else {
		int status = vm_run(&vm);
		if (status != 0)
			bench_fail(&c->check, "guest failed: %s", vm.reason);
		check_records(b, c, &x);
		check_backing(c, &vm.mem, pte_before);
		/* The working set starts at the first 2 MiB boundary of the heap (guests/tlb.c). */
		uint64_t ws, pa, leaf = 0;
		align_up_checked(vm.heap_start, WS_ALIGN, &ws);
		if (pt_walk(vm.mem.base, vm.mem.size, vm.cr3, ws, &pa, &leaf) != 0 || leaf != c->guest_page)
			bench_fail(&c->check, "guest page tables map the working set with %s leaves",
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
	n->pinned = bench_pin_cpu(n->cpu) == 0;
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
		bench_fail(&c->check, "%s", err);
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
		bench_fail(&c->check, "cannot start the native thread");
	} else {
		pthread_join(t, NULL);
		if (!n.pinned)
			bench_fail(&c->check, "cannot pin the native thread");
		check_records(b, c, &x);
		check_backing(c, &m, pte_before);
	}
	guest_mem_free(&m);
}

struct selection {
	unsigned guest_pages;  /* mask: 1 4k, 2 2m, 4 1g */
	unsigned host_pages;   /* mask of 1 << enum host_pages */
	unsigned workloads;
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
		bench_check_init(&b->configs[i].check);
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
static void reserve_pools(struct tlb_bench *b, int held[HOST_PAGES_COUNT])
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
		held[h] = hugetlb_pool_reserve(h, need) == 0;
		if (!held[h] && drop_page_cache() == 0) {
			/* Page cache scattered over RAM is what usually keeps a GiB from being free. */
			fprintf(stderr, "bench tlb: dropped the clean page cache to find %s pages\n",
				host_pages_name(h));
			held[h] = hugetlb_pool_reserve(h, need) == 0;
		}
		if (!held[h])
			fprintf(stderr, "bench tlb: could not reserve %s pages up front; runs will try again\n",
				host_pages_name(h));
	}
}

static void run_matrix(struct tlb_bench *b, struct kvm_host *kvm)
{
	uint32_t order[MAX_CONFIGS];
	uint64_t rng = 0x2545f4914f6cdd1dull;
	struct bench_progress p;
	bench_progress_start(&p, b->rounds * b->n_configs);
	for (unsigned round = 0; round < b->rounds; round++) {
		/* A fresh shuffled order each repetition, so drift hits every configuration alike. */
		for (unsigned i = 0; i < b->n_configs; i++)
			order[i] = i;
		bench_shuffle(order, b->n_configs, &rng);
		for (unsigned k = 0; k < b->n_configs; k++) {
			struct tlb_config *c = &b->configs[order[k]];
			char label[64];
			bench_progress(&p, "round %u/%u: %s", round + 1, b->rounds,
				       tlb_config_label(c, label, sizeof(label)));
			if (!c->check.achieved && round > 0)
				continue; /* it will not become achievable: say why once, spend no time */
			if (c->native)
				run_native(b, c);
			else
				run_guest(b, c, kvm);
		}
	}
	bench_progress_end(&p);
}

int bench_tlb_main(int argc, char **argv)
{
	static const struct option opts[] = {
		BENCH_OPTIONS,
		BENCH_OPTION_CPU,
		{ "workload", required_argument, NULL, 'w' },
		{ "guest-pages", required_argument, NULL, 'g' },
		{ "host-pages", required_argument, NULL, 'H' },
		{ "no-native", no_argument, NULL, 'N' },
		{ "sizes", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ 0 },
	};
	struct tlb_bench b = { .reps = 6 };
	struct selection sel = { 0 };
	struct bench_args a;
	int native = 1, c, r = 0;
	bench_args_init(&a, tlb_usage);
	while ((c = bench_getopt(&a, argc, argv, opts)) > 0) {
		switch (c) {
		case 'w': r = bench_parse_list(&a, "workload", optarg, item_workload, &sel); break;
		case 'g': r = bench_parse_list(&a, "guest page size", optarg, item_guest_pages, &sel); break;
		case 'H': r = bench_parse_list(&a, "host page size", optarg, item_host_pages, &sel); break;
		case 'N': native = 0; break;
		/* Powers of two: gups masks its index. */
		case 's': r = bench_parse_sizes(&a, optarg, 1u << 20, 1, b.sizes, TLB_MAX_SIZES, &b.n_sizes); break;
		case 'r': r = bench_parse_uint(&a, "--reps", optarg, 1, TLB_MAX_REPS, &b.reps); break;
		}
		if (r)
			return r;
	}
	if (c < 0)
		return a.status;
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
	if (b.n_sizes == 0)
		bench_parse_sizes(&a, a.quick ? quick_sizes : default_sizes, 0, 0, b.sizes, TLB_MAX_SIZES, &b.n_sizes);
	sel.workloads = sel.workloads ? sel.workloads : (1u << TLB_WORKLOADS) - 1;
	sel.guest_pages = sel.guest_pages ? sel.guest_pages : 7;
	sel.host_pages = sel.host_pages ? sel.host_pages : (1u << HOST_PAGES_COUNT) - 1;
	b.workloads = sel.workloads;
	b.cpu = a.cpu;
	struct bench_out out;
	if (bench_out_init(&out, "tlb", a.json))
		return STATUS_SETUP_ERROR;

	struct kvm_host kvm;
	char err[256];
	if (kvm_host_open(&kvm, err, sizeof(err)))
		return setup_error("%s", err);
	b.mmu = kvm_mmu_mode(b.mmu_detail, sizeof(b.mmu_detail));
	b.tsc_hz = bench_tsc_hz();
	if (build_matrix(&b, &sel, native)) {
		kvm_host_close(&kvm);
		return setup_error("out of memory");
	}
	int pool_held[HOST_PAGES_COUNT] = { 0 };
	reserve_pools(&b, pool_held);

	printf("beyond bench tlb: KVM %s, TSC %.3f GHz, CPU %d, %u samples (%u rounds of %u passes)\nmmu: %s\n",
	       b.mmu_detail, b.tsc_hz / 1e9, b.cpu, b.reps, b.rounds, b.passes, b.mmu);
	fflush(stdout);
	run_matrix(&b, &kvm);
	for (int h = 0; h < HOST_PAGES_COUNT; h++)
		if (pool_held[h])
			hugetlb_pool_release();

	tlb_report_table(&b);
	int status = tlb_report_json(&b, &out);
	if (status == 0)
		tlb_report_plot(&b, &out);
	free(b.configs);
	kvm_host_close(&kvm);
	return status ? STATUS_SETUP_ERROR : 0;
}
