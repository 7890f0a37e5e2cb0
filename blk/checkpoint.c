/*
 * A checkpoint file, "meta0" or "meta1" (generation g is written to
 * meta<g mod 2>): integers little-endian (host order: the store is built
 * for x86-64 only), every field naturally aligned, no implicit padding
 * (asserted), sections back to back:
 *
 *   header, 40 bytes
 *      0  char[8]  magic "BEYBLK03" ("BEYBLK02": the slot table of
 *                  format 2, read and converted; written no more)
 *      8  u32      block size: a power of two, 4096 .. 65536
 *     12  u32      dedup mode: 0 inline, 1 background
 *     16  u64      generation g, 1 .. 2^63, odd in meta1 and even in meta0:
 *                  journal records are checksummed with seed g
 *                  (blk/journal.c)
 *     24  u32      nslots: entries of the slot table (slot 0 included, I3)
 *     28  u32      nvols: volume records that follow
 *     32  u32      vol_ids: size of the volume table (the next volume id),
 *                  nvols .. VOL_IDS_MAX (2^24)
 *     36  u32      pad, 0
 *   slot table, nslots x u64: each slot's word as blk/meta.h lays it out
 *                  (hash bits, REF_INDEXED, count); REF_NEW and bit 21
 *                  are never set here, and slot 0's word is 0
 *                  (format 2: nslots x 16 bytes of XXH3-128, lo then hi,
 *                  then nslots x u32 of count (bits 0-28) | REF_INDEXED
 *                  (bit 31))
 *   volumes, nvols times, in increasing id order:
 *                  struct j_vol, 88 bytes (layout in blk/meta.h; src 0)
 *                  map, ceil(size / block size) x u32: the slot of each
 *                  block, 0 for zeros, each below nslots
 *   checksum, u64: XXH3-64 with seed 0 of every byte before it; the file
 *                  ends there
 *
 * Both copies are checked on every open; the newest that verifies is
 * loaded. blk/store.c decides what the other copy's damage means.
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

#define META_MAGIC    "BEYBLK03"
#define META_MAGIC_V2 "BEYBLK02"
#define GEN_MAX    (1ull << 63)

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
	char name[8], tmp[16];
	snprintf(name, sizeof(name), "meta%u", (unsigned)(gen & 1));
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	w->fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
	w_put(w, m->slots, (size_t)m->nslots * sizeof(*m->slots));
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
	if (!w->err && renameat(dirfd, tmp, dirfd, name))
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
		unlinkat(dirfd, tmp, 0);
	free(w);
	return err;
}

bool checkpoint_exists(int dirfd)
{
	return !faccessat(dirfd, "meta0", F_OK, 0) || !faccessat(dirfd, "meta1", F_OK, 0);
}

/* One copy, mapped. */
struct copy {
	const uint8_t *p;
	size_t size;		/* without the checksum */
	struct meta_hdr h;
	bool v2;		/* format 2's slot table */
	const char *why;	/* NULL while it verifies */
};

static bool hdr_valid(const struct meta_hdr *h, unsigned idx)
{
	uint32_t bs = h->block_size;

	return bs >= BLK_BS_MIN && bs <= BLK_BS_MAX && !(bs & (bs - 1)) && h->dedup <= BLK_DEDUP_BACKGROUND &&
	       h->gen && h->gen <= GEN_MAX && (h->gen & 1) == idx && h->nslots && h->nvols <= h->vol_ids &&
	       h->vol_ids <= VOL_IDS_MAX && !h->pad;
}

/* Maps copy idx and checks what can be checked without loading it. */
static void copy_map(int dirfd, unsigned idx, struct copy *c)
{
	char name[8];
	struct stat st;
	uint64_t sum;

	memset(c, 0, sizeof(*c));
	snprintf(name, sizeof(name), "meta%u", idx);
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		c->why = fd < 0 && errno == ENOENT ? "missing" : "unreadable";
	} else if ((size_t)st.st_size < sizeof(c->h) + sizeof(sum)) {
		c->why = "too short";
	} else if ((c->p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		c->p = NULL;
		c->why = "unreadable";
	} else {
		c->size = st.st_size - sizeof(sum);
		memcpy(&c->h, c->p, sizeof(c->h));
		memcpy(&sum, c->p + c->size, sizeof(sum));
		c->v2 = !memcmp(c->h.magic, META_MAGIC_V2, 8);
		if (memcmp(c->h.magic, META_MAGIC, 8) && !c->v2)
			c->why = "bad magic";
		else if (blk_hash64(c->p, c->size, 0) != sum)
			c->why = "checksum mismatch";
		else if (!hdr_valid(&c->h, idx))
			c->why = "bad header";
	}
	if (fd >= 0)
		close(fd);
}

/* Format 2 kept whole hashes and 32-bit counts: a count too large for a
 * slot word, or a flag bit format 2 never set, becomes REF_NEW, which the
 * caller refuses. */
static void slots_from_v2(struct blk_meta *m, const uint8_t *p)
{
	const uint8_t *refs = p + (size_t)m->nslots * sizeof(struct blk_hash);

	for (uint32_t i = 0; i < m->nslots; i++) {
		struct blk_hash h;
		uint32_t r;
		memcpy(&h, p + (size_t)i * sizeof(h), sizeof(h));
		memcpy(&r, refs + (size_t)i * sizeof(r), sizeof(r));
		uint32_t count = r & 0x1fffffffu;
		bool bad = (r & 0x60000000u) || count > REF_COUNT;
		m->slots[i] = (count ? slot_hash_key(&h) : 0) | (r & 0x80000000u ? REF_INDEXED : 0) |
			      (bad ? REF_NEW : count);
	}
}

/* Reads the sections of a copy whose checksum verified into m; returns
 * what is wrong with them, or NULL. */
static const char *load_body(const struct copy *c, struct blk_meta *m, int *err)
{
	const struct meta_hdr *h = &c->h;
	const uint8_t *p = c->p;
	size_t off = sizeof(*h), size = c->size;
	size_t entry = c->v2 ? sizeof(struct blk_hash) + sizeof(uint32_t) : sizeof(uint64_t);

	*err = -EUCLEAN;
	m->bs = h->block_size;
	m->shift = __builtin_ctz(h->block_size);
	if (h->nslots > (size - off) / entry)
		return "slot table";
	if ((*err = meta_reserve(m, h->nslots)))
		return "slot table";
	*err = -EUCLEAN;
	m->nslots = h->nslots;
	if (c->v2)
		slots_from_v2(m, p + off);
	else
		memcpy(m->slots, p + off, (size_t)h->nslots * entry);
	off += (size_t)h->nslots * entry;
	for (uint32_t i = 0; i < h->nslots; i++)
		if (m->slots[i] & ~(SLOT_HASH | REF_INDEXED | REF_COUNT) || (!i && m->slots[i]))
			return "reference counts";
	if (!(m->vols = calloc(h->vol_ids ? h->vol_ids : 1, sizeof(*m->vols)))) {
		*err = -ENOMEM;
		return "volume table";
	}
	m->nvols = h->vol_ids;
	uint32_t prev = 0;
	for (uint32_t i = 0; i < h->nvols; i++) {
		struct j_vol r;
		if (size - off < sizeof(r))
			return "volume table";
		memcpy(&r, p + off, sizeof(r));
		off += sizeof(r);
		/* Size first: the map must be in the file before it is allocated. */
		uint64_t nblocks = r.size / m->bs + (r.size % m->bs != 0);
		if ((i && r.id <= prev) || nblocks > (size - off) / sizeof(uint32_t))
			return "volume table";
		prev = r.id;
		if ((*err = meta_vol_load(m, &r)))
			return *err == -ENOMEM ? "volume map" : "volume record";
		*err = -EUCLEAN;
		struct blk_vol *v = m->vols[r.id];
		memcpy(v->map, p + off, (size_t)v->nblocks * sizeof(uint32_t));
		off += (size_t)v->nblocks * sizeof(uint32_t);
		for (uint32_t b = 0; b < v->nblocks; b++)
			if (v->map[b] >= m->nslots)
				return "map entry out of range";
	}
	if (off != size)
		return "trailing bytes";
	*err = 0;
	return NULL;
}

int checkpoint_load(int dirfd, const char *dir, struct blk_meta *m, enum blk_dedup *dedup,
		    struct checkpoint_info *ci)
{
	struct copy c[2];
	int err = -EUCLEAN;

	copy_map(dirfd, 0, &c[0]);
	copy_map(dirfd, 1, &c[1]);
	/* Newest first; a copy whose body does not load counts as damaged. */
	unsigned first = !c[1].why && (c[0].why || c[1].h.gen > c[0].h.gen);
	for (unsigned k = 0; k < 2 && err; k++) {
		struct copy *t = &c[first ^ k];
		if (t->why)
			continue;
		if (k) {
			meta_release(m);
			if (meta_init(m, BLK_BS_MIN)) {
				err = -ENOMEM;
				break;
			}
		}
		if ((t->why = load_body(t, m, &err)) && err == -ENOMEM)
			break;
		if (!err) {
			*dedup = t->h.dedup;
			ci->gen = t->h.gen;
			ci->damaged = c[!(t->h.gen & 1)].why ? !(t->h.gen & 1) : -1;
			snprintf(ci->why, sizeof(ci->why), "%s", c[!(t->h.gen & 1)].why ? c[!(t->h.gen & 1)].why : "");
		}
	}
	if (err == -EUCLEAN)
		blk_err("%s: metadata is corrupt (meta0: %s, meta1: %s); the store was not changed", dir,
			c[0].why, c[1].why);
	for (unsigned i = 0; i < 2; i++)
		if (c[i].p)
			munmap((void *)c[i].p, c[i].size + sizeof(uint64_t));
	return err;
}
