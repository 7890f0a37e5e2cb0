/* Reports of `beyond bench tlb`: a table on stdout, JSON records and gnuplot plots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "guest-runtime/workloads/tlb.h"
#include "hv/bench/tlb.h"
#include "mm/pagetable.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int tlb_stats(const struct tlb_config *c, unsigned w, unsigned s, double *med, double *min, double *max)
{
	unsigned n = c->n[w][s];
	if (n == 0 || !c->achieved)
		return 0;
	double v[BENCH_MAX_REPS];
	memcpy(v, c->ns[w][s], n * sizeof(v[0]));
	qsort(v, n, sizeof(v[0]), cmp_double);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*min = v[0];
	*max = v[n - 1];
	return 1;
}

double tlb_best_native(const struct tlb_bench *b, unsigned w, unsigned s)
{
	double best = 0, med, lo, hi;
	for (unsigned i = 0; i < b->n_configs; i++)
		if (b->configs[i].native && tlb_stats(&b->configs[i], w, s, &med, &lo, &hi) &&
		    (best == 0 || med < best))
			best = med;
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
				double med, lo, hi;
				tlb_config_label(c, label, sizeof(label));
				size_label(b->sizes[s], size, sizeof(size));
				if (!tlb_stats(c, w, s, &med, &lo, &hi)) {
					printf("%-7s %-6s %-26s not achieved: %s\n", "", size, label, c->reason);
					continue;
				}
				int miss = tlb_predicted_misses(b, c);
				char ratio[16] = "-", misses[8] = "-";
				if (best > 0)
					snprintf(ratio, sizeof(ratio), "%.3f", med / best);
				if (miss >= 0)
					snprintf(misses, sizeof(misses), "%d", miss);
				printf("%-7s %-6s %-26s %9.2f %9.2f %9.2f %7s %6s %5.0f%%\n", "", size, label, med, lo, hi,
				       ratio, misses, 100 * c->huge_share);
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

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int tlb_report_json(const struct tlb_bench *b, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return -1;
	}
	int first = 1;
	fprintf(f, "[\n");
	for (unsigned i = 0; i < b->n_configs; i++) {
		const struct tlb_config *c = &b->configs[i];
		for (unsigned w = 0; w < TLB_WORKLOADS; w++) {
			if (!(b->workloads & (1u << w)))
				continue;
			for (unsigned s = 0; s < b->n_sizes; s++) {
				double med = 0, lo = 0, hi = 0, best = tlb_best_native(b, w, s);
				int ok = tlb_stats(c, w, s, &med, &lo, &hi);
				fprintf(f, "%s  {\"mode\": \"%s\", \"workload\": \"%s\", \"guest_pages\": \"%s\", "
					   "\"host_pages\": \"%s\", \"working_set\": %lu, ",
					first ? "" : ",\n", c->native ? "native" : "guest", tlb_workload_name(w),
					c->native ? "none" : guest_pages_name(c->guest_page), host_pages_name(c->host_pages),
					(unsigned long)b->sizes[s]);
				first = 0;
				if (ok)
					fprintf(f, "\"ns_per_access_median\": %.4f, \"ns_per_access_min\": %.4f, "
						   "\"ns_per_access_max\": %.4f, \"ratio_to_best_native\": %.4f, ",
						med, lo, hi, best > 0 ? med / best : 0);
				else
					fprintf(f, "\"ns_per_access_median\": null, \"ns_per_access_min\": null, "
						   "\"ns_per_access_max\": null, \"ratio_to_best_native\": null, ");
				fprintf(f, "\"samples\": [");
				for (unsigned k = 0; ok && k < c->n[w][s]; k++)
					fprintf(f, "%s%.4f", k ? ", " : "", c->ns[w][s][k]);
				fprintf(f, "], \"achieved\": %s, \"reason\": ", c->achieved ? "true" : "false");
				json_string(f, c->achieved ? "" : c->reason);
				fprintf(f, ", \"huge_share\": %.4f, \"guest_leaf\": %lu, \"host_pte_bytes\": %lu, "
					   "\"predicted_misses\": %d, \"mmu\": \"%s\", \"reps\": %u}",
					c->huge_share, (unsigned long)c->guest_leaf, (unsigned long)c->host_pte,
					tlb_predicted_misses(b, c), b->mmu, b->reps);
			}
		}
	}
	fprintf(f, "\n]\n");
	if (fclose(f) != 0) {
		perror(path);
		return -1;
	}
	printf("\nJSON: %s\n", path);
	return 0;
}

/* Writes PATH.dat and PATH.gp next to the JSON and runs gnuplot for SVG and PNG. */
int tlb_report_plot(const struct tlb_bench *b, const char *json_path)
{
	char stem[256], path[300];
	snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(json_path) - (strstr(json_path, ".json") ? 5 : 0)),
		 json_path);
	snprintf(path, sizeof(path), "%s.dat", stem);
	FILE *dat = fopen(path, "w");
	snprintf(path, sizeof(path), "%s.gp", stem);
	FILE *gp = fopen(path, "w");
	if (!dat || !gp) {
		perror(path);
		if (dat)
			fclose(dat);
		if (gp)
			fclose(gp);
		return -1;
	}
	unsigned panels = __builtin_popcount(b->workloads), block = 0;
	fprintf(gp, "set logscale x 2\nset xlabel 'working set (MiB)'\nset ylabel 'ns per access'\n"
		    "set key top left font ',8'\nset grid\n");
	for (int fmt = 0; fmt < 2; fmt++) {
		fprintf(gp, "set terminal %s size %u,500\nset output '%s.%s'\nset multiplot layout 1,%u title 'beyond "
			    "bench tlb (mmu: %s)'\n",
			fmt ? "pngcairo" : "svg", 520 * panels, stem, fmt ? "png" : "svg", panels, b->mmu);
		block = 0;
		for (unsigned w = 0; w < TLB_WORKLOADS; w++) {
			if (!(b->workloads & (1u << w)))
				continue;
			fprintf(gp, "set title '%s'\nplot ", tlb_workload_name(w));
			int any = 0;
			for (unsigned i = 0; i < b->n_configs; i++) {
				const struct tlb_config *c = &b->configs[i];
				char label[64];
				if (!c->achieved)
					continue;
				if (fmt == 0) { /* the data blocks, once */
					for (unsigned s = 0; s < b->n_sizes; s++) {
						double med, lo, hi;
						if (tlb_stats(c, w, s, &med, &lo, &hi))
							fprintf(dat, "%g %g %g %g\n", b->sizes[s] / 1048576.0, med, lo, hi);
					}
					fprintf(dat, "\n\n");
				}
				fprintf(gp, "%s'%s.dat' index %u with yerrorlines %s title '%s'", any ? ", \\\n  " : "",
					stem, block++, c->native ? "lw 3 dt 2" : "lw 1",
					tlb_config_label(c, label, sizeof(label)));
				any = 1;
			}
			if (!any)
				fprintf(gp, "0 title 'nothing achieved'");
			fprintf(gp, "\n");
		}
		fprintf(gp, "unset multiplot\n");
	}
	fclose(dat);
	fclose(gp);

	pid_t pid = fork();
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", path, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench tlb: gnuplot failed (%s); the data is in %s.dat\n",
			WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "not installed: apt-get install gnuplot-nox" : "see above",
			stem);
		return -1;
	}
	printf("plot: %s.svg %s.png\n", stem, stem);
	return 0;
}
