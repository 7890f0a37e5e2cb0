/*
 * Speed part of `beyond bench blk`: sequential and random reads and writes
 * of 4 KiB and 64 KiB, on a raw file and on a store volume (same size, same
 * directory, same data: every block distinct, so inline dedup does its full
 * work), pwrite/pread against the store API (the NBD server is compared
 * with qemu-nbd and nbdkit by real clients in blk_nbd.c). Then XXH3-128
 * hashing next to memcpy, on cached and on uncached data.
 * Most rows are page-cache speeds (no flush, for either side); the "flush"
 * rows flush every 4 MiB as a guest file system would (fdatasync of the
 * raw file, FLUSH of the store), inside the timing: durable writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "blk/hash.h"
#include "blk/store.h"
#include "hv/bench/blk.h"

struct target {
	int (*io)(struct target *t, bool write, void *buf, uint64_t off, size_t n);
	int (*flush)(struct target *t);
	int fd;			/* raw file */
	struct blk_vol *vol;
};

static int raw_io(struct target *t, bool write, void *buf, uint64_t off, size_t n)
{
	ssize_t r = write ? pwrite(t->fd, buf, n, off) : pread(t->fd, buf, n, off);
	return r == (ssize_t)n ? 0 : -EIO;
}

static int raw_flush(struct target *t)
{
	return fdatasync(t->fd) ? -errno : 0;
}

static int store_io(struct target *t, bool write, void *buf, uint64_t off, size_t n)
{
	return write ? blk_write(t->vol, buf, off, n, 0) : blk_read(t->vol, buf, off, n);
}

static int store_flush(struct target *t)
{
	return blk_flush(blk_vol_store(t->vol));
}

struct pattern {
	const char *name;
	bool write, random, flush;
	size_t io;
};

static const struct pattern patterns[] = {
	{ "seq write 64K", true, false, false, 65536 }, { "seq write 4K", true, false, false, 4096 },
	{ "rand write 4K", true, true, false, 4096 }, { "rand write 64K", true, true, false, 65536 },
	{ "seq read 64K", false, false, false, 65536 }, { "seq read 4K", false, false, false, 4096 },
	{ "rand read 4K", false, true, false, 4096 }, { "rand read 64K", false, true, false, 65536 },
	{ "seq write 64K flush", true, false, true, 65536 }, { "rand write 4K flush", true, true, true, 4096 },
};
#define NPAT (int)(sizeof(patterns) / sizeof(patterns[0]))

/* One pass over the whole device; returns MB/s or a negative value. */
static double run(struct target *t, const struct pattern *p, uint8_t *data, uint64_t size, uint64_t salt)
{
	size_t nops = size / p->io;
	uint32_t *order = malloc(nops * sizeof(*order));
	uint8_t *buf = malloc(p->io);
	uint64_t x = salt * 2654435761u + 1;
	int err = 0;

	for (size_t i = 0; i < nops; i++)
		order[i] = i;
	if (p->random)
		bench_shuffle(order, nops, &x);
	double t0 = bench_now();
	for (size_t i = 0; i < nops && !err; i++) {
		uint64_t off = (uint64_t)order[i] * p->io;
		if (p->write) {
			/* New content on every pass: stamp each 4K block with the pass. */
			memcpy(buf, data + off, p->io);
			for (size_t b = 0; b < p->io; b += 4096)
				*(uint64_t *)(buf + b) ^= salt;
		}
		err = t->io(t, p->write, buf, off, p->io);
		if (!err && p->flush && (i + 1) % ((4u << 20) / p->io) == 0)
			err = t->flush(t);
	}
	double dt = bench_now() - t0;
	free(order);
	free(buf);
	return err ? -1 : size / 1e6 / dt;
}

static double median(const double *v, int n)
{
	struct bench_stats st;

	bench_stats(v, n, &st);
	return st.median;
}

/* Measures each pattern on the raw and the store target, interleaved. */
static int compare(struct target *raw, struct target *store, struct speed_row *rows, int reps,
		   uint8_t *data, uint64_t size)
{
	for (int p = 0; p < NPAT; p++) {
		double a[BLK_BENCH_MAX_REPS], b[BLK_BENCH_MAX_REPS];
		for (int k = 0; k < reps; k++) {
			a[k] = run(raw, &patterns[p], data, size, (uint64_t)p << 8 | (k + 1));
			b[k] = run(store, &patterns[p], data, size, (uint64_t)p << 8 | (k + 1));
			if (a[k] < 0 || b[k] < 0)
				return -EIO;
		}
		snprintf(rows[p].name, sizeof(rows[p].name), "%s", patterns[p].name);
		rows[p].raw_mbs = median(a, reps);
		rows[p].store_mbs = median(b, reps);
		fprintf(stderr, "  %-20s raw %8.0f MB/s  store %8.0f MB/s\n", rows[p].name, rows[p].raw_mbs,
			rows[p].store_mbs);
	}
	return NPAT;
}

/* GB/s of XXH3-128 over 4 KiB blocks and of memcpy, on len bytes of data
 * (cached when small, from memory when large). */
static void hash_vs_memcpy(uint8_t *data, size_t len, int reps, double *hash, double *copy)
{
	uint8_t *dst = malloc(len);
	size_t rounds = (256u << 20) / len;
	double h[BLK_BENCH_MAX_REPS + 2], m[BLK_BENCH_MAX_REPS + 2];
	uint64_t sink = 0;

	for (int k = 0; k < reps + 2; k++) {
		double t0 = bench_now();
		for (size_t r = 0; r < rounds; r++)
			for (size_t off = 0; off < len; off += 4096)
				sink += blk_hash128(data + off, 4096).lo;
		double t1 = bench_now();
		for (size_t r = 0; r < rounds; r++) {
			memcpy(dst, data, len);
			sink += dst[r % len];
		}
		double t2 = bench_now();
		h[k] = rounds * len / 1e9 / (t1 - t0);
		m[k] = rounds * len / 1e9 / (t2 - t1);
	}
	*hash = median(h, reps + 2);
	*copy = median(m, reps + 2);
	fprintf(stderr, "  %zu KiB: XXH3-128 %.1f GB/s, memcpy %.1f GB/s (%u)\n", len >> 10, *hash, *copy,
		(unsigned)(sink & 1));
	free(dst);
}

int blk_bench_speed(const struct blk_bench_cfg *c, struct speed_result *r)
{
	char path[4096], rawpath[4096];
	uint64_t size = c->speed_bytes;
	uint8_t *data = malloc(size);
	struct blk_store *s = NULL;
	struct target raw = { .io = raw_io, .flush = raw_flush }, store = { .io = store_io, .flush = store_flush };
	int err = data ? 0 : -ENOMEM;

	if (!err)
		bench_fill(data, size, 42);
	snprintf(rawpath, sizeof(rawpath), "%s/raw.img", c->work);
	snprintf(path, sizeof(path), "%s/speed-store", c->work);
	raw.fd = open(rawpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (!err && (raw.fd < 0 || ftruncate(raw.fd, size)))
		err = -errno;
	if (!err && !(err = blk_store_create(path, 4096, BLK_DEDUP_INLINE)) && !(err = blk_store_open(path, &s)) &&
	    !(err = blk_vol_create(s, "v", size)))
		err = blk_vol_open(s, "v", &store.vol);
	if (!err) {
		fprintf(stderr, "speed: %llu MB device, median of %d, raw file vs store (inline dedup):\n",
			(unsigned long long)(size >> 20), c->reps);
		err = compare(&raw, &store, r->api, c->reps, data, size);
		r->napi = err > 0 ? err : 0;
		err = err < 0 ? err : 0;
	}
	if (store.vol)
		blk_vol_close(store.vol);
	if (!err) {
		fprintf(stderr, "hashing next to memcpy:\n");
		hash_vs_memcpy(data, 256u << 10, c->reps, &r->hash_cached_gbs, &r->memcpy_cached_gbs);
		hash_vs_memcpy(data, size < (64u << 20) ? size : (64u << 20), c->reps, &r->hash_gbs, &r->memcpy_gbs);
	}
	if (s)
		blk_store_close(s);
	if (raw.fd >= 0)
		close(raw.fd);
	free(data);
	return err;
}
