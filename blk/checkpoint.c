/*
 * The checkpoint file, "meta": integers little-endian (host order: the
 * store is built for x86-64 only), every field naturally aligned, no
 * implicit padding (asserted), sections back to back:
 *
 *   header, 40 bytes
 *      0  char[8]  magic "BEYBLK01"
 *      8  u32      block size: a power of two, 4096 .. 65536
 *     12  u32      dedup mode: 0 inline, 1 background
 *     16  u64      generation g: journal records are checksummed with
 *                  seed g (blk/journal.c)
 *     24  u32      nslots: entries of the slot table (slot 0 included, I3)
 *     28  u32      nvols: volume records that follow
 *     32  u32      vol_ids: size of the volume table (the next volume id)
 *     36  u32      pad, 0
 *   hashes, nslots x 16 bytes: XXH3-128 of each slot's block, lo then hi
 *                  (meaningless for free slots; zero for slot 0)
 *   refs, nslots x u32: reference count (bits 0-28) | REF_INDEXED (bit 31);
 *                  REF_NEW and REF_SPARE (bits 30, 29) are never set here
 *   volumes, nvols times, in id order:
 *                  struct j_vol, 88 bytes (layout in blk/meta.h; src 0)
 *                  map, ceil(size / block size) x u32: the slot of each
 *                  block, 0 for zeros
 *   checksum, u64: XXH3-64 with seed 0 of every byte before it
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/checkpoint.h"
#include "blk/hash.h"

#define META_MAGIC "BEYBLK01"

struct meta_hdr {
	char magic[8];
	uint32_t block_size, dedup;
	uint64_t gen;
	uint32_t nslots, nvols, vol_ids, pad;
};
_Static_assert(sizeof(struct meta_hdr) == 40, "checkpoint header layout");

struct writer {
	int fd, err;
	struct blk_hash_stream *hs;
	size_t len;
	uint8_t buf[1 << 20];
};

static void w_flush(struct writer *w)
{
	for (size_t off = 0; off < w->len && !w->err;) {
		ssize_t r = write(w->fd, w->buf + off, w->len - off);
		if (r < 0 && errno != EINTR)
			w->err = errno;
		else if (r > 0)
			off += r;
	}
	w->len = 0;
}

static void w_raw(struct writer *w, const void *p, size_t n)
{
	while (n) {
		size_t k = sizeof(w->buf) - w->len < n ? sizeof(w->buf) - w->len : n;
		memcpy(w->buf + w->len, p, k);
		w->len += k;
		p = (const uint8_t *)p + k;
		n -= k;
		if (w->len == sizeof(w->buf))
			w_flush(w);
	}
}

static void w_put(struct writer *w, const void *p, size_t n)
{
	blk_hash64_update(w->hs, p, n);
	w_raw(w, p, n);
}

int checkpoint_write(int dirfd, const struct blk_meta *m, enum blk_dedup dedup, uint64_t gen)
{
	struct writer *w = calloc(1, sizeof(*w));
	if (!w || !(w->hs = blk_hash64_begin(0))) {
		free(w);
		return -ENOMEM;
	}
	w->fd = openat(dirfd, "meta.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		w->err = errno;
		goto out;
	}
	struct meta_hdr h = { .block_size = m->bs, .dedup = dedup, .gen = gen,
			      .nslots = m->nslots, .vol_ids = m->nvols };
	memcpy(h.magic, META_MAGIC, 8);
	for (uint32_t i = 0; i < m->nvols; i++)
		h.nvols += m->vols[i] != NULL;
	w_put(w, &h, sizeof(h));
	w_put(w, m->hashes, (size_t)m->nslots * sizeof(*m->hashes));
	w_put(w, m->refs, (size_t)m->nslots * sizeof(*m->refs));
	for (uint32_t i = 0; i < m->nvols; i++) {
		struct blk_vol *v = m->vols[i];
		if (!v)
			continue;
		struct j_vol r = { .id = v->id, .flags = v->flags, .size = v->size };
		memcpy(r.name, v->name, sizeof(r.name));
		w_put(w, &r, sizeof(r));
		w_put(w, v->map, (size_t)v->nblocks * sizeof(*v->map));
	}
	uint64_t sum = blk_hash64_end(w->hs);
	w->hs = NULL;
	w_raw(w, &sum, sizeof(sum));
	w_flush(w);
	if (!w->err && fsync(w->fd))
		w->err = errno;
	if (!w->err && renameat(dirfd, "meta.tmp", dirfd, "meta"))
		w->err = errno;
	if (!w->err && fsync(dirfd))
		w->err = errno;
out:
	if (w->hs)
		blk_hash64_end(w->hs);
	if (w->fd >= 0)
		close(w->fd);
	int err = -w->err;
	if (err)
		unlinkat(dirfd, "meta.tmp", 0);
	free(w);
	return err;
}

static int meta_bad(const char *dir, const char *why)
{
	blk_err("%s: metadata is corrupt (%s); the store was not changed", dir, why);
	return -EUCLEAN;
}

/* Reads the sections from off on (p holds size bytes, the checksum left
 * out) into m. */
static int load_body(const char *dir, const uint8_t *p, size_t size, size_t off,
		     const struct meta_hdr *h, struct blk_meta *m)
{
	size_t slotbytes = (size_t)h->nslots * (sizeof(struct blk_hash) + sizeof(uint32_t));
	if (!h->nslots || slotbytes > size - off || meta_reserve(m, h->nslots))
		return meta_bad(dir, "slot table");
	m->nslots = h->nslots;
	memcpy(m->hashes, p + off, (size_t)h->nslots * sizeof(struct blk_hash));
	off += (size_t)h->nslots * sizeof(struct blk_hash);
	memcpy(m->refs, p + off, (size_t)h->nslots * sizeof(uint32_t));
	off += (size_t)h->nslots * sizeof(uint32_t);
	m->vols = calloc(h->vol_ids ? h->vol_ids : 1, sizeof(*m->vols));
	if (!m->vols)
		return -ENOMEM;
	m->nvols = h->vol_ids;
	for (uint32_t i = 0; i < h->nvols; i++) {
		struct j_vol r;
		if (size - off < sizeof(r))
			return meta_bad(dir, "volume table");
		memcpy(&r, p + off, sizeof(r));
		off += sizeof(r);
		/* The map follows the record; applying it makes an empty one. */
		int err = r.id < h->vol_ids && !m->vols[r.id] ? meta_apply(m, J_VOL_NEW, &r, sizeof(r)) : -EUCLEAN;
		struct blk_vol *v = err ? NULL : m->vols[r.id];
		if (!v || size - off < (size_t)v->nblocks * sizeof(uint32_t))
			return err == -ENOMEM ? err : meta_bad(dir, "volume map");
		memcpy(v->map, p + off, (size_t)v->nblocks * sizeof(uint32_t));
		off += (size_t)v->nblocks * sizeof(uint32_t);
		for (uint32_t b = 0; b < v->nblocks; b++)
			if (v->map[b] >= m->nslots)
				return meta_bad(dir, "map entry out of range");
	}
	return 0;
}

int checkpoint_load(int dirfd, const char *dir, struct blk_meta *m, enum blk_dedup *dedup, uint64_t *gen)
{
	int fd = openat(dirfd, "meta", O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st)) {
		int err = -errno;
		blk_err("%s is not a store (no metadata: %s)", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	size_t size = st.st_size;
	const uint8_t *p = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (p == MAP_FAILED)
		return meta_bad(dir, "empty or unreadable");
	int err;
	struct meta_hdr h;
	uint64_t sum;
	if (size < sizeof(h) + sizeof(sum)) {
		err = meta_bad(dir, "too short");
		goto out;
	}
	memcpy(&h, p, sizeof(h));
	memcpy(&sum, p + size - sizeof(sum), sizeof(sum));
	if (memcmp(h.magic, META_MAGIC, 8)) {
		err = meta_bad(dir, "bad magic");
		goto out;
	}
	if (blk_hash64(p, size - sizeof(sum), 0) != sum) {
		err = meta_bad(dir, "checksum mismatch");
		goto out;
	}
	m->bs = h.block_size;
	m->shift = __builtin_ctz(h.block_size);
	*dedup = h.dedup;
	*gen = h.gen;
	err = load_body(dir, p, size - sizeof(sum), sizeof(h), &h, m);
out:
	munmap((void *)p, size);
	return err;
}
