/* `beyond bench blk`: runs the space and speed parts, prints a table and
 * writes JSON plus a gnuplot plot (SVG and PNG) next to it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "blk/bench.h"
#include "blk/blk_cli.h"

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int bench_sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

uint64_t bench_du(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

void bench_fill(void *buf, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
	uint8_t *p = buf;

	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool have(const char *tool)
{
	return bench_sh("command -v %s >/dev/null 2>&1", tool) == 0;
}

/* --- report ---------------------------------------------------------------- */

static void print_space(const struct bench_cfg *c, const struct space_result *s)
{
	printf("\n== space: %d ext4 images of %llu MiB (mkfs.ext4 -d; base %.0f MB, %.1f MB per guest, "
	       "%.0f MB of updates per round)\n", c->images, (unsigned long long)(c->image_bytes >> 20),
	       s->base_data / 1e6, s->extra_data / 1e6 / c->images, c->rounds ? s->update_data / 1e6 / c->rounds : 0);
	printf("%-6s %10s %10s %10s %12s %12s %8s %12s\n", "round", "raw MB", "qcow2 MB", "store MB",
	       "vs raw", "store/qcow2", "dedup", "import MB/s");
	for (int i = 0; i < s->rounds; i++) {
		const struct space_round *r = &s->r[i];
		printf("%-6d %10.1f %10.1f %10.1f %11.1f%% %12.2f %8.2f %12.0f\n", i, r->raw / 1e6, r->qcow2 / 1e6,
		       r->store / 1e6, 100.0 * (1 - (double)r->store / r->raw), (double)r->store / r->qcow2,
		       r->unique ? (double)r->mapped / r->unique : 0, r->import_mbs);
	}
	printf("index memory: %.1f bytes per unique block (%llu unique blocks, hash table + slot table)\n",
	       s->unique_blocks ? (double)s->index_bytes / s->unique_blocks : 0,
	       (unsigned long long)s->unique_blocks);
}

static void print_rows(const char *title, const struct speed_row *rows, int n)
{
	printf("\n== %s\n%-20s %12s %12s %8s\n", title, "pattern", "raw MB/s", "store MB/s", "ratio");
	for (int i = 0; i < n; i++)
		printf("%-20s %12.0f %12.0f %8.2f\n", rows[i].name, rows[i].raw_mbs, rows[i].store_mbs,
		       rows[i].store_mbs / rows[i].raw_mbs);
}

static void json_rows(FILE *f, const char *key, const struct speed_row *rows, int n)
{
	fprintf(f, "  \"%s\": [", key);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\n    {\"pattern\": \"%s\", \"raw_mbs\": %.1f, \"store_mbs\": %.1f, \"ratio\": %.3f}",
			i ? "," : "", rows[i].name, rows[i].raw_mbs, rows[i].store_mbs,
			rows[i].store_mbs / rows[i].raw_mbs);
	fprintf(f, "\n  ],\n");
}

static int write_json(const char *path, const struct bench_cfg *c, const struct space_result *s,
		      const struct speed_result *p, const char *skipped)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"benchmark\": \"blk\", \"time\": %lld, \"images\": %d, \"image_bytes\": %llu, "
		"\"rounds\": %d, \"reps\": %d, \"speed_bytes\": %llu,\n",
		(long long)time(NULL), c->images, (unsigned long long)c->image_bytes, c->rounds, c->reps,
		(unsigned long long)c->speed_bytes);
	if (skipped)
		fprintf(f, "  \"space_skipped\": \"%s\",\n", skipped);
	fprintf(f, "  \"space\": {\"base_data\": %llu, \"extra_data\": %llu, \"update_data\": %llu, "
		"\"index_bytes\": %llu, \"unique_blocks\": %llu, \"index_bytes_per_unique_block\": %.2f, \"rounds\": [",
		(unsigned long long)s->base_data, (unsigned long long)s->extra_data,
		(unsigned long long)s->update_data, (unsigned long long)s->index_bytes,
		(unsigned long long)s->unique_blocks,
		s->unique_blocks ? (double)s->index_bytes / s->unique_blocks : 0);
	for (int i = 0; i < s->rounds; i++)
		fprintf(f, "%s\n    {\"round\": %d, \"raw_bytes\": %llu, \"qcow2_bytes\": %llu, \"store_bytes\": %llu, "
			"\"reduction_vs_raw\": %.4f, \"store_over_qcow2\": %.4f, \"dedup_ratio\": %.3f, \"import_mbs\": %.1f}",
			i ? "," : "", i, (unsigned long long)s->r[i].raw, (unsigned long long)s->r[i].qcow2,
			(unsigned long long)s->r[i].store, 1 - (double)s->r[i].store / s->r[i].raw,
			(double)s->r[i].store / s->r[i].qcow2,
			s->r[i].unique ? (double)s->r[i].mapped / s->r[i].unique : 0, s->r[i].import_mbs);
	fprintf(f, "\n  ]},\n");
	json_rows(f, "speed_api", p->api, p->napi);
	json_rows(f, "speed_nbd", p->nbd, p->nnbd);
	fprintf(f, "  \"hash_xxh3_128_gbs\": %.2f, \"memcpy_gbs\": %.2f,\n"
		"  \"hash_xxh3_128_cached_gbs\": %.2f, \"memcpy_cached_gbs\": %.2f\n}\n",
		p->hash_gbs, p->memcpy_gbs, p->hash_cached_gbs, p->memcpy_cached_gbs);
	return fclose(f) ? -errno : 0;
}

/* Space per round and throughput per pattern, side by side. */
static int plot(const char *json, const struct space_result *s, const struct speed_result *p)
{
	char base[4096], path[4200];
	size_t n = strlen(json) > 5 && !strcmp(json + strlen(json) - 5, ".json") ? strlen(json) - 5 : strlen(json);

	snprintf(base, sizeof(base), "%.*s", (int)n, json);
	snprintf(path, sizeof(path), "%s.dat", base);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# round raw_MB qcow2_MB store_MB\n");
	for (int i = 0; i < s->rounds; i++)
		fprintf(f, "%d %.1f %.1f %.1f\n", i, s->r[i].raw / 1e6, s->r[i].qcow2 / 1e6, s->r[i].store / 1e6);
	fprintf(f, "\n\n# pattern raw_MBs store_MBs nbd_raw_MBs nbd_store_MBs\n");
	for (int i = 0; i < p->napi; i++)
		fprintf(f, "\"%s\" %.1f %.1f %.1f %.1f\n", p->api[i].name, p->api[i].raw_mbs, p->api[i].store_mbs,
			i < p->nnbd ? p->nbd[i].raw_mbs : 0, i < p->nnbd ? p->nbd[i].store_mbs : 0);
	fclose(f);
	snprintf(path, sizeof(path), "%s.gp", base);
	if (!(f = fopen(path, "w")))
		return -errno;
	for (int png = 0; png < 2; png++) {
		fprintf(f, "set terminal %s size 1400,560\nset output '%s.%s'\n", png ? "pngcairo" : "svg",
			base, png ? "png" : "svg");
		fprintf(f, "set multiplot layout 1,2 title 'beyond bench blk'\n"
			"set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
			"set key top left\nset grid ytics\nset yrange [0:*]\n"
			"set title 'Space of the image fleet per update round'\nset ylabel 'MB on disk'\nset xlabel 'round'\n"
			"plot '%s.dat' index 0 using 2:xtic(1) title 'raw copies', '' index 0 using 3 title 'qcow2 base+overlays',"
			" '' index 0 using 4 title 'dedup store'\n"
			"set title 'Throughput (page cache; flush rows: durable)'\nset ylabel 'MB/s'\nset xlabel ''\nset xtics rotate by -30\n"
			"plot '%s.dat' index 1 using 2:xtic(1) title 'raw file', '' index 1 using 3 title 'store API',"
			" '' index 1 using 4 title 'qemu-nbd raw', '' index 1 using 5 title 'store NBD'\n"
			"unset multiplot\nunset xtics\nset xtics\n", base, base);
	}
	fclose(f);
	return bench_sh("gnuplot '%s' 2>&1", path) ? -EIO : 0;
}

/* --- main -------------------------------------------------------------------- */

static const char bench_usage[] =
	"usage: beyond bench blk [--quick] [--dir DIR] [--out FILE.json]\n"
	"  space: 20 similar ext4 images and update rounds, raw vs qcow2 overlays vs the store\n"
	"  speed: 4K/64K sequential/random I/O, raw file vs store, directly and over NBD; hash vs memcpy\n"
	"  --quick   a smaller run (under a minute)\n"
	"  --dir     where the scratch directory goes (default /tmp)\n"
	"  --out     JSON path (default results/blk-DATE.json; plot .svg/.png next to it)\n";

int blk_bench_main(int argc, char **argv)
{
	struct bench_cfg c = { .images = 20, .rounds = 3, .reps = 3, .base_bytes = 96 << 20,
			       .extra_bytes = 4 << 20, .update_bytes = 8 << 20, .image_bytes = 256 << 20,
			       .speed_bytes = 128 << 20 };
	const char *dir = "/tmp", *out = NULL;
	char outbuf[256], work[4096];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			c.rounds = 1, c.reps = 1, c.base_bytes = 16 << 20, c.extra_bytes = 1 << 20;
			c.update_bytes = 2 << 20, c.image_bytes = 64 << 20, c.speed_bytes = 32 << 20;
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			out = argv[++i];
		} else {
			fputs(bench_usage, strcmp(argv[i], "--help") ? stderr : stdout);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (!out) {
		time_t now = time(NULL);
		strftime(outbuf, sizeof(outbuf), "results/blk-%Y%m%d-%H%M%S.json", localtime(&now));
		out = outbuf;
	}
	if (bench_sh("mkdir -p \"$(dirname '%s')\"", out))
		fprintf(stderr, "bench blk: cannot create the directory of %s\n", out);
	snprintf(work, sizeof(work), "%s/beyond-bench-blk.XXXXXX", dir);
	if (!mkdtemp(work)) {
		fprintf(stderr, "bench blk: cannot make a scratch directory in %s: %s\n", dir, strerror(errno));
		return 1;
	}
	c.work = work;

	struct space_result space = { 0 };
	struct speed_result speed = { 0 };
	const char *skipped = NULL;
	double t0 = bench_now();
	for (const char *const *t = (const char *const[]){ "mkfs.ext4", "debugfs", "qemu-img", NULL }; *t; t++)
		if (!have(*t))
			skipped = "mkfs.ext4, debugfs (e2fsprogs) and qemu-img (qemu-utils) are needed";
	if (skipped)
		fprintf(stderr, "bench blk: space part skipped: %s\n", skipped);
	int err = skipped ? 0 : bench_space(&c, &space);
	bench_sh("rm -rf %s/*", work);
	if (!err)
		err = bench_speed(&c, &speed);
	bench_sh("rm -rf %s", work);
	if (err) {
		fprintf(stderr, "bench blk: failed: %s\n", strerror(-err));
		return 1;
	}
	if (!skipped)
		print_space(&c, &space);
	print_rows("speed, store API vs raw file (MB/s)", speed.api, speed.napi);
	if (speed.nnbd)
		print_rows("speed through NBD, store vs qemu-nbd serving the raw file (MB/s)", speed.nbd, speed.nnbd);
	printf("\nhashing XXH3-128 (4 KiB blocks) %.1f GB/s next to memcpy %.1f GB/s in cache (256 KiB), "
	       "%.1f vs %.1f GB/s from memory\n", speed.hash_cached_gbs, speed.memcpy_cached_gbs, speed.hash_gbs,
	       speed.memcpy_gbs);
	if (!skipped && space.rounds)
		printf("\ntargets: space reduction vs raw %.1f%% (want >= 80%%), store/qcow2 after updates %.2f (want < 1)",
		       100.0 * (1 - (double)space.r[space.rounds - 1].store / space.r[space.rounds - 1].raw),
		       (double)space.r[space.rounds - 1].store / space.r[space.rounds - 1].qcow2);
	printf("\ninline-dedup write throughput vs raw file: page cache seq 64K %.2f, rand 4K %.2f; "
	       "durable (flush every 4 MiB) seq 64K %.2f, rand 4K %.2f (want >= 0.8)\n",
	       speed.api[0].store_mbs / speed.api[0].raw_mbs, speed.api[2].store_mbs / speed.api[2].raw_mbs,
	       speed.api[8].store_mbs / speed.api[8].raw_mbs, speed.api[9].store_mbs / speed.api[9].raw_mbs);
	if ((err = write_json(out, &c, &space, &speed, skipped)))
		fprintf(stderr, "bench blk: cannot write %s: %s\n", out, strerror(-err));
	else if (plot(out, &space, &speed))
		fprintf(stderr, "bench blk: gnuplot failed; data is in %s\n", out);
	printf("results: %s (plot next to it); %.0f s\n", out, bench_now() - t0);
	return err ? 1 : 0;
}
