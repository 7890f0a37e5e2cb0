/*
 * `beyond bench io`: a guest reads and writes through virtio-blk
 * (sequential 1 MiB, random 4 KiB at depth 1 and 16) against a raw file
 * and a store volume, next to the same workload loop (workloads/io.c, the
 * very same offsets) run on the host in the same process: pread/pwrite on
 * the raw file, the store API on the volume. The host loop is synchronous
 * on one thread, as the device serves the queue on one I/O thread by
 * default, and runs on the CPUs that thread would get (off the vCPU's).
 * Every store run, host or guest, starts on a fresh clone of one prepared
 * volume (reset_volume). Configurations are interleaved per round; every
 * guest run must report every pattern without an error. Then the caps: an
 * IOPS and a bytes/s cap, each held for a while, achieved against set.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "blk/disk.h"
#include "blk/disk_spec.h"
#include "blk/store.h"
#include "blk/virtio_blk.h"
#include "guest-runtime/workloads/io.h"
#include "hv/bench/bench.h"
#include "hv/cli/cli.h"
#include "hv/guests.h"
#include "hv/kvm.h"
#include "hv/vm.h"
#include "mm/pagetable.h"

#define MAX_REPS 16
#define CAP_IOPS 2000
#define CAP_BPS (64ull << 20)

static const char io_usage[] =
	"usage: beyond bench io [--quick] [--dir DIR] [--target raw|store] [--reps N] [--seconds S] [--cpu N] [--json FILE]\n"
	"--dir: where the raw file and the store go (default /var/tmp)\n"
	"--target: only the raw file or only the store volume (default both)\n"
	"--seconds: whole seconds per pattern and configuration (default 2, --quick 0.3)\n";

static const struct pattern {
	const char *name;
	uint32_t pattern, write, block, depth;
} pats[] = {
	{ "seq 1M read", IO_SEQ, 0, 1u << 20, 1 },     { "seq 1M write", IO_SEQ, 1, 1u << 20, 1 },
	{ "rand 4K read d1", IO_RAND, 0, 4096, 1 },    { "rand 4K write d1", IO_RAND, 1, 4096, 1 },
	{ "rand 4K read d16", IO_RAND, 0, 4096, 16 },  { "rand 4K write d16", IO_RAND, 1, 4096, 16 },
};
#define N_PATS (sizeof(pats) / sizeof(pats[0]))

enum { RAW, STORE, TARGETS };
enum { HOST, GUEST, MODES };
static const char *const target_names[TARGETS] = { "raw file", "store volume" };
static const char *const mode_names[MODES] = { "host", "guest" };

struct cell {
	double mbs[MAX_REPS];
	unsigned n;
	struct bench_stats st;
};

struct cap_result {
	const char *what;
	double set, got;             /* per second */
	struct bench_check check;
};

struct notify_result {
	int asked, got;              /* ioeventfd asked for, and used */
	double ns;                   /* per notification, as the guest sees it */
	struct bench_check check;
};

#define N_CAPS 3

struct io_bench {
	struct bench_args args;
	unsigned reps;
	double seconds, tsc_hz;
	uint64_t span;
	char dir[512], spec[TARGETS][1024];
	int cloned;                  /* the store holds a clone "disk" to remove */
	struct cell c[TARGETS][MODES][N_PATS];
	struct bench_check check[TARGETS][MODES];
	struct cap_result caps[N_CAPS];
	struct notify_result notify[2]; /* by MMIO exit, through ioeventfd */
	struct kvm_host kvm;
};

static void add_sample(struct io_bench *b, int t, int m, unsigned p, const struct beyond_io_result *r)
{
	struct cell *c = &b->c[t][m][p];
	if (r->errors)
		bench_fail(&b->check[t][m], "%s: %u requests failed", pats[p].name, r->errors);
	else if (r->cycles == 0 || r->ops == 0)
		bench_fail(&b->check[t][m], "%s: no request completed", pats[p].name);
	else if (c->n < MAX_REPS)
		c->mbs[c->n++] = r->bytes / (r->cycles / b->tsc_hz) / 1e6;
}

/*
 * A store run, host or guest, starts on a fresh writable clone ("disk") of
 * the prepared volume ("base"): the same layout, the same free space, no
 * block of an earlier run's writes left to find. Otherwise each run reads
 * what the runs before it scattered (a host seq 1M read: 19 GB/s on the
 * prepared layout, 3.8 GB/s after earlier runs' writes) and writes into
 * the space they left; whichever ran first won.
 */
static int reset_volume(struct io_bench *b, struct bench_check *check)
{
	char path[700];
	struct blk_store *s;
	snprintf(path, sizeof(path), "%s/store", b->dir);
	int r = blk_store_open(path, &s);
	if (r == 0) {
		r = b->cloned ? blk_vol_remove(s, "disk") : 0;
		if (r == 0)
			r = blk_vol_copy(s, "base", "disk", true);
		b->cloned = r == 0;
		if (r == 0)
			r = blk_flush(s);
		int c = blk_store_close(s);
		r = r ? r : c;
	}
	if (r)
		bench_fail(check, "cannot make a fresh clone of the volume: %s", strerror(-r));
	return r;
}

/* --- the host baseline: the workload loop, each request done at once ---------- */

struct host_ctx {
	struct disk *d;
	uint64_t tags[IO_MAX_DEPTH];
	int status[IO_MAX_DEPTH];
	unsigned n;
};

static int host_submit(void *ctx, int write, uint64_t off, void *buf, uint32_t len, uint64_t tag)
{
	struct host_ctx *h = ctx;
	int r = write ? disk_write(h->d, buf, off, len) : disk_read(h->d, buf, off, len);
	h->tags[h->n] = tag;
	h->status[h->n++] = r < 0;
	return 0;
}

static void host_kick(void *ctx) { (void)ctx; }

static int host_complete(void *ctx, uint64_t *tag)
{
	struct host_ctx *h = ctx;
	if (h->n == 0)
		return -1;
	h->n--;
	*tag = h->tags[h->n];
	return h->status[h->n];
}

/* Buffers as the guest fills them: incompressible, distinct. */
static uint8_t *make_bufs(uint64_t size)
{
	uint8_t *p = aligned_alloc(4096, size);
	for (uint64_t k = 0; p && k < size; k += 8)
		*(uint64_t *)(p + k) = (k + 1) * 0x9e3779b97f4a7c15ull;
	return p;
}

static void run_host(struct io_bench *b, int t, const unsigned *order, uint64_t seed)
{
	if (t == STORE && reset_volume(b, &b->check[t][HOST]))
		return;
	struct disk_spec spec;
	struct host_ctx h = { 0 };
	char err[512];
	uint8_t *bufs = make_bufs(16u << 20);
	if (!bufs || disk_spec_parse(b->spec[t], &spec, err, sizeof(err)) ||
	    disk_spec_open(&spec, &h.d, err, sizeof(err))) {
		bench_fail(&b->check[t][HOST], "%s", bufs ? err : "out of memory");
		free(bufs);
		return;
	}
	/* Placed as the device places its I/O thread (off the vCPU's CPU, where it has a choice), and
	 * back afterwards: the next VM's threads inherit this thread's CPUs. */
	cpu_set_t was, set;
	int saved = sched_getaffinity(0, sizeof(was), &was) == 0;
	set = was;
	CPU_CLR(b->args.cpu, &set);
	if (saved && CPU_COUNT(&set) > 0)
		sched_setaffinity(0, sizeof(set), &set);
	for (unsigned i = 0; i < N_PATS; i++) {
		const struct pattern *p = &pats[order[i]];
		struct io_plan plan = { 0, p->pattern, p->write, p->block, p->depth, b->span,
					(uint64_t)(b->seconds * b->tsc_hz), seed, bufs };
		struct io_backend be = { host_submit, host_kick, host_complete, &h };
		struct beyond_io_result r;
		io_run(&plan, &be, &r);
		add_sample(b, t, HOST, order[i], &r);
	}
	if (saved)
		sched_setaffinity(0, sizeof(was), &was);
	disk_close(h.d);
	free(bufs);
}

/* --- the guest ----------------------------------------------------------------- */

struct guest_ctx {
	struct io_bench *b;
	int t;
	unsigned records, want;
	int ioeventfd;               /* what the device used: 1 KVM_IOEVENTFD, 0 MMIO exits */
	struct beyond_io_result last;
};

static void guest_result(void *opaque, uint32_t type, const void *rec, uint32_t len)
{
	struct guest_ctx *g = opaque;
	const struct beyond_io_result *r = rec;
	if (type != BEYOND_RESULT_IO || len != sizeof(*r))
		return;
	g->records++;
	g->last = *r;
	for (unsigned p = 0; g->b && p < N_PATS; p++)
		if (pats[p].pattern == r->pattern && pats[p].write == r->write && pats[p].block == r->block &&
		    pats[p].depth == r->depth)
			add_sample(g->b, g->t, GUEST, p, r);
}

/*
 * Runs the disk guest with argv on disk `spec` (and one more VM option if
 * extra is not NULL); the records go to g. 0, or -1 with why.
 */
static int run_vm(struct io_bench *b, const char *spec, const struct vm_option *extra, int argc, char **argv,
		  double timeout, struct guest_ctx *g, char *why, size_t whylen)
{
	const struct builtin_guest *img = builtin_guest_find("disk");
	struct vm_option opt[2] = { { "disk", spec } };
	if (extra)
		opt[1] = *extra;
	struct vm_config cfg = {
		.name = "disk", .image = img->image, .image_size = img->size, .mem_size = 128ull << 20,
		.vcpus = 1, .guest_page = PT_2M, .host_pages = HOST_THP, .populate = 1,
		.timeout = timeout, .argc = argc, .argv = argv,
		.console_fd = STDERR_FILENO, .pin = 1, .pin_cpu = b->args.cpu, .on_result = guest_result,
		.opaque = g, .options = opt, .n_options = extra ? 2 : 1,
	};
	struct vm vm;
	int r = -1;
	if (vm_create(&vm, &b->kvm, &cfg, why, whylen) == 0) {
		int st = vm_run(&vm);
		g->ioeventfd = virtio_blk_ioeventfd(&vm);
		if (st != 0)
			snprintf(why, whylen, "guest ended with %d: %s", st, vm.reason);
		else if (g->records != g->want)
			snprintf(why, whylen, "guest reported %u of %u runs", g->records, g->want);
		else
			r = 0;
	}
	vm_destroy(&vm);
	return r;
}

/* `disk bench SPAN MS SEED RUN...`: one record per run. */
static int run_bench_vm(struct io_bench *b, const char *spec, const struct vm_option *extra, char **runs,
			unsigned n_runs, double seconds, uint64_t seed, struct guest_ctx *g, char *why, size_t whylen)
{
	char span[32], ms[32], sd[32];
	char *argv[4 + N_PATS] = { "bench", span, ms, sd };
	snprintf(span, sizeof(span), "%llu", (unsigned long long)b->span);
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(seconds * 1000));
	snprintf(sd, sizeof(sd), "%llu", (unsigned long long)seed);
	memcpy(argv + 4, runs, n_runs * sizeof(char *));
	g->want = n_runs;
	return run_vm(b, spec, extra, 4 + n_runs, argv, 60 + seconds * n_runs * 4, g, why, whylen);
}

static void run_guest(struct io_bench *b, int t, const unsigned *order, uint64_t seed)
{
	char run_names[N_PATS][48], *runs[N_PATS], why[768];
	for (unsigned i = 0; i < N_PATS; i++) {
		const struct pattern *p = &pats[order[i]];
		snprintf(run_names[i], sizeof(run_names[i]), "0:%s:%c:%u:%u", p->pattern == IO_SEQ ? "seq" : "rand",
			 p->write ? 'w' : 'r', p->block, p->depth);
		runs[i] = run_names[i];
	}
	/* The host's seed: the same offsets (io_run). */
	struct guest_ctx g = { .b = b, .t = t };
	if (t == STORE && reset_volume(b, &b->check[t][GUEST]))
		return;
	if (run_bench_vm(b, b->spec[t], NULL, runs, N_PATS, b->seconds, seed, &g, why, sizeof(why)))
		bench_fail(&b->check[t][GUEST], "%s", why);
}

/*
 * One cap held for the cap time: what got through, per second. `extra` is
 * a disk item (iops=N) or, with vm_opt, the VM's cap (io-iops N).
 */
static void run_cap(struct io_bench *b, struct cap_result *c, const char *extra, const struct vm_option *vm_opt,
		    const char *run, double seconds)
{
	char spec[1200], why[768], *runs[1] = { (char *)run };
	struct guest_ctx g = { 0 };
	snprintf(spec, sizeof(spec), "%s%s%s", b->spec[RAW], extra ? "," : "", extra ? extra : "");
	bench_check_init(&c->check);
	if (run_bench_vm(b, spec, vm_opt, runs, 1, seconds, 1, &g, why, sizeof(why))) {
		bench_fail(&c->check, "%s", why);
		return;
	}
	double s = g.last.cycles / b->tsc_hz;
	c->got = strstr(c->what, "iops") ? g.last.ops / s : g.last.bytes / s;
	if (c->got < 0.95 * c->set || c->got > 1.05 * c->set)
		bench_fail(&c->check, "%.0f per second against a cap of %.0f (outside +-5%%)", c->got, c->set);
}

/* Queue notifications from the guest: through KVM_IOEVENTFD if KVM takes it, and by MMIO exit. */
static void run_notify(struct io_bench *b, struct notify_result *n, int use_ioeventfd)
{
	char spec[1200], why[768], count[16], *argv[] = { "notify", "0", count };
	struct guest_ctx g = { .want = 1 };
	unsigned times = b->args.quick ? 2000 : 20000;
	snprintf(count, sizeof(count), "%u", times);
	snprintf(spec, sizeof(spec), "%s,ioeventfd=%s", b->spec[RAW], use_ioeventfd ? "on" : "off");
	bench_check_init(&n->check);
	n->asked = use_ioeventfd;
	if (run_vm(b, spec, NULL, 3, argv, 120, &g, why, sizeof(why))) {
		bench_fail(&n->check, "%s", why);
		return;
	}
	n->got = g.ioeventfd;
	n->ns = g.last.ops ? g.last.cycles / b->tsc_hz / g.last.ops * 1e9 : 0;
	if (use_ioeventfd && !g.ioeventfd)
		bench_fail(&n->check, "KVM refused KVM_IOEVENTFD for the QueueNotify register: MMIO exits instead");
}

/* --- set-up: a raw file and a store volume of the same random content ------------ */

static int prepare(struct io_bench *b)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/raw", b->dir);
	FILE *f = fopen(path, "w");
	uint8_t *chunk = make_bufs(1u << 20);
	struct blk_store *s = NULL;
	struct blk_vol *v = NULL;
	int r = -1;
	if (!f || !chunk)
		goto out;
	snprintf(b->spec[RAW], sizeof(b->spec[RAW]), "file=%s", path);
	snprintf(path, sizeof(path), "%s/store", b->dir);
	snprintf(b->spec[STORE], sizeof(b->spec[STORE]), "store=%s,vol=disk", path);
	if (blk_store_create(path, 4096, BLK_DEDUP_INLINE) || blk_store_open(path, &s) ||
	    blk_vol_create(s, "base", b->span) || blk_vol_open(s, "base", &v))
		goto out;
	for (uint64_t off = 0; off < b->span; off += 1u << 20) {
		*(uint64_t *)chunk = off; /* distinct megabytes */
		for (unsigned k = 0; k < (1u << 20); k += 4096)
			*(uint64_t *)(chunk + k) = off + k + 1;
		if (fwrite(chunk, 1, 1u << 20, f) != 1u << 20 || blk_write(v, chunk, off, 1u << 20, 0))
			goto out;
	}
	r = blk_flush(s);
out:
	if (r)
		fprintf(stderr, "bench io: cannot prepare the raw file and the store in %s\n", b->dir);
	if (v)
		blk_vol_close(v);
	if (s && blk_store_close(s))
		r = -1;
	if (f && fclose(f))
		r = -1;
	free(chunk);
	return r;
}

/* --- report ----------------------------------------------------------------------- */

static double ratio(struct io_bench *b, int t, unsigned p)
{
	double h = b->c[t][HOST][p].st.median;
	return h > 0 ? b->c[t][GUEST][p].st.median / h : 0;
}

static void print_table(struct io_bench *b)
{
	printf("\n%-18s", "pattern");
	for (int t = 0; t < TARGETS; t++)
		printf(" | %-12s %9s %9s %6s", target_names[t], "host", "guest", "ratio");
	printf("\n");
	for (unsigned p = 0; p < N_PATS; p++) {
		int seq = pats[p].pattern == IO_SEQ;
		double unit = seq ? 1 : 1e6 / pats[p].block; /* MB/s for sequential, IOPS for random */
		printf("%-18s", pats[p].name);
		for (int t = 0; t < TARGETS; t++)
			printf(" | %-12s %9.0f %9.0f %6.2f", seq ? "MB/s" : "IOPS", b->c[t][HOST][p].st.median * unit,
			       b->c[t][GUEST][p].st.median * unit, ratio(b, t, p));
		printf("\n");
	}
	for (int t = 0; t < TARGETS; t++)
		for (int m = 0; m < MODES; m++)
			if (!b->check[t][m].achieved)
				printf("%s, %s: not achieved: %s\n", target_names[t], mode_names[m], b->check[t][m].reason);
	for (int i = 0; i < 2; i++) {
		struct notify_result *n = &b->notify[i];
		printf("notify: %s: %s, %.0f ns each%s%s\n", n->asked ? "ioeventfd asked" : "MMIO exit asked",
		       n->got ? "KVM_IOEVENTFD accepted" : "MMIO exit", n->ns, n->check.achieved ? "" : "  not achieved: ",
		       n->check.achieved ? "" : n->check.reason);
	}
	for (int i = 0; i < N_CAPS; i++) {
		struct cap_result *c = &b->caps[i];
		printf("cap %-29s set %10.0f got %10.0f (%.3f)%s%s\n", c->what, c->set, c->got, c->set ? c->got / c->set : 0,
		       c->check.achieved ? "" : "  not achieved: ", c->check.achieved ? "" : c->check.reason);
	}
}

static void write_json(struct io_bench *b, const struct bench_out *o)
{
	char path[BENCH_PATH_MAX];
	FILE *f = fopen(bench_out_path(o, "json", path, sizeof(path)), "w");
	if (!f)
		return;
	struct json j;
	json_start(&j, f);
	json_object(&j, NULL, 1);
	json_str(&j, "bench", "io");
	json_num(&j, "seconds_per_run", b->seconds, 2);
	json_uint(&j, "span_bytes", b->span);
	json_uint(&j, "reps", b->reps);
	json_str(&j, "baseline", "the same loop on the host, one thread, requests done synchronously: "
		 "pread/pwrite on the raw file, blk_read/blk_write on the volume; each store run on a fresh clone");
	json_array(&j, "results", 1);
	for (int t = 0; t < TARGETS; t++)
		for (unsigned p = 0; p < N_PATS; p++) {
			json_object(&j, NULL, 0);
			json_str(&j, "target", target_names[t]);
			json_str(&j, "pattern", pats[p].name);
			json_uint(&j, "block", pats[p].block);
			json_uint(&j, "depth", pats[p].depth);
			for (int m = 0; m < MODES; m++) {
				char key[32];
				snprintf(key, sizeof(key), "%s_mbs", mode_names[m]);
				json_num(&j, key, b->c[t][m][p].st.median, 2);
				snprintf(key, sizeof(key), "%s_spread", mode_names[m]);
				json_num(&j, key, b->c[t][m][p].st.spread, 3);
			}
			json_num(&j, "ratio", ratio(b, t, p), 3);
			json_end(&j);
		}
	json_end(&j);
	json_array(&j, "checks", 1);
	for (int t = 0; t < TARGETS; t++)
		for (int m = 0; m < MODES; m++) {
			json_object(&j, NULL, 0);
			json_str(&j, "target", target_names[t]);
			json_str(&j, "mode", mode_names[m]);
			json_check(&j, &b->check[t][m]);
			json_end(&j);
		}
	json_end(&j);
	json_array(&j, "notify", 1);
	for (int i = 0; i < 2; i++) {
		json_object(&j, NULL, 0);
		json_bool(&j, "ioeventfd_asked", b->notify[i].asked);
		json_bool(&j, "ioeventfd", b->notify[i].got);
		json_num(&j, "ns_per_notify", b->notify[i].ns, 0);
		json_check(&j, &b->notify[i].check);
		json_end(&j);
	}
	json_end(&j);
	json_array(&j, "caps", 1);
	for (int i = 0; i < N_CAPS; i++) {
		json_object(&j, NULL, 0);
		json_str(&j, "cap", b->caps[i].what);
		json_num(&j, "set", b->caps[i].set, 0);
		json_num(&j, "got", b->caps[i].got, 1);
		json_num(&j, "ratio", b->caps[i].set ? b->caps[i].got / b->caps[i].set : 0, 4);
		json_check(&j, &b->caps[i].check);
		json_end(&j);
	}
	json_end(&j);
	json_end(&j);
	fclose(f);
	printf("json: %s\n", path);
}

static void plot_body(FILE *gp, const char *dat, void *ctx)
{
	(void)ctx;
	fprintf(gp, "set title 'guest virtio-blk / host, same loop (median)'\n"
		    "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8\n"
		    "set ylabel 'guest / host'\nset yrange [0:*]\nset xtics rotate by -25\nset key top right\n"
		    "plot '%s' using 2:xtic(1) title 'raw file (pread/pwrite)', '' using 3 title 'store volume (store API)', "
		    "0.8 with lines dashtype 2 title 'target 0.8'\n", dat);
}

static void write_plot(struct io_bench *b, const struct bench_out *o)
{
	FILE *f = bench_out_open(o, "dat");
	if (!f)
		return;
	for (unsigned p = 0; p < N_PATS; p++)
		fprintf(f, "\"%s\" %.4f %.4f\n", pats[p].name, ratio(b, RAW, p), ratio(b, STORE, p));
	if (bench_out_close(o, "dat", f) == 0)
		bench_plot(o, 900, 500, plot_body, b);
}

int bench_io_main(int argc, char **argv)
{
	static struct io_bench b;
	static const struct option opts[] = {
		BENCH_OPTIONS, BENCH_OPTION_CPU,
		{ "dir", required_argument, NULL, 'd' }, { "reps", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' }, { "target", required_argument, NULL, 't' }, { 0 },
	};
	const char *dir = "/var/tmp";
	int c;
	memset(&b, 0, sizeof(b));
	bench_args_init(&b.args, io_usage);
	b.reps = 0;
	unsigned ms = 0, targets = 3; /* bit t: target t runs */
	while ((c = bench_getopt(&b.args, argc, argv, opts)) > 0) {
		int bad = 0;
		if (c == 'd')
			dir = optarg;
		else if (c == 'r')
			bad = bench_parse_uint(&b.args, "--reps", optarg, 1, MAX_REPS, &b.reps);
		else if (c == 't' && (targets = !strcmp(optarg, "raw") ? 1u << RAW : !strcmp(optarg, "store") ? 1u << STORE : 0) == 0)
			bad = usage_error(io_usage, "--target takes raw or store");
		else if (c == 's' && (bad = bench_parse_uint(&b.args, "--seconds", optarg, 1, 60, &ms)) == 0)
			b.seconds = ms;
		if (bad)
			return bad;
	}
	if (c < 0)
		return b.args.status;
	if (!b.reps)
		b.reps = b.args.quick ? 1 : 3;
	if (!b.seconds)
		b.seconds = b.args.quick ? 0.3 : 2;
	b.span = b.args.quick ? 64ull << 20 : 256ull << 20;
	double cap_seconds = b.args.quick ? 2 : 10;

	struct bench_out out;
	char err[256];
	if (bench_out_init(&out, "io", b.args.json))
		return 1;
	snprintf(b.dir, sizeof(b.dir), "%s/beyond-bench-io.XXXXXX", dir);
	if (!mkdtemp(b.dir)) {
		fprintf(stderr, "bench io: cannot make a directory in %s\n", dir);
		return 1;
	}
	if (kvm_host_open(&b.kvm, err, sizeof(err))) {
		fprintf(stderr, "bench io: %s\n", err);
		return 1;
	}
	int status = 1;
	if (prepare(&b) == 0) {
		for (int t = 0; t < TARGETS; t++)
			for (int m = 0; m < MODES; m++)
				bench_check_init(&b.check[t][m]);
		b.tsc_hz = bench_tsc_hz();
		struct bench_progress pr;
		uint64_t rng = 0x5eed;
		bench_progress_start(&pr, b.reps * TARGETS * MODES + 4);
		for (unsigned rep = 0; rep < b.reps; rep++) {
			uint32_t configs[TARGETS * MODES] = { 0, 1, 2, 3 };
			unsigned order[N_PATS] = { 0, 1, 2, 3, 4, 5 };
			bench_shuffle(configs, TARGETS * MODES, &rng);
			for (unsigned i = 0; i < TARGETS * MODES; i++) {
				int t = configs[i] / MODES, m = configs[i] % MODES;
				if (!(targets & 1u << t)) {
					bench_fail(&b.check[t][m], "not run (--target)");
					continue;
				}
				bench_progress(&pr, "round %u: %s, %s", rep + 1, target_names[t], mode_names[m]);
				(m == HOST ? run_host : run_guest)(&b, t, order, 1000 + rep);
			}
		}
		static const struct vm_option vm_cap = { "io-iops", "3000" };
		b.caps[0] = (struct cap_result){ "disk iops (rand 4K read d16)", CAP_IOPS, 0, { 0 } };
		b.caps[1] = (struct cap_result){ "disk bytes/s (seq 1M read)", (double)CAP_BPS, 0, { 0 } };
		b.caps[2] = (struct cap_result){ "vm iops (rand 4K write d16)", 3000, 0, { 0 } };
		bench_progress(&pr, "cap iops=%d for %.0f s", CAP_IOPS, cap_seconds);
		run_cap(&b, &b.caps[0], "iops=2000", NULL, "0:rand:r:4096:16", cap_seconds);
		bench_progress(&pr, "cap bps=64M for %.0f s", cap_seconds);
		run_cap(&b, &b.caps[1], "bps=64M", NULL, "0:seq:r:1048576:1", cap_seconds);
		bench_progress(&pr, "vm cap io-iops=3000 for %.0f s", cap_seconds);
		run_cap(&b, &b.caps[2], NULL, &vm_cap, "0:rand:w:4096:16", cap_seconds);
		bench_progress(&pr, "notifications");
		run_notify(&b, &b.notify[0], 0);
		run_notify(&b, &b.notify[1], 1);
		bench_progress_end(&pr);
		for (int t = 0; t < TARGETS; t++)
			for (int m = 0; m < MODES; m++)
				for (unsigned p = 0; p < N_PATS; p++)
					bench_stats(b.c[t][m][p].mbs, b.c[t][m][p].n, &b.c[t][m][p].st);
		print_table(&b);
		write_json(&b, &out);
		write_plot(&b, &out);
		status = 0;
	}
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench io: could not remove %s\n", b.dir);
	kvm_host_close(&b.kvm);
	return status;
}
