/* Internals of `beyond bench blk`: the space and speed parts and their results. */
#ifndef BEYOND_BENCH_BLK_H
#define BEYOND_BENCH_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include "hv/bench/bench.h"

#define BLK_BENCH_MAX_ROUNDS 8
#define BLK_BENCH_MAX_ROWS   16
#define BLK_BENCH_MAX_REPS   16

struct blk_bench_cfg {
	const char *work;		/* scratch directory, removed afterwards */
	int images, rounds, reps;
	uint64_t base_bytes, extra_bytes, update_bytes, image_bytes, speed_bytes;
	size_t index_entries;
};

struct space_round {
	uint64_t raw, qcow2, store;	/* physical bytes on disk */
	uint64_t mapped, unique;	/* store: non-zero blocks over volumes, distinct blocks */
	double import_mbs;		/* store: image import throughput this round */
};

struct space_result {
	struct bench_check check;	/* not achieved: the tools it needs are missing */
	int rounds;			/* filled rounds, round 0 = initial images */
	struct space_round r[BLK_BENCH_MAX_ROUNDS + 1];
	uint64_t logical;		/* sum of image sizes */
	uint64_t base_data, extra_data, update_data;	/* real file bytes used */
	uint64_t index_bytes, unique_blocks;
};

struct speed_row {
	char name[32];
	double raw_mbs, store_mbs;	/* median over repetitions */
};

struct speed_result {
	struct speed_row api[BLK_BENCH_MAX_ROWS];
	int napi;
	double hash_gbs, memcpy_gbs;			/* data from memory */
	double hash_cached_gbs, memcpy_cached_gbs;	/* data in the CPU cache */
};

struct index_result {
	size_t entries;
	double bytes_per_entry;		/* index + slot word */
	double insert_ns, hit_ns, miss_ns, batch_hit_ns, batch_miss_ns;
};

int blk_bench_space(const struct blk_bench_cfg *c, struct space_result *r);
int blk_bench_speed(const struct blk_bench_cfg *c, struct speed_result *r);
int blk_bench_index(const struct blk_bench_cfg *c, struct index_result *r);

/* Helpers (blk.c): a shell command's exit status or -1; bytes a file takes on disk. */
int blk_bench_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t blk_bench_du(const char *path);

#endif
