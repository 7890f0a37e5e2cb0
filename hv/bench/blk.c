/* `beyond bench blk`: runs the space and speed parts, prints a table and
 * writes JSON plus a gnuplot plot (SVG and PNG) next to it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "hv/bench/blk.h"
#include "hv/bench/blk_nbd.h"

/* The space part drives mkfs.ext4, debugfs and qemu-img through shell command lines. */
int blk_bench_sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

uint64_t blk_bench_du(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

static bool have(const char *tool)
{
	return blk_bench_sh("command -v %s >/dev/null 2>&1", tool) == 0;
}

/* --- report ---------------------------------------------------------------- */

static void print_space(const struct blk_bench_cfg *c, const struct space_result *s)
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

static void json_rows(struct json *j, const char *key, const struct speed_row *rows, int n)
{
	json_array(j, key, 1);
	for (int i = 0; i < n; i++) {
		json_object(j, NULL, 0);
		json_str(j, "pattern", rows[i].name);
		json_num(j, "raw_mbs", rows[i].raw_mbs, 1);
		json_num(j, "store_mbs", rows[i].store_mbs, 1);
		json_num(j, "ratio", rows[i].store_mbs / rows[i].raw_mbs, 3);
		json_end(j);
	}
	json_end(j);
}

static void json_space(struct json *j, const struct space_result *s)
{
	json_object(j, "space", 1);
	json_uint(j, "base_data", s->base_data);
	json_uint(j, "extra_data", s->extra_data);
	json_uint(j, "update_data", s->update_data);
	json_uint(j, "index_bytes", s->index_bytes);
	json_uint(j, "unique_blocks", s->unique_blocks);
	json_num(j, "index_bytes_per_unique_block", s->unique_blocks ? (double)s->index_bytes / s->unique_blocks : 0, 2);
	json_array(j, "rounds", 1);
	for (int i = 0; i < s->rounds; i++) {
		const struct space_round *r = &s->r[i];
		json_object(j, NULL, 0);
		json_int(j, "round", i);
		json_uint(j, "raw_bytes", r->raw);
		json_uint(j, "qcow2_bytes", r->qcow2);
		json_uint(j, "store_bytes", r->store);
		json_num(j, "reduction_vs_raw", 1 - (double)r->store / r->raw, 4);
		json_num(j, "store_over_qcow2", (double)r->store / r->qcow2, 4);
		json_num(j, "dedup_ratio", r->unique ? (double)r->mapped / r->unique : 0, 3);
		json_num(j, "import_mbs", r->import_mbs, 1);
		json_end(j);
	}
	json_end(j);
	json_end(j);
}

static void json_index(struct json *j, const struct index_result *x)
{
	json_object(j, "index", 1);
	json_uint(j, "entries", x->entries);
	json_num(j, "bytes_per_entry", x->bytes_per_entry, 2);
	json_num(j, "insert_ns", x->insert_ns, 1);
	json_num(j, "hit_ns", x->hit_ns, 1);
	json_num(j, "miss_ns", x->miss_ns, 1);
	json_num(j, "batch_hit_ns", x->batch_hit_ns, 1);
	json_num(j, "batch_miss_ns", x->batch_miss_ns, 1);
	json_end(j);
}

static int write_json(const struct bench_out *o, const struct blk_bench_cfg *c, const struct space_result *s,
		      const struct speed_result *p, const struct index_result *x, const struct blk_nbd_result *nbd)
{
	FILE *f = bench_out_open(o, "json");
	struct json j;

	if (!f)
		return -1;
	json_start(&j, f);
	json_object(&j, NULL, 1);
	json_str(&j, "benchmark", "blk");
	json_int(&j, "time", (long long)time(NULL));
	json_int(&j, "images", c->images);
	json_uint(&j, "image_bytes", c->image_bytes);
	json_int(&j, "rounds", c->rounds);
	json_int(&j, "reps", c->reps);
	json_uint(&j, "speed_bytes", c->speed_bytes);
	if (!s->check.achieved)
		json_str(&j, "space_skipped", s->check.reason);
	json_space(&j, s);
	json_rows(&j, "speed_api", p->api, p->napi);
	json_num(&j, "hash_xxh3_128_gbs", p->hash_gbs, 2);
	json_num(&j, "memcpy_gbs", p->memcpy_gbs, 2);
	json_num(&j, "hash_xxh3_128_cached_gbs", p->hash_cached_gbs, 2);
	json_num(&j, "memcpy_cached_gbs", p->memcpy_cached_gbs, 2);
	json_index(&j, x);
	if (nbd)
		blk_bench_nbd_json(&j, nbd);
	json_end(&j);
	return bench_out_close(o, "json", f);
}

/* STEM.dat: block 0 the throughput per pattern, block 1 the space per round (none when skipped). */
static int write_dat(const struct bench_out *o, const struct space_result *s, const struct speed_result *p)
{
	FILE *f = bench_out_open(o, "dat");

	if (!f)
		return -1;
	fprintf(f, "# pattern raw_MBs store_MBs\n");
	for (int i = 0; i < p->napi; i++)
		fprintf(f, "\"%s\" %.1f %.1f\n", p->api[i].name, p->api[i].raw_mbs, p->api[i].store_mbs);
	fprintf(f, "\n\n# round raw_MB qcow2_MB store_MB\n");
	for (int i = 0; i < s->rounds; i++)
		fprintf(f, "%d %.1f %.1f %.1f\n", i, s->r[i].raw / 1e6, s->r[i].qcow2 / 1e6, s->r[i].store / 1e6);
	return bench_out_close(o, "dat", f);
}

/* Space per round and throughput per pattern, side by side. */
static void plot_body(FILE *gp, const char *dat, void *ctx)
{
	const struct space_result *s = ctx;

	fprintf(gp, "set multiplot layout 1,2 title 'beyond bench blk'\n"
		"set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
		"set key top left\nset grid ytics\nset yrange [0:*]\n"
		"set title 'Space of the image fleet per update round'\nset ylabel 'MB on disk'\nset xlabel 'round'\n");
	if (s->rounds)
		fprintf(gp, "plot '%s' index 1 using 2:xtic(1) title 'raw copies', '' index 1 using 3 title "
			"'qcow2 base+overlays', '' index 1 using 4 title 'dedup store'\n", dat);
	else /* no data: a fixed range, not an empty one */
		fprintf(gp, "plot [0:1] [0:1] 0 title 'space part skipped'\n");
	fprintf(gp, "set title 'Throughput (page cache; flush rows: durable)'\nset ylabel 'MB/s'\nset xlabel ''\n"
		"set xtics rotate by -30\n"
		"plot '%s' index 0 using 2:xtic(1) title 'raw file', '' index 0 using 3 title 'store API'\n"
		"unset multiplot\nunset xtics\nset xtics\n", dat);
}

/* --- main -------------------------------------------------------------------- */

static const char bench_usage[] =
	"usage: beyond bench blk [--quick] [--dir DIR] [--json FILE]\n"
	"  space: 20 similar ext4 images and update rounds, raw vs qcow2 overlays vs the store\n"
	"  speed: 4K/64K sequential/random I/O, raw file vs store API; hash vs memcpy\n"
	"  nbd: beyond's NBD server vs qemu-nbd (raw, qcow2) and nbdkit (file) with fio, qemu-img bench,\n"
	"       nbdcopy; reads behind a FLUSH\n"
	"  --quick       a smaller run (a few minutes)\n"
	"  --dir         where the scratch directory goes (default /tmp)\n"
	"  --json FILE   JSON path (also --out; default results/blk-DATE.json; plot .svg/.png next to it)\n";

int bench_blk_main(int argc, char **argv)
{
	static const struct option opts[] = { BENCH_OPTIONS, { "dir", required_argument, NULL, 'd' }, { 0 } };
	struct blk_bench_cfg c = { .images = 20, .rounds = 3, .reps = 3, .base_bytes = 96 << 20,
				   .extra_bytes = 4 << 20, .update_bytes = 8 << 20, .image_bytes = 256 << 20,
				   .speed_bytes = 128 << 20, .index_entries = 16u << 20 };
	const char *dir = "/tmp";
	char work[4096];
	struct bench_args a;
	struct bench_out out;
	int opt;

	bench_args_init(&a, bench_usage);
	while ((opt = bench_getopt(&a, argc, argv, opts)) > 0)
		dir = optarg; /* --dir, the only option of its own */
	if (opt < 0)
		return a.status;
	if (a.quick) {
		c.rounds = 1, c.reps = 1, c.base_bytes = 16 << 20, c.extra_bytes = 1 << 20;
		c.update_bytes = 2 << 20, c.image_bytes = 64 << 20, c.speed_bytes = 32 << 20;
		c.index_entries = 1u << 20;
	}
	if (bench_out_init(&out, "blk", a.json))
		return 1;
	snprintf(work, sizeof(work), "%s/beyond-bench-blk.XXXXXX", dir);
	if (!mkdtemp(work)) {
		fprintf(stderr, "bench blk: cannot make a scratch directory in %s: %s\n", dir, strerror(errno));
		return 1;
	}
	c.work = work;

	struct space_result space = { 0 };
	struct speed_result speed = { 0 };
	struct index_result index = { 0 };
	double t0 = bench_now();
	bench_check_init(&space.check);
	for (const char *const *t = (const char *const[]){ "mkfs.ext4", "debugfs", "qemu-img", NULL }; *t; t++)
		if (!have(*t))
			bench_fail(&space.check, "mkfs.ext4, debugfs (e2fsprogs) and qemu-img (qemu-utils) are needed");
	if (!space.check.achieved)
		fprintf(stderr, "bench blk: space part skipped: %s\n", space.check.reason);
	int err = space.check.achieved ? blk_bench_space(&c, &space) : 0;
	blk_bench_sh("rm -rf %s/*", work);
	if (!err)
		err = blk_bench_speed(&c, &speed);
	if (!err)
		err = blk_bench_index(&c, &index);
	struct blk_nbd_result *nbd = err ? NULL : blk_bench_nbd(&c, a.quick);
	blk_bench_sh("rm -rf %s", work);
	if (err) {
		fprintf(stderr, "bench blk: failed: %s\n", strerror(-err));
		return 1;
	}
	if (space.check.achieved)
		print_space(&c, &space);
	print_rows("speed, store API vs raw file (MB/s)", speed.api, speed.napi);
	printf("\nhashing XXH3-128 (4 KiB blocks) %.1f GB/s next to memcpy %.1f GB/s in cache (256 KiB), "
	       "%.1f vs %.1f GB/s from memory\n", speed.hash_cached_gbs, speed.memcpy_cached_gbs, speed.hash_gbs,
	       speed.memcpy_gbs);
	printf("\ndedup index, %zu entries: %.1f bytes each with the slot word; insert %.0f ns, lookup hit %.0f ns, "
	       "miss %.0f ns; in batches of a write (prefetched) hit %.0f ns, miss %.0f ns\n", index.entries,
	       index.bytes_per_entry, index.insert_ns, index.hit_ns, index.miss_ns, index.batch_hit_ns,
	       index.batch_miss_ns);
	if (space.check.achieved && space.rounds)
		printf("\ntargets: space reduction vs raw %.1f%% (want >= 80%%), store/qcow2 after updates %.2f (want < 1)",
		       100.0 * (1 - (double)space.r[space.rounds - 1].store / space.r[space.rounds - 1].raw),
		       (double)space.r[space.rounds - 1].store / space.r[space.rounds - 1].qcow2);
	printf("\ninline-dedup write throughput vs raw file: page cache seq 64K %.2f, rand 4K %.2f; "
	       "durable (flush every 4 MiB) seq 64K %.2f, rand 4K %.2f (want >= 0.8)\n",
	       speed.api[0].store_mbs / speed.api[0].raw_mbs, speed.api[2].store_mbs / speed.api[2].raw_mbs,
	       speed.api[8].store_mbs / speed.api[8].raw_mbs, speed.api[9].store_mbs / speed.api[9].raw_mbs);
	if (nbd)
		blk_bench_nbd_print(nbd);
	err = write_json(&out, &c, &space, &speed, &index, nbd);
	blk_bench_nbd_free(nbd);
	if (!err && !write_dat(&out, &space, &speed))
		bench_plot(&out, 1400, 560, plot_body, &space);
	printf("results: %s.json; %.0f s\n", out.stem, bench_now() - t0);
	return err ? 1 : 0;
}
