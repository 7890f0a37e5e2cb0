/*
 * The benchmark core: what every `beyond bench NAME` shares.
 *
 * A benchmark is a driver file in hv/bench/ with an entry point
 * `int bench_NAME_main(int argc, char **argv)` (argv[0] is NAME), declared
 * at the end of this header and listed in the table of suite.c. A driver:
 *
 *   1. parses its command line with bench_getopt(): --quick, --json/--out
 *      and --help come with BENCH_OPTIONS, --cpu with BENCH_OPTION_CPU; its
 *      own options follow in the same `struct option` list; values with
 *      bench_parse_uint(), bench_parse_sizes(), bench_parse_list();
 *   2. calls bench_out_init() before measuring: the results' stem
 *      (results/NAME-YYYY-MM-DD unless --json names a file), its directory
 *      created and the JSON file checked writable, so that a run fails in
 *      a second rather than after its minutes of measuring;
 *   3. measures: configurations interleaved (bench_shuffle()), a progress
 *      line on stderr (bench_progress_*()), measuring threads pinned
 *      (bench_pin_cpu()), and every configuration checked: one that did not
 *      really happen is marked with bench_fail() and a reason;
 *   4. reduces the samples with bench_stats() (min / median / max, spread);
 *   5. prints its table on stdout, writes STEM.json with the json_*()
 *      writer, STEM.dat (bench_out_open()) and the plot with bench_plot()
 *      (STEM.svg and STEM.png).
 */
#ifndef BEYOND_BENCH_H
#define BEYOND_BENCH_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "hv/json.h"

/* --- statistics (stats.c) ----------------------------------------------- */

#define BENCH_MAX_SAMPLES 256

struct bench_stats {
	unsigned n;
	double min, median, max;
	double spread;                  /* (max - min) / median; 0 if median is 0 */
};

/* Summarises n samples (v is left as it is); 0 with *st zeroed when n is 0 or above BENCH_MAX_SAMPLES. */
int bench_stats(const double *v, unsigned n, struct bench_stats *st);

/* --- "did the configuration really happen" (check.c) ----------------------- */

struct bench_check {
	int achieved;
	char reason[640];               /* why not, when not achieved */
};

/* Achieved until bench_fail() says otherwise. */
void bench_check_init(struct bench_check *c);
/* Marks c not achieved; the first reason is kept (later ones tend to follow from it). */
void bench_fail(struct bench_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "achieved": bool, "reason": "" or why not. */
void json_check(struct json *j, const struct bench_check *c);

/* --- result files (out.c) ----------------------------------------------------- */

#define BENCH_PATH_MAX 4096

struct bench_out {
	char stem[BENCH_PATH_MAX];      /* results/NAME-DATE, or the --json path without ".json" */
};

/* mkdir -p of the directory path is in; 0 or -1 with errno. */
int bench_make_parents(const char *path);
/* The stem alone: json_path minus a ".json" ending, or results/NAME-YYYY-MM-DD of when (local time). */
int bench_out_stem(char *buf, size_t len, const char *name, const char *json_path, time_t when);
/* Sets the stem for now, creates its directory and checks STEM.json can be written; -1 after saying why. */
int bench_out_init(struct bench_out *o, const char *name, const char *json_path);
/* STEM.EXT in buf. */
const char *bench_out_path(const struct bench_out *o, const char *ext, char *buf, size_t len);
/* Opens STEM.EXT for writing; NULL after saying why. */
FILE *bench_out_open(const struct bench_out *o, const char *ext);
/* Closes what bench_out_open() gave; -1 after saying why if anything was lost. */
int bench_out_close(const struct bench_out *o, const char *ext, FILE *f);

/* --- plots (plot.c) ------------------------------------------------------------- */

/*
 * Writes STEM.gp: for SVG and then PNG, a terminal of width x height followed
 * by what body() writes (it reads its data from dat, STEM.dat, which the
 * driver wrote); runs gnuplot on it with its output captured. Prints
 * "plot: STEM.svg STEM.png", or one line saying why there is none.
 */
int bench_plot(const struct bench_out *o, unsigned width, unsigned height,
	       void (*body)(FILE *gp, const char *dat, void *ctx), void *ctx);

/* --- time and progress (progress.c) ------------------------------------------- */

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

struct bench_progress {
	double start;
	unsigned step, steps;
	int tty;                        /* redraw one line, else a line per step */
};

void bench_progress_start(struct bench_progress *p, unsigned steps);
/* The next step: "[step/steps, Ns] what" on stderr. */
void bench_progress(struct bench_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "done in Ns". */
void bench_progress_end(struct bench_progress *p);

/* --- randomness for interleaving and test data (rand.c) ------------------------- */

/* xorshift64; *state must not be 0. */
uint64_t bench_rand(uint64_t *state);
/* Fisher-Yates shuffle of v[0..n). */
void bench_shuffle(uint32_t *v, size_t n, uint64_t *state);
/* n pseudo-random bytes from seed: distinct per seed, the same every run. */
void bench_fill(void *buf, size_t n, uint64_t seed);

/* --- CPUs (cpu.c) ---------------------------------------------------------------- */

/* The last online CPU, the default for measuring threads: away from CPU 0's housekeeping. */
int bench_default_cpu(void);
/* Pins the calling thread to cpu; 0 or -1. */
int bench_pin_cpu(int cpu);
/* TSC ticks per second, calibrated against CLOCK_MONOTONIC_RAW over 200 ms. */
double bench_tsc_hz(void);

/* --- command line (args.c) -------------------------------------------------------- */

enum { BENCH_OPT_QUICK = 0x100, BENCH_OPT_JSON, BENCH_OPT_HELP, BENCH_OPT_CPU };

/* The options every benchmark takes; a driver's `struct option` list starts with them. */
#define BENCH_OPTIONS                                                          \
	{ "quick", no_argument, NULL, BENCH_OPT_QUICK },                       \
	{ "json", required_argument, NULL, BENCH_OPT_JSON },                   \
	{ "out", required_argument, NULL, BENCH_OPT_JSON },                    \
	{ "help", no_argument, NULL, BENCH_OPT_HELP }
/* --cpu N for drivers that pin what they measure. */
#define BENCH_OPTION_CPU { "cpu", required_argument, NULL, BENCH_OPT_CPU }

struct bench_args {
	const char *usage;
	int quick;                      /* --quick: a smaller run, for a first look and tests */
	const char *json;               /* --json/--out FILE, or NULL for results/NAME-DATE.json */
	int cpu;                        /* --cpu N, default bench_default_cpu() */
	int status;                     /* the exit status when bench_getopt() returns -1 */
};

void bench_args_init(struct bench_args *a, const char *usage);
/*
 * getopt_long over long options only. Handles the BENCH_OPTIONS and --cpu
 * itself and returns the `val` of the driver's next option (optarg set),
 * 0 at the end of a good command line, or -1 with a->status the exit status
 * (--help: 0, after printing the usage; a usage error: 2, after saying why).
 */
int bench_getopt(struct bench_args *a, int argc, char **argv, const struct option *opts);
/* These return 0, or the usage error's status after saying why. */
int bench_parse_uint(const struct bench_args *a, const char *opt, const char *arg, unsigned lo, unsigned hi,
		     unsigned *out);
/* Comma-separated items, each handed to item(); `what` names them in the error. */
int bench_parse_list(const struct bench_args *a, const char *what, const char *arg,
		     int (*item)(const char *tok, void *ctx), void *ctx);
/* A list of sizes ("16M,1G", hv/cli/cli.h parse_size) of at least min, powers of two if pow2, appended to sizes[*n < max]. */
int bench_parse_sizes(const struct bench_args *a, const char *arg, uint64_t min, int pow2, uint64_t *sizes,
		      unsigned max, unsigned *n);

/* --- the suites (suite.c) ----------------------------------------------------------- */

/* `beyond bench NAME [OPTIONS]`: argv[0] is "bench". Returns the exit status. */
int bench_main(int argc, char **argv);

/* Entry points of the drivers, argv[0] is their NAME; one row each in suite.c. */
int bench_tlb_main(int argc, char **argv);
int bench_blk_main(int argc, char **argv);
int bench_sched_main(int argc, char **argv);
int bench_swap_main(int argc, char **argv);
int bench_io_main(int argc, char **argv);

#endif
