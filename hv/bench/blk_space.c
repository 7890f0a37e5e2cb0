/*
 * Space part of `beyond bench blk`: a fleet of ext4 images made with
 * mkfs.ext4 -d from real directory trees of this machine (a common base
 * plus different files per guest), then rounds of updates applied in place
 * with debugfs (new files common to all guests, changed base files, a
 * per-guest log). After each round: physical bytes of the raw images, of
 * qcow2 base + overlays, and of the store holding all images.
 *
 * The qcow2 overlays are made with `qemu-img rebase` onto the base image,
 * which stores only clusters that differ from it: qcow2's best case.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/image.h"
#include "blk/store.h"
#include "hv/bench/blk.h"

struct pool {
	char **path;
	uint64_t *size;
	size_t n, cap;
};

static struct pool *collecting;

static int collect_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)f;
	struct pool *p = collecting;

	/* Paths go into debugfs commands unquoted: keep to plain names. */
	if (type != FTW_F || !S_ISREG(st->st_mode) || !st->st_size || st->st_size > (4 << 20) ||
	    strpbrk(path, " \t\"'\\$;#"))
		return 0;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 4096;
		p->path = realloc(p->path, p->cap * sizeof(*p->path));
		p->size = realloc(p->size, p->cap * sizeof(*p->size));
		if (!p->path || !p->size)
			return -1;
	}
	p->path[p->n] = strdup(path);
	p->size[p->n++] = st->st_size;
	return 0;
}

static void collect(struct pool *p, const char *const *roots)
{
	collecting = p;
	for (; *roots; roots++)
		nftw(*roots, collect_one, 32, FTW_PHYS);
}

static void pool_free(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->path[i]);
	free(p->path);
	free(p->size);
}

/* Copies src to dst (creating dst's directories); mangle, if non-zero,
 * changes a piece of the content and appends new bytes, as an update would. */
static int copy_file(const char *src, const char *dst, uint64_t mangle)
{
	static uint8_t buf[1 << 16];
	int in = open(src, O_RDONLY), out = -1, err = -1;
	ssize_t n;
	off_t off = 0;

	if (in < 0 || bench_make_parents(dst) || (out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (mangle && off == 0)
			bench_fill(buf + n / 2, n - n / 2 < 256 ? n - n / 2 : 256, mangle);
		if (write(out, buf, n) != n)
			goto out;
		off += n;
	}
	if (mangle) {
		bench_fill(buf, 4096, mangle + 1);
		if (write(out, buf, 4096) != 4096)
			goto out;
	}
	err = n < 0 ? -1 : 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return err;
}

/* Copies pool files from *cursor on (every stride-th) under root until
 * budget bytes are used; returns the bytes copied. */
static uint64_t take(const struct pool *p, size_t *cursor, size_t stride, uint64_t budget, const char *root)
{
	uint64_t used = 0;
	char dst[4096];

	for (; *cursor < p->n && used < budget; *cursor += stride) {
		snprintf(dst, sizeof(dst), "%s%s", root, p->path[*cursor]);
		if (!copy_file(p->path[*cursor], dst, 0))
			used += p->size[*cursor];
	}
	return used;
}

static int mkfs(const char *root, const char *img, uint64_t size)
{
	return blk_bench_sh("mkfs.ext4 -q -F -d %s %s %lluk >/dev/null 2>&1", root, img,
			(unsigned long long)(size >> 10));
}

/* Writes every guest image into its volume and measures all three ways. */
static int measure(const struct blk_bench_cfg *c, struct blk_store *s, int round, struct space_result *r)
{
	struct space_round *m = &r->r[round];
	char img[4096], name[32];
	double t0 = bench_now();
	uint64_t bytes = 0;

	for (int g = 0; g < c->images; g++) {
		struct blk_vol *v;
		snprintf(img, sizeof(img), "%s/g%02d.img", c->work, g);
		snprintf(name, sizeof(name), "g%02d", g);
		int fd = open(img, O_RDONLY);
		if (fd < 0)
			return -errno;
		if (round == 0 && blk_vol_create(s, name, c->image_bytes))
			return -EIO;
		int err = blk_vol_open(s, name, &v);
		if (!err) {
			err = blk_image_in(v, fd, c->image_bytes, img);
			blk_vol_close(v);
		}
		close(fd);
		if (err)
			return err;
		bytes += c->image_bytes;
		m->raw += blk_bench_du(img);
		if (blk_bench_sh("cd %s && rm -f ov.qcow2 && qemu-img create -q -f qcow2 -b g%02d.img -F raw ov.qcow2 && "
			     "qemu-img rebase -q -f qcow2 -b base.img -F raw ov.qcow2", c->work, g))
			return -EIO;
		snprintf(img, sizeof(img), "%s/ov.qcow2", c->work);
		m->qcow2 += blk_bench_du(img);
	}
	int err = blk_flush(s);
	m->import_mbs = bytes / 1e6 / (bench_now() - t0);
	snprintf(img, sizeof(img), "%s/base.img", c->work);
	m->qcow2 += blk_bench_du(img);
	struct blk_stats st;
	blk_stat(s, &st);
	m->store = st.physical_bytes;
	m->mapped = st.mapped_bytes;
	m->unique = st.unique_bytes;
	r->index_bytes = st.index_bytes;
	r->unique_blocks = st.unique_blocks;
	r->rounds = round + 1;
	fprintf(stderr, "  round %d: raw %.0f MB, qcow2 %.0f MB, store %.0f MB\n", round, m->raw / 1e6,
		m->qcow2 / 1e6, m->store / 1e6);
	return err;
}

/* One update round: the same new and changed files for every guest, and a
 * log of its own for each, written into the images in place. */
static int update(const struct blk_bench_cfg *c, const struct pool *upd, size_t *ucur,
		  const struct pool *base, size_t nbase, int round, struct space_result *r)
{
	char dir[4096], path[4096];
	size_t first = *ucur;

	snprintf(dir, sizeof(dir), "%s/u%d/", c->work, round);
	r->update_data += take(upd, ucur, 1, c->update_bytes, dir);
	for (int g = 0; g < c->images; g++) {
		snprintf(path, sizeof(path), "%s/cmd", c->work);
		FILE *f = fopen(path, "w");
		if (!f)
			return -errno;
		fprintf(f, "mkdir /u%d\n", round);
		for (size_t i = first; i < *ucur; i++) {
			/* debugfs has no mkdir -p: create the directories on the way. */
			char *p = upd->path[i];
			for (char *q = strchr(p + 1, '/'); q; q = strchr(q + 1, '/'))
				fprintf(f, "mkdir /u%d%.*s\n", round, (int)(q - p), p);
			fprintf(f, "write %s%s /u%d%s\n", dir, p + 1, round, p);
		}
		for (size_t k = 0; k < nbase / 50; k++) {
			size_t i = (k * 7919 + round * 104729) % nbase;
			snprintf(path, sizeof(path), "%s/u%d/chg%zu", c->work, round, k);
			if (g == 0 && copy_file(base->path[i], path, (uint64_t)round << 32 | k))
				continue;
			fprintf(f, "rm %s\nwrite %s %s\n", base->path[i], path, base->path[i]);
		}
		snprintf(path, sizeof(path), "%s/log%d-%d", c->work, round, g);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		static uint8_t logbuf[64 << 10];
		bench_fill(logbuf, sizeof(logbuf), (uint64_t)round << 16 | g);
		if (fd < 0 || write(fd, logbuf, sizeof(logbuf)) != sizeof(logbuf))
			return -EIO;
		close(fd);
		fprintf(f, "write %s /log%d\n", path, round);
		fclose(f);
		if (blk_bench_sh("debugfs -w -f %s/cmd %s/g%02d.img >/dev/null 2>&1", c->work, c->work, g))
			return -EIO;
	}
	return 0;
}

int blk_bench_space(const struct blk_bench_cfg *c, struct space_result *r)
{
	static const char *const base_roots[] = { "/usr/lib/x86_64-linux-gnu", "/usr/include", "/usr/lib/python3", NULL };
	static const char *const extra_roots[] = { "/usr/share/doc", "/usr/share/locale", NULL };
	static const char *const upd_roots[] = { "/usr/lib/gcc", "/usr/share/man", "/usr/share/i18n", "/usr/share/perl", NULL };
	struct pool base = { 0 }, extra = { 0 }, upd = { 0 };
	char root[4096], img[4096];
	int err = 0;

	collect(&base, base_roots);
	collect(&extra, extra_roots);
	collect(&upd, upd_roots);
	size_t bcur = 0, ucur = 0;
	snprintf(root, sizeof(root), "%s/base", c->work);
	r->base_data = take(&base, &bcur, 1, c->base_bytes, root);
	size_t nbase = bcur;
	snprintf(img, sizeof(img), "%s/base.img", c->work);
	fprintf(stderr, "space: %d images of %llu MB, base %.0f MB of files from this machine\n", c->images,
		(unsigned long long)(c->image_bytes >> 20), r->base_data / 1e6);
	if (!r->base_data || mkfs(root, img, c->image_bytes)) {
		fprintf(stderr, "bench blk: cannot build the base image (mkfs.ext4 -d)\n");
		err = -EIO;
		goto out;
	}
	for (int g = 0; g < c->images && !err; g++) {
		size_t ecur = g;
		snprintf(root, sizeof(root), "%s/g%02d", c->work, g);
		snprintf(img, sizeof(img), "%s/g%02d.img", c->work, g);
		if (blk_bench_sh("cp -al %s/base %s 2>/dev/null || cp -a %s/base %s", c->work, root, c->work, root))
			err = -EIO;
		r->extra_data += take(&extra, &ecur, c->images, c->extra_bytes, root);
		if (!err && mkfs(root, img, c->image_bytes))
			err = -EIO;
		blk_bench_sh("rm -rf %s", root);
	}
	r->logical = (uint64_t)c->images * c->image_bytes;

	struct blk_store *s = NULL;
	snprintf(root, sizeof(root), "%s/store", c->work);
	if (!err && !(err = blk_store_create(root, 4096, BLK_DEDUP_INLINE)))
		err = blk_store_open(root, &s);
	for (int round = 0; round <= c->rounds && !err; round++) {
		if (round)
			err = update(c, &upd, &ucur, &base, nbase, round, r);
		if (!err)
			err = measure(c, s, round, r);
	}
	if (s)
		blk_store_close(s);
	if (err)
		fprintf(stderr, "bench blk: the space benchmark failed (%s)\n", strerror(-err));
out:
	pool_free(&base);
	pool_free(&extra);
	pool_free(&upd);
	return err;
}
