/* Internals of `beyond bench blk`: the space and speed parts and their results. */
#ifndef BEYOND_BLK_BENCH_H
#define BEYOND_BLK_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_MAX_ROUNDS 8
#define BENCH_MAX_ROWS   16

struct bench_cfg {
	const char *work;		/* scratch directory, removed afterwards */
	int images, rounds, reps;
	uint64_t base_bytes, extra_bytes, update_bytes, image_bytes, speed_bytes;
};

struct space_round {
	uint64_t raw, qcow2, store;	/* physical bytes on disk */
	uint64_t mapped, unique;	/* store: non-zero blocks over volumes, distinct blocks */
	double import_mbs;		/* store: image import throughput this round */
};

struct space_result {
	int rounds;			/* filled rounds, round 0 = initial images */
	struct space_round r[BENCH_MAX_ROUNDS + 1];
	uint64_t logical;		/* sum of image sizes */
	uint64_t base_data, extra_data, update_data;	/* real file bytes used */
	uint64_t index_bytes, unique_blocks;
};

struct speed_row {
	char name[32];
	double raw_mbs, store_mbs;	/* median over repetitions */
};

struct speed_result {
	struct speed_row api[BENCH_MAX_ROWS], nbd[BENCH_MAX_ROWS];
	int napi, nnbd;
	const char *nbd_note;		/* why NBD rows are missing, if they are */
	double hash_gbs, memcpy_gbs;			/* data from memory */
	double hash_cached_gbs, memcpy_cached_gbs;	/* data in the CPU cache */
};

int bench_space(const struct bench_cfg *c, struct space_result *r);
int bench_speed(const struct bench_cfg *c, struct speed_result *r);

/* Helpers (bench_blk.c). */
double bench_now(void);
int bench_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t bench_du(const char *path);
void bench_fill(void *buf, size_t n, uint64_t seed);
double bench_median(double *v, int n);

#endif
