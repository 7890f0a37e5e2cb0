/*
 * Store lifetime: create, open with recovery, commit, checkpoint, close,
 * and the slot table.
 *
 * Durability order: new blocks go to free slots (never over data the
 * durable metadata references), then commit = fdatasync(data), append the
 * journal records, fdatasync(journal). A checkpoint writes all metadata to
 * meta.tmp, renames it over meta and starts a journal of the next
 * generation. Opening loads meta and replays the journal's complete commits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/store_impl.h"

#define META_MAGIC   "BEYBLK01"
#define CKPT_BYTES   (64u << 20)	/* journal size that triggers a checkpoint */
#define JBUF_MAX     (32u << 20)	/* unflushed records that force a commit */
#define SPARE_MAX    (64u << 20)	/* disk space kept in spare blocks, at most */

struct meta_hdr {
	char magic[8];
	uint32_t block_size, dedup;
	uint64_t gen;
	uint32_t nslots, nvols, vol_ids, pad;
};

void blk_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("beyond blk: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

uint32_t blk_store_block_size(const struct blk_store *s) { return s->bs; }
enum blk_dedup blk_store_dedup_mode(const struct blk_store *s) { return s->dedup; }

/* --- slot table -------------------------------------------------------- */

static int slots_reserve(struct blk_store *s, uint32_t n)
{
	if (n <= s->slotcap)
		return 0;
	uint32_t cap = s->slotcap ? s->slotcap : 1024;
	while (cap < n)
		cap *= 2;
	struct blk_hash *h = realloc(s->hashes, (size_t)cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	s->hashes = h;
	uint32_t *r = realloc(s->refs, (size_t)cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->refs = r;
	s->slotcap = cap;
	return 0;
}

int slot_list_push(struct slot_list *l, uint32_t slot)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		uint32_t *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = slot;
	return 0;
}

int slot_alloc(struct blk_store *s, uint32_t *slot)
{
	if (s->free.n) {
		*slot = s->free.v[--s->free.n];
	} else {
		if (s->nslots == UINT32_MAX) {
			blk_err("store is full (2^32 blocks)");
			return -ENOSPC;
		}
		int err = slots_reserve(s, s->nslots + 1);
		if (err)
			return err;
		*slot = s->nslots++;
	}
	s->refs[*slot] = REF_NEW;
	s->allocs++;
	return slot_list_push(&s->fresh, *slot);
}

void slot_unref(struct blk_store *s, uint32_t slot)
{
	if (!slot || --s->refs[slot] & REF_COUNT)
		return;
	if (s->refs[slot] & REF_INDEXED)
		blk_index_remove(&s->ix, slot);
	bool recent = s->refs[slot] & REF_NEW;
	s->refs[slot] = 0;
	/* On failure the slot merely leaks until the next open or fsck. */
	if (s->replaying)
		return;
	if (recent)
		slot_recycle(s, slot);
	else
		slot_list_push(&s->pending, slot);
}

void slot_recycle(struct blk_store *s, uint32_t slot)
{
	s->refs[slot] = 0;
	if (!slot_list_push(&s->free, slot) && !slot_list_push(&s->spare, slot))
		s->refs[slot] = REF_SPARE;
}

int slot_read(struct blk_store *s, uint32_t slot, void *buf)
{
	ssize_t n = pread(s->datafd, buf, s->bs, (off_t)slot << s->shift);

	if (n == (ssize_t)s->bs)
		return 0;
	blk_err("cannot read block %u of the data file: %s", slot, n < 0 ? strerror(errno) : "short file");
	return -EIO;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Returns free slots' space to the file system, one call per run. */
static void punch(struct blk_store *s, uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n;) {
		size_t k = i + 1;
		while (k < n && v[k] == v[k - 1] + 1)
			k++;
		fallocate(s->datafd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)v[i] << s->shift, (off_t)(k - i) << s->shift);
		i = k;
	}
}

/* --- commit and checkpoint ---------------------------------------------- */

int store_log(struct blk_store *s, uint32_t type, const void *p, uint32_t len)
{
	if (s->replaying)
		return 0;
	int err = journal_add(&s->j, type, p, len);
	if (!err && s->j.len >= JBUF_MAX)
		err = store_commit(s);	/* bound the memory of unflushed records */
	return err;
}

/* Spare slots beyond `keep` (the highest ones) lose their disk space. */
static void trim_spares(struct blk_store *s, size_t keep)
{
	size_t n = 0;

	for (size_t i = 0; i < s->spare.n; i++)
		if (s->refs[s->spare.v[i]] == REF_SPARE) {
			s->refs[s->spare.v[i]] = 0;	/* also drops duplicates */
			s->spare.v[n++] = s->spare.v[i];
		}
	qsort(s->spare.v, n, sizeof(uint32_t), cmp_u32);
	keep = keep < n ? keep : n;
	for (size_t i = 0; i < keep; i++)
		s->refs[s->spare.v[i]] = REF_SPARE;
	punch(s, s->spare.v + keep, n - keep);
	s->spare.n = keep;
}

/* Makes everything so far durable; shrink returns every spare block's
 * space. store_commit() may add a checkpoint. */
static int commit(struct blk_store *s, bool shrink)
{
	int err = 0;

	if (s->data_dirty && fdatasync(s->datafd)) {
		err = -errno;
		blk_err("cannot sync the data file: %s", strerror(errno));
		return err;
	}
	s->data_dirty = false;
	if (s->j.len && (err = journal_commit(&s->j)) == -ENOSPC) {
		trim_spares(s, 0);	/* make room on a full disk, then try again */
		err = journal_commit(&s->j);
	}
	if (err) {
		blk_err("cannot write the journal: %s", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < s->fresh.n; i++)
		s->refs[s->fresh.v[i]] &= ~REF_NEW;
	s->fresh.n = 0;
	/* Pushed backwards: allocation then takes them in ascending order,
	 * the spare (lowest) ones first, and big writes stay contiguous. */
	qsort(s->pending.v, s->pending.n, sizeof(uint32_t), cmp_u32);
	for (size_t i = s->pending.n; i-- > 0;) {
		slot_list_push(&s->free, s->pending.v[i]);
		if (!slot_list_push(&s->spare, s->pending.v[i]))
			s->refs[s->pending.v[i]] = REF_SPARE;
	}
	s->pending.n = 0;
	trim_spares(s, shrink ? 0 : s->allocs < SPARE_MAX >> s->shift ? s->allocs : SPARE_MAX >> s->shift);
	s->allocs = 0;
	return 0;
}

int store_commit(struct blk_store *s)
{
	int err = commit(s, false);

	return !err && s->j.end >= s->ckpt_bytes ? store_checkpoint(s) : err;
}

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

/* Writes all metadata as generation gen to meta.tmp and renames it to meta. */
static int meta_write(struct blk_store *s, uint64_t gen)
{
	struct writer *w = calloc(1, sizeof(*w));
	if (!w || !(w->hs = blk_hash64_begin(0))) {
		free(w);
		return -ENOMEM;
	}
	w->fd = openat(s->dirfd, "meta.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		w->err = errno;
		goto out;
	}
	struct meta_hdr h = { .block_size = s->bs, .dedup = s->dedup, .gen = gen,
			      .nslots = s->nslots, .vol_ids = s->nvols };
	memcpy(h.magic, META_MAGIC, 8);
	for (uint32_t i = 0; i < s->nvols; i++)
		h.nvols += s->vols[i] != NULL;
	w_put(w, &h, sizeof(h));
	w_put(w, s->hashes, (size_t)s->nslots * sizeof(*s->hashes));
	w_put(w, s->refs, (size_t)s->nslots * sizeof(*s->refs));
	for (uint32_t i = 0; i < s->nvols; i++) {
		struct blk_vol *v = s->vols[i];
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
	if (!w->err && renameat(s->dirfd, "meta.tmp", s->dirfd, "meta"))
		w->err = errno;
	if (!w->err && fsync(s->dirfd))
		w->err = errno;
out:
	if (w->hs)
		blk_hash64_end(w->hs);
	if (w->fd >= 0)
		close(w->fd);
	int err = -w->err;
	if (err) {
		unlinkat(s->dirfd, "meta.tmp", 0);
		blk_err("cannot write the store metadata: %s", strerror(w->err));
	}
	free(w);
	return err;
}

int store_checkpoint(struct blk_store *s)
{
	uint64_t gen = s->j.gen + 1;
	int err = commit(s, true);

	if (!err)
		err = meta_write(s, gen);
	/* Once meta has the new generation, old journal records no longer verify. */
	if (!err)
		err = journal_reset(&s->j, gen);
	return err;
}

int blk_flush(struct blk_store *s)
{
	pthread_rwlock_wrlock(&s->lock);
	int err = store_commit(s);
	pthread_rwlock_unlock(&s->lock);
	return err;
}

/* --- create, open, close ------------------------------------------------ */

static struct blk_store *store_new(uint32_t bs, enum blk_dedup dedup)
{
	struct blk_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_rwlock_init(&s->lock, NULL);
	s->dirfd = s->datafd = s->lockfd = s->j.fd = -1;
	s->bs = bs;
	s->shift = __builtin_ctz(bs);
	s->dedup = dedup;
	s->nslots = 1;
	s->ckpt_bytes = CKPT_BYTES;
	s->scratch = malloc(BLK_BS_MAX);
	s->rmw = malloc(BLK_BS_MAX);
	if (!s->scratch || !s->rmw || slots_reserve(s, 1) ||
	    blk_index_init(&s->ix, (const struct blk_hash *const *)&s->hashes)) {
		free(s->scratch);
		free(s->rmw);
		free(s->hashes);
		free(s->refs);
		free(s);
		return NULL;
	}
	memset(&s->hashes[0], 0, sizeof(s->hashes[0]));
	s->refs[0] = 0;
	return s;
}

static void store_free(struct blk_store *s)
{
	for (uint32_t i = 0; i < s->nvols; i++)
		if (s->vols[i])
			free(s->vols[i]->map);
	for (uint32_t i = 0; i < s->nvols; i++)
		free(s->vols[i]);
	free(s->vols);
	free(s->hashes);
	free(s->refs);
	free(s->free.v);
	free(s->pending.v);
	free(s->fresh.v);
	free(s->spare.v);
	free(s->j.buf);
	free(s->scratch);
	free(s->rmw);
	blk_index_free(&s->ix);
	int fds[] = { s->datafd, s->j.fd, s->lockfd, s->dirfd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

static int lock_store(struct blk_store *s, const char *dir)
{
	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB)) {
		int err = errno;
		if (err == EWOULDBLOCK)
			blk_err("store %s is in use by another process", dir);
		else
			blk_err("cannot lock store %s: %s", dir, strerror(err));
		return err == EWOULDBLOCK ? -EBUSY : -err;
	}
	return 0;
}

static int open_file(struct blk_store *s, const char *dir, const char *name, int flags, int *fd)
{
	*fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | flags, 0644);
	if (*fd >= 0)
		return 0;
	int err = -errno;
	blk_err("%s: cannot open %s: %s", dir, name, strerror(errno));
	return err;
}

/* Allocates a store for dir and locks it; dir must already hold a store
 * (existing) or must not (to create one). */
static int store_start(const char *dir, uint32_t bs, enum blk_dedup dedup, bool existing,
		       struct blk_store **out)
{
	struct blk_store *s = store_new(bs, dedup);
	int err = 0;

	if (!s)
		return -ENOMEM;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		err = -errno;
		blk_err("no store at %s: %s", dir, strerror(errno));
	} else if (!faccessat(s->dirfd, "meta", F_OK, 0) != existing) {
		err = existing ? -ENOENT : -EEXIST;
		blk_err(existing ? "%s is not a store (no metadata)" : "%s is already a store", dir);
	}
	if (!err)
		err = lock_store(s, dir);
	if (err) {
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

int blk_store_create(const char *dir, uint32_t bs, enum blk_dedup dedup)
{
	if (bs < BLK_BS_MIN || bs > BLK_BS_MAX || (bs & (bs - 1))) {
		blk_err("block size %u: must be a power of two from %u to %u", bs, BLK_BS_MIN, BLK_BS_MAX);
		return -EINVAL;
	}
	if (mkdir(dir, 0755) && errno != EEXIST) {
		int err = -errno;
		blk_err("cannot create %s: %s", dir, strerror(errno));
		return err;
	}
	struct blk_store *s;
	int err = store_start(dir, bs, dedup, false, &s);
	if (err)
		return err;
	err = open_file(s, dir, "data", O_CREAT | O_TRUNC, &s->datafd);
	if (!err)
		err = open_file(s, dir, "journal", O_CREAT | O_TRUNC, &s->j.fd);
	if (!err)
		err = meta_write(s, 1);
	store_free(s);
	return err;
}

static int meta_bad(const char *dir, const char *why)
{
	blk_err("%s: metadata is corrupt (%s); the store was not changed", dir, why);
	return -EUCLEAN;
}

static int meta_load(struct blk_store *s, const char *dir)
{
	int fd = openat(s->dirfd, "meta", O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st)) {
		int err = -errno;
		blk_err("%s is not a store (no metadata: %s)", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	size_t size = st.st_size;
	const uint8_t *m = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (m == MAP_FAILED)
		return meta_bad(dir, "empty or unreadable");
	int err = 0;
	struct meta_hdr h;
	uint64_t sum;
	size_t off = sizeof(h);
	if (size < sizeof(h) + sizeof(sum)) {
		err = meta_bad(dir, "too short");
		goto out;
	}
	memcpy(&h, m, sizeof(h));
	memcpy(&sum, m + size - sizeof(sum), sizeof(sum));
	if (memcmp(h.magic, META_MAGIC, 8)) {
		err = meta_bad(dir, "bad magic");
		goto out;
	}
	if (blk_hash64(m, size - sizeof(sum), 0) != sum) {
		err = meta_bad(dir, "checksum mismatch");
		goto out;
	}
	if (h.block_size != s->bs) {
		s->bs = h.block_size;
		s->shift = __builtin_ctz(h.block_size);
	}
	s->dedup = h.dedup;
	s->j.gen = h.gen;
	size_t slotbytes = (size_t)h.nslots * (sizeof(struct blk_hash) + sizeof(uint32_t));
	if (!h.nslots || slotbytes > size - off - sizeof(sum) || slots_reserve(s, h.nslots)) {
		err = meta_bad(dir, "slot table");
		goto out;
	}
	s->nslots = h.nslots;
	memcpy(s->hashes, m + off, (size_t)h.nslots * sizeof(struct blk_hash));
	off += (size_t)h.nslots * sizeof(struct blk_hash);
	memcpy(s->refs, m + off, (size_t)h.nslots * sizeof(uint32_t));
	off += (size_t)h.nslots * sizeof(uint32_t);
	s->vols = calloc(h.vol_ids ? h.vol_ids : 1, sizeof(*s->vols));
	if (!s->vols) {
		err = -ENOMEM;
		goto out;
	}
	s->nvols = h.vol_ids;
	for (uint32_t i = 0; i < h.nvols && !err; i++) {
		struct j_vol r;
		if (size - sizeof(sum) - off < sizeof(r)) {
			err = meta_bad(dir, "volume table");
			break;
		}
		memcpy(&r, m + off, sizeof(r));
		off += sizeof(r);
		/* The map follows the record; vol_apply creates an empty one. */
		s->replaying = true;
		err = r.id < h.vol_ids && !s->vols[r.id] ? vol_apply(s, J_VOL_NEW, &r, sizeof(r)) : -EUCLEAN;
		s->replaying = false;
		struct blk_vol *v = err ? NULL : s->vols[r.id];
		if (!v || size - sizeof(sum) - off < (size_t)v->nblocks * sizeof(uint32_t)) {
			err = err == -ENOMEM ? err : meta_bad(dir, "volume map");
			break;
		}
		memcpy(v->map, m + off, (size_t)v->nblocks * sizeof(uint32_t));
		off += (size_t)v->nblocks * sizeof(uint32_t);
		for (uint32_t b = 0; b < v->nblocks && !err; b++)
			if (v->map[b] >= s->nslots)
				err = meta_bad(dir, "map entry out of range");
	}
out:
	munmap((void *)m, size);
	return err;
}

static int replay_one(uint32_t type, const void *p, uint32_t len, void *arg)
{
	struct blk_store *s = arg;

	if (type != J_SLOT)
		return vol_apply(s, type, p, len);
	struct j_slot r;
	if (len != sizeof(r))
		return -EUCLEAN;
	memcpy(&r, p, sizeof(r));
	if (r.slot == 0 || slots_reserve(s, r.slot + 1))
		return -EUCLEAN;
	while (s->nslots <= r.slot)
		s->refs[s->nslots++] = 0;
	s->hashes[r.slot] = r.hash;
	s->refs[r.slot] = 0;
	return 0;
}

/* After replay: rebuild the free list and the index, return garbage to the
 * file system (blocks written but never committed, slots freed but not yet
 * punched when the process died). */
static int recover(struct blk_store *s)
{
	int err = 0;

	for (uint32_t slot = s->nslots - 1; slot > 0 && !err; slot--) {
		if (!(s->refs[slot] & REF_COUNT)) {
			s->refs[slot] = 0;
			err = slot_list_push(&s->free, slot);
		} else if (s->refs[slot] & REF_INDEXED) {
			err = blk_index_insert(&s->ix, slot);
		}
	}
	if (!err)
		punch(s, s->free.v, s->free.n);
	struct stat st;
	if (!err && !fstat(s->datafd, &st) && st.st_size > ((off_t)s->nslots << s->shift))
		ftruncate(s->datafd, (off_t)s->nslots << s->shift);
	return err;
}

int blk_store_open(const char *dir, struct blk_store **out)
{
	struct blk_store *s;
	int err = store_start(dir, BLK_BS_MIN, BLK_DEDUP_INLINE, true, &s);
	if (err)
		return err;
	err = meta_load(s, dir);
	if (!err)
		err = open_file(s, dir, "data", 0, &s->datafd);
	if (!err)
		err = open_file(s, dir, "journal", 0, &s->j.fd);
	if (!err) {
		s->replaying = true;
		err = journal_replay(&s->j, replay_one, s);
		s->replaying = false;
		if (err)
			blk_err("%s: journal cannot be replayed: %s", dir, strerror(-err));
	}
	if (!err)
		err = recover(s);
	if (err) {
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

int blk_store_close(struct blk_store *s)
{
	pthread_rwlock_wrlock(&s->lock);
	int err = store_checkpoint(s);
	pthread_rwlock_unlock(&s->lock);
	store_free(s);
	return err;
}
