/* Internals of `beyond bench tlb`: what guest and host page sizes cost, next to native. */
#ifndef BEYOND_BENCH_TLB_H
#define BEYOND_BENCH_TLB_H

#include <stdint.h>
#include "guest-runtime/abi.h"
#include "hv/bench/bench.h"
#include "mm/guest_mem.h"

#define TLB_MAX_SIZES 16
#define TLB_MAX_REPS 64

/* One configuration of the matrix: a guest page/host page pair, or native. */
struct tlb_config {
	int native;
	uint64_t guest_page;          /* 0 for native */
	enum host_pages host_pages;
	struct bench_check check;     /* every repetition ran and passed its checks */
	double huge_share;            /* lowest share of RAM on huge pages seen */
	uint64_t guest_leaf;          /* leaf size found by walking the guest's tables */
	uint64_t host_pte;            /* host page-table bytes this configuration added */
	/* ns per access: [workload][size][rep] */
	double ns[TLB_WORKLOADS][TLB_MAX_SIZES][TLB_MAX_REPS];
	unsigned n[TLB_WORKLOADS][TLB_MAX_SIZES];
};

struct tlb_bench {
	struct tlb_config *configs;
	unsigned n_configs;
	uint64_t sizes[TLB_MAX_SIZES];
	unsigned n_sizes;
	unsigned workloads;           /* mask of 1 << enum beyond_tlb_workload */
	unsigned reps;                /* timed samples per configuration and size */
	unsigned rounds;              /* VM runs per configuration, interleaved */
	unsigned passes;              /* timed passes per run: rounds x passes >= reps */
	int cpu;                      /* host CPU the vCPU and native thread run on */
	double tsc_hz;
	const char *mmu;              /* "shadow", "npt", "ept" */
	char mmu_detail[64];
};

/* tlb_report.c: the table on stdout, JSON and gnuplot plots. */
void tlb_report_table(const struct tlb_bench *b);
int tlb_report_json(const struct tlb_bench *b, const struct bench_out *o);
int tlb_report_plot(const struct tlb_bench *b, const struct bench_out *o);

/* Summary statistics of config c, workload w, size s; 0 if none (no samples, or not achieved). */
int tlb_stats(const struct tlb_config *c, unsigned w, unsigned s, struct bench_stats *st);
/* Lowest native median for workload w, size s (the reference), or 0. */
double tlb_best_native(const struct tlb_bench *b, unsigned w, unsigned s);
/* Cache misses per random access the talk predicts for this mode, or -1 (native). */
int tlb_predicted_misses(const struct tlb_bench *b, const struct tlb_config *c);
const char *tlb_config_label(const struct tlb_config *c, char *buf, unsigned len);

#endif
