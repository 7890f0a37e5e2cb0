/* Reports of `beyond bench tlb`: a table on stdout, JSON records and gnuplot plots. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "guest-runtime/workloads/tlb.h"
#include "hv/bench/tlb.h"
#include "hv/cli/cli.h"
#include "mm/pagetable.h"

int tlb_stats(const struct tlb_config *c, unsigned w, unsigned s, struct bench_stats *st)
{
	return bench_stats(c->ns[w][s], c->check.achieved ? c->n[w][s] : 0, st);
}

double tlb_best_native(const struct tlb_bench *b, unsigned w, unsigned s)
{
	double best = 0;
	struct bench_stats st;
	for (unsigned i = 0; i < b->n_configs; i++)
		if (b->configs[i].native && tlb_stats(&b->configs[i], w, s, &st) && (best == 0 || st.median < best))
			best = st.median;
	return best;
}

/*
 * The "Beyond kvm.ko" talk's tables of cache misses per random access:
 * shadow paging: guest 4K (any host) 2, 2M/4K 2, 2M/2M 1; two-dimensional:
 * 4K/4K 3, 4K/2M 2, 2M/4K 2, 2M/2M 1. Guest 1G counts as large like 2M.
 */
int tlb_predicted_misses(const struct tlb_bench *b, const struct tlb_config *c)
{
	if (c->native)
		return -1;
	int guest_large = c->guest_page > PT_4K, host_large = c->host_pages != HOST_4K;
	if (strcmp(b->mmu, "shadow") == 0)
		return guest_large && host_large ? 1 : 2;
	return 3 - guest_large - host_large;
}

const char *tlb_config_label(const struct tlb_config *c, char *buf, unsigned len)
{
	if (c->native)
		snprintf(buf, len, "native %s", host_pages_name(c->host_pages));
	else
		snprintf(buf, len, "guest %s / host %s", guest_pages_name(c->guest_page), host_pages_name(c->host_pages));
	return buf;
}

static const char *size_label(uint64_t v, char *buf, unsigned len)
{
	if (v >= (1ull << 30))
		snprintf(buf, len, "%luG", (unsigned long)(v >> 30));
	else
		snprintf(buf, len, "%luM", (unsigned long)(v >> 20));
	return buf;
}

void tlb_report_table(const struct tlb_bench *b)
{
	char label[64], size[16];
	printf("\nns per access: median [min, max] over %u samples; ratio = median / best native median;\n"
	       "misses = cache misses per random access predicted for %s paging\n", b->reps, b->mmu);
	for (unsigned w = 0; w < TLB_WORKLOADS; w++) {
		if (!(b->workloads & (1u << w)))
			continue;
		printf("\n%-7s %-6s %-26s %9s %9s %9s %7s %6s %6s\n", tlb_workload_name(w), "ws", "configuration",
		       "median", "min", "max", "ratio", "misses", "huge");
		for (unsigned s = 0; s < b->n_sizes; s++) {
			double best = tlb_best_native(b, w, s);
			for (unsigned i = 0; i < b->n_configs; i++) {
				const struct tlb_config *c = &b->configs[i];
				struct bench_stats st;
				tlb_config_label(c, label, sizeof(label));
				size_label(b->sizes[s], size, sizeof(size));
				if (!tlb_stats(c, w, s, &st)) {
					printf("%-7s %-6s %-26s not achieved: %s\n", "", size, label, c->check.reason);
					continue;
				}
				int miss = tlb_predicted_misses(b, c);
				char ratio[16] = "-", misses[12] = "-";
				if (best > 0)
					snprintf(ratio, sizeof(ratio), "%.3f", st.median / best);
				if (miss >= 0)
					snprintf(misses, sizeof(misses), "%d", miss);
				printf("%-7s %-6s %-26s %9.2f %9.2f %9.2f %7s %6s %5.0f%%\n", "", size, label, st.median,
				       st.min, st.max, ratio, misses, 100 * c->huge_share);
			}
		}
	}
	printf("\npage-table memory\n  guest tables per GiB mapped: 4k %lu KiB, 2m %lu KiB, 1g %lu B "
	       "(the talk: 2 MB per GB with 4K, 4 KB per GB with 2M)\n",
	       (unsigned long)((pt_bytes(2ull << 30, PT_4K) - pt_bytes(1ull << 30, PT_4K)) >> 10),
	       (unsigned long)((pt_bytes(2ull << 30, PT_2M) - pt_bytes(1ull << 30, PT_2M)) >> 10),
	       (unsigned long)((pt_bytes(1ull << 40, PT_1G) - pt_bytes(1ull << 39, PT_1G)) / 512));
	printf("  host page tables (VmPTE) added by each configuration:\n");
	for (unsigned i = 0; i < b->n_configs; i++)
		printf("    %-26s %8lu KiB\n", tlb_config_label(&b->configs[i], label, sizeof(label)),
		       (unsigned long)(b->configs[i].host_pte >> 10));
}

/* One record per configuration, workload and working set; statistics null when not achieved. */
static void json_record(struct json *j, const struct tlb_bench *b, const struct tlb_config *c, unsigned w, unsigned s)
{
	struct bench_stats st;
	double best = tlb_best_native(b, w, s);
	int ok = tlb_stats(c, w, s, &st);
	json_object(j, NULL, 0);
	json_str(j, "mode", c->native ? "native" : "guest");
	json_str(j, "workload", tlb_workload_name(w));
	json_str(j, "guest_pages", c->native ? "none" : guest_pages_name(c->guest_page));
	json_str(j, "host_pages", host_pages_name(c->host_pages));
	json_uint(j, "working_set", b->sizes[s]);
	json_num(j, "ns_per_access_median", ok ? st.median : NAN, 4);
	json_num(j, "ns_per_access_min", ok ? st.min : NAN, 4);
	json_num(j, "ns_per_access_max", ok ? st.max : NAN, 4);
	json_num(j, "ratio_to_best_native", !ok ? NAN : best > 0 ? st.median / best : 0, 4);
	json_array(j, "samples", 0);
	for (unsigned k = 0; ok && k < c->n[w][s]; k++)
		json_num(j, NULL, c->ns[w][s][k], 4);
	json_end(j);
	json_check(j, &c->check);
	json_num(j, "huge_share", c->huge_share, 4);
	json_uint(j, "guest_leaf", c->guest_leaf);
	json_uint(j, "host_pte_bytes", c->host_pte);
	json_int(j, "predicted_misses", tlb_predicted_misses(b, c));
	json_str(j, "mmu", b->mmu);
	json_uint(j, "reps", b->reps);
	json_end(j);
}

int tlb_report_json(const struct tlb_bench *b, const struct bench_out *o)
{
	FILE *f = bench_out_open(o, "json");
	if (!f)
		return -1;
	struct json j;
	json_start(&j, f);
	json_array(&j, NULL, 1);
	for (unsigned i = 0; i < b->n_configs; i++)
		for (unsigned w = 0; w < TLB_WORKLOADS; w++)
			for (unsigned s = 0; (b->workloads & (1u << w)) && s < b->n_sizes; s++)
				json_record(&j, b, &b->configs[i], w, s);
	json_end(&j);
	if (bench_out_close(o, "json", f))
		return -1;
	printf("\nJSON: %s.json\n", o->stem);
	return 0;
}

/* STEM.dat: a block per workload and achieved configuration, in the order plot_body() reads them. */
static int write_dat(const struct tlb_bench *b, const struct bench_out *o)
{
	FILE *dat = bench_out_open(o, "dat");
	if (!dat)
		return -1;
	for (unsigned w = 0; w < TLB_WORKLOADS; w++) {
		for (unsigned i = 0; (b->workloads & (1u << w)) && i < b->n_configs; i++) {
			struct bench_stats st;
			if (!b->configs[i].check.achieved)
				continue;
			for (unsigned s = 0; s < b->n_sizes; s++)
				if (tlb_stats(&b->configs[i], w, s, &st))
					fprintf(dat, "%g %g %g %g\n", b->sizes[s] / 1048576.0, st.median, st.min, st.max);
			fprintf(dat, "\n\n");
		}
	}
	return bench_out_close(o, "dat", dat);
}

/* A panel per workload: ns per access against working set, a line per configuration. */
static void plot_body(FILE *gp, const char *dat, void *ctx)
{
	const struct tlb_bench *b = ctx;
	unsigned block = 0;
	uint64_t lo = ~0ull, hi = 0;
	for (unsigned s = 0; s < b->n_sizes; s++) {
		lo = b->sizes[s] < lo ? b->sizes[s] : lo;
		hi = b->sizes[s] > hi ? b->sizes[s] : hi;
	}
	/* An explicit x range: autoscaling one working set would be an empty range. */
	fprintf(gp, "set logscale x 2\nset xrange [%g:%g]\nset xlabel 'working set (MiB)'\n"
		    "set ylabel 'ns per access'\nset key top left font ',8'\nset grid\n"
		    "set multiplot layout 1,%u title 'beyond bench tlb (mmu: %s)'\n",
		lo / 1048576.0 / 1.5, hi / 1048576.0 * 1.5, __builtin_popcount(b->workloads), b->mmu);
	for (unsigned w = 0; w < TLB_WORKLOADS; w++) {
		if (!(b->workloads & (1u << w)))
			continue;
		fprintf(gp, "set title '%s'\nplot ", tlb_workload_name(w));
		int any = 0;
		for (unsigned i = 0; i < b->n_configs; i++) {
			const struct tlb_config *c = &b->configs[i];
			char label[64];
			if (!c->check.achieved)
				continue;
			fprintf(gp, "%s'%s' index %u with yerrorlines %s title '%s'", any ? ", \\\n  " : "", dat,
				block++, c->native ? "lw 3 dt 2" : "lw 1", tlb_config_label(c, label, sizeof(label)));
			any = 1;
		}
		/* Nothing to draw: a fixed y range, not an empty one. */
		fprintf(gp, "%s\n", any ? "" : "[] [0:1] 0 title 'nothing achieved'");
	}
	fprintf(gp, "unset multiplot\n");
}

int tlb_report_plot(const struct tlb_bench *b, const struct bench_out *o)
{
	if (write_dat(b, o))
		return -1;
	return bench_plot(o, 520 * __builtin_popcount(b->workloads), 500, plot_body, (void *)b);
}
