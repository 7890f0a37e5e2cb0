/*
 * Volumes (create, snapshot, clone, remove) and their I/O: read with hash
 * verification, write with inline or deferred dedup, trim.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "blk/hash.h"
#include "blk/store_impl.h"

static const uint8_t zeros[BLK_BS_MAX];

/* --- volume management ------------------------------------------------- */

static int check_new_name(struct blk_store *s, const char *name)
{
	if (!blk_name_valid(name)) {
		blk_err("bad name '%s': use 1-%d letters, digits, '.', '_' or '-', not starting with '.' or '-'",
			name, BLK_NAME_MAX);
		return -EINVAL;
	}
	if (meta_vol(&s->m, name)) {
		blk_err("'%s' already exists", name);
		return -EEXIST;
	}
	if (s->m.nvols >= VOL_IDS_MAX) {
		blk_err("this store has made %u volumes, its limit", VOL_IDS_MAX);
		return -ENOSPC;
	}
	return 0;
}

static int vol_change(struct blk_store *s, uint32_t type, struct j_vol *r)
{
	int err = store_change(s, type, r, sizeof(*r));

	return err ? err : store_commit(s);
}

int blk_vol_create(struct blk_store *s, const char *name, uint64_t size)
{
	store_lock(s);
	int err = check_new_name(s, name);
	if (!err && (!size || ((size + s->m.bs - 1) >> s->m.shift) > UINT32_MAX)) {
		blk_err("volume size %llu: must be from 1 byte to 2^32 blocks", (unsigned long long)size);
		err = -EINVAL;
	}
	if (!err) {
		struct j_vol r = { .id = s->m.nvols, .size = size };
		strcpy(r.name, name);
		err = vol_change(s, J_VOL_NEW, &r);
	}
	store_unlock(s);
	return err;
}

static struct blk_vol *find_or_complain(struct blk_store *s, const char *name)
{
	struct blk_vol *v = meta_vol(&s->m, name);

	if (!v)
		blk_err("no volume or snapshot named '%s'", name);
	return v;
}

int blk_vol_copy(struct blk_store *s, const char *srcname, const char *name, bool writable)
{
	store_lock(s);
	struct blk_vol *src = find_or_complain(s, srcname);
	int err = src ? check_new_name(s, name) : -ENOENT;
	if (!err) {
		struct j_vol r = { .id = s->m.nvols, .src = src->id, .flags = writable ? 0 : VOL_RO };
		strcpy(r.name, name);
		if ((err = vol_change(s, J_VOL_COPY, &r)) == -EOVERFLOW)
			blk_err("cannot copy '%s': one of its blocks has %u references, the most a block can have",
				srcname, (unsigned)REF_COUNT);
	}
	store_unlock(s);
	return err;
}

int blk_vol_remove(struct blk_store *s, const char *name)
{
	store_lock(s);
	struct blk_vol *v = find_or_complain(s, name);
	int err = v ? 0 : -ENOENT;
	if (v && v->opens) {
		blk_err("'%s' is in use", name);
		err = -EBUSY;
	}
	if (!err) {
		struct j_vol r = { .id = v->id };
		err = vol_change(s, J_VOL_DEL, &r);
	}
	store_unlock(s);
	return err;
}

int blk_vol_open(struct blk_store *s, const char *name, struct blk_vol **out)
{
	pthread_rwlock_wrlock(&s->lock);
	struct blk_vol *v = find_or_complain(s, name);
	if (v)
		v->opens++;
	pthread_rwlock_unlock(&s->lock);
	*out = v;
	return v ? 0 : -ENOENT;
}

void blk_vol_close(struct blk_vol *v)
{
	pthread_rwlock_wrlock(&vol_store(v)->lock);
	v->opens--;
	pthread_rwlock_unlock(&vol_store(v)->lock);
}

uint64_t blk_vol_size(const struct blk_vol *v) { return v->size; }
struct blk_store *blk_vol_store(const struct blk_vol *v) { return vol_store(v); }
bool blk_vol_readonly(const struct blk_vol *v) { return v->flags & VOL_RO; }

/* --- I/O ----------------------------------------------------------------- */

static bool is_zero(const uint8_t *p, size_t n)
{
	uint64_t first;

	memcpy(&first, p, 8);	/* p may be unaligned: NBD writes at any offset */
	return !first && !memcmp(p, p + 8, n - 8);
}

static int verify(struct blk_vol *v, uint64_t lba, uint32_t slot, const void *data)
{
	struct blk_hash h = blk_hash128(data, v->m->bs);

	if (slot_hash_eq(v->m, slot, &h))
		return 0;
	blk_err("volume %s: block %llu (data block %u) is corrupt: its content does not match its hash",
		v->name, (unsigned long long)lba, slot);
	return -EIO;
}

static int check_range(struct blk_vol *v, uint64_t off, uint64_t len)
{
	return off > v->size || len > v->size - off ? -EINVAL : 0;
}

/* Reads one whole block, verified, into buf; the caller holds the lock. */
static int read_block(struct blk_vol *v, uint64_t lba, uint8_t *buf)
{
	uint32_t slot = v->map[lba];

	if (!slot) {
		memset(buf, 0, v->m->bs);
		return 0;
	}
	int err = slots_read(vol_store(v), slot, 1, buf);
	return err ? err : verify(v, lba, slot, buf);
}

/* Blocks copied before they are verified: the copy is still in cache. */
#define RUN_MAX 16

/* Reads whole blocks lba .. lba+n-1 into dst, each verified; the caller
 * holds the lock. Blocks written together sit in consecutive slots and are
 * copied as one run. */
static int read_blocks(struct blk_vol *v, uint64_t lba, size_t n, uint8_t *dst)
{
	struct blk_store *s = vol_store(v);
	const uint32_t *map = v->map + lba;
	size_t bs = s->m.bs;
	int err = 0;

	for (size_t i = 0, end; i < n && !err; i += end) {
		uint32_t slot = map[i];
		for (end = 1; slot && i + end < n && end < RUN_MAX && map[i + end] == slot + end; end++)
			;
		if (!slot) {
			memset(dst + i * bs, 0, bs);
			continue;
		}
		err = slots_read(s, slot, end, dst + i * bs);
		for (size_t j = i; j < i + end && !err; j++)
			err = verify(v, lba + j, map[j], dst + j * bs);
	}
	return err;
}

int blk_read(struct blk_vol *v, void *buf, uint64_t off, size_t len)
{
	struct blk_store *s = vol_store(v);
	uint8_t *dst = buf, *bounce = NULL;
	int err = check_range(v, off, len);

	pthread_rwlock_rdlock(&s->lock);
	while (!err && len) {
		uint64_t lba = off >> s->m.shift;
		size_t boff = off & (s->m.bs - 1), n = s->m.bs - boff < len ? s->m.bs - boff : len;

		if (n < s->m.bs) {
			if (!bounce && !(bounce = malloc(s->m.bs)))
				err = -ENOMEM;
			if (!err)
				err = read_block(v, lba, bounce);
			if (!err)
				memcpy(dst, bounce + boff, n);
		} else {
			n = len & ~(size_t)(s->m.bs - 1);
			err = read_blocks(v, lba, n >> s->m.shift, dst);
		}
		dst += n;
		off += n;
		len -= n;
	}
	pthread_rwlock_unlock(&s->lock);
	free(bounce);
	return err;
}

static bool same_bytes(struct blk_store *s, uint32_t slot, const void *data)
{
	return !slots_read(s, slot, 1, s->scratch) && !memcmp(s->scratch, data, s->m.bs);
}

/* A block of a write: its content and where it ends up. */
struct wblk {
	const uint8_t *src;
	struct blk_hash h;
	bool zero;
	bool fresh;		/* written to slot: a new one, or ... */
	bool rewrite;		/* ... the block's own, rewritten in place */
	uint32_t slot;
	uint64_t was;		/* a rewrite: the slot's hash key before (unwind()) */
};

#define WBATCH 256

/* The block of b[0 .. n-1] that this batch writes to slot, if any. */
static const struct wblk *batch_fresh(const struct wblk *b, size_t n, uint32_t slot)
{
	for (size_t i = 0; i < n; i++)
		if (b[i].fresh && b[i].slot == slot)
			return &b[i];
	return NULL;
}

/* Finds an equal stored block; a hash match is only a candidate, the bytes
 * decide. Slots this batch writes are compared in memory: new ones are not
 * written yet (I8), rewritten ones still hold their old bytes. */
static uint32_t find_equal(struct blk_store *s, const struct wblk *b, size_t n, const struct wblk *w)
{
	size_t pos = 0;
	uint32_t c;

	while ((c = blk_index_next(&s->m.ix, slot_hash_key(&w->h), &pos))) {
		if (!slot_has_room(&s->m, c, WBATCH))
			continue;	/* nearly full count: a new copy takes the next references */
		const struct wblk *own = batch_fresh(b, n, c);
		if (own ? !memcmp(own->src, w->src, s->m.bs) : slot_refs(&s->m, c) && same_bytes(s, c, w->src))
			return c;
	}
	return 0;
}

/* A block may be rewritten in place in its own slot if no durable
 * metadata names the slot (REF_NEW, I2), nothing else references it, and
 * no earlier block of the batch (of b[0 .. n-1], those that may) shares
 * it: a rewrite costs no new space, as in a raw file, and the old bytes
 * need no reclaim. */
static bool rewritable(struct blk_store *s, const struct wblk *b, size_t n, uint32_t old)
{
	if (!old || !(s->m.slots[old] & REF_NEW) || slot_refs(&s->m, old) != 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (b[i].slot == old)
			return false;
	return true;
}

/* Undoes a batch that failed before its records were logged; blocks from
 * `untouched` on were not written. Its new slots go; a block rewritten in
 * place that was not written takes its hash back (I8: the index follows);
 * one that may have been written has bytes no record describes, which
 * only the last commit can tell again (I6). */
static int unwind(struct blk_store *s, struct wblk *b, size_t n, size_t untouched, int err)
{
	bool rewrote = false;

	for (size_t i = 0; i < n; i++) {
		if (b[i].rewrite && i < untouched)
			rewrote = true;
		else if (b[i].rewrite)
			meta_rehash(&s->m, b[i].slot, &(struct blk_hash){ .lo = b[i].was });
		else if (b[i].fresh)
			meta_drop(&s->m, b[i].slot);
	}
	return rewrote ? store_fail(s, err, "cannot rewrite blocks in the data file") : err;
}

/* Writes the fresh blocks, one write per run of consecutive slots; with
 * or without the lock (install_concurrent()). On failure *untouched is the
 * first block past the run that failed: none from there on was written. */
static int write_fresh(struct blk_store *s, const struct wblk *b, size_t n, size_t *untouched)
{
	struct iovec iov[WBATCH];

	for (size_t i = 0; i < n;) {
		if (!b[i].fresh) {
			i++;
			continue;
		}
		size_t k = 0, nb = 0;
		uint32_t first = b[i].slot;
		for (; i < n && (!b[i].fresh || b[i].slot == first + nb); i++) {
			if (!b[i].fresh)
				continue;
			/* Blocks adjacent in the caller's buffer share an iovec:
			 * the kernel copies one segment much faster than many. */
			if (k && (uint8_t *)iov[k - 1].iov_base + iov[k - 1].iov_len == b[i].src)
				iov[k - 1].iov_len += s->m.bs;
			else
				iov[k++] = (struct iovec){ (void *)b[i].src, s->m.bs };
			nb++;
		}
		ssize_t len = (ssize_t)nb << s->m.shift;
		/* One segment, the usual case, skips the kernel's iovec import. */
		ssize_t r = k == 1 ? pwrite(s->datafd, iov[0].iov_base, len, (off_t)first << s->m.shift)
				   : pwritev(s->datafd, iov, k, (off_t)first << s->m.shift);
		if (r != len) {
			int err = r < 0 ? -errno : -ENOSPC;
			blk_err("cannot write the data file: %s", strerror(-err));
			*untouched = i;
			return err;
		}
	}
	return 0;
}

/* Slots reserved for the fresh blocks of a batch: a run taken at the first
 * block that needs one, sized to the non-zero blocks left in the batch, so
 * a write's new blocks lie in sequence; what dedup leaves over is given
 * back. */
struct reserve {
	uint32_t next, left;
};

static int take_slot(struct blk_meta *m, struct reserve *r, const struct wblk *rest, size_t n, uint32_t *slot)
{
	if (!r->left) {
		uint32_t need = 0;	/* zero blocks never take one */
		for (size_t i = 0; i < n && need < 64; i++)
			need += !rest[i].zero;
		int err = meta_alloc(m, need, &r->next, &r->left);
		if (err)
			return err;
	}
	*slot = r->next++;
	r->left--;
	return 0;
}

/* Starts the cache misses of a batch at once: the index entries its new
 * blocks are looked up by (inline dedup) and those of the old blocks,
 * which a rewrite or a last reference takes out of the index. The slot
 * words of the old blocks come first: their hashes lead to the entries. */
static void prefetch(struct blk_store *s, const uint32_t *map, const struct wblk *b, size_t n)
{
	uint64_t keys[2 * WBATCH];
	size_t nk = 0;

	for (size_t i = 0; i < n; i++)
		__builtin_prefetch(&s->m.slots[map[i]]);
	for (size_t i = 0; i < n && s->dedup == BLK_DEDUP_INLINE; i++)
		if (!b[i].zero)
			keys[nk++] = slot_hash_key(&b[i].h);
	for (size_t i = 0; i < n; i++)
		if (s->m.slots[map[i]] & REF_INDEXED)
			keys[nk++] = s->m.slots[map[i]] & SLOT_HASH;
	blk_index_prefetch(&s->m.ix, keys, nk);
}

/* Decides where each block of lba .. lba+n-1 goes: zeros, a block it
 * shares, its own slot rewritten in place, or a new slot (reserved here);
 * *rewrites says whether any block is rewritten in place. The caller holds
 * the write lock. */
static int place_blocks(struct blk_vol *v, uint64_t lba, struct wblk *b, size_t n, bool *rewrites)
{
	struct blk_store *s = vol_store(v);
	struct reserve r = { 0 };
	size_t found = 0;	/* blocks before i that share a block found by dedup */
	int err = store_writable(s);	/* I6: not even data */

	*rewrites = false;
	for (size_t i = 0; i < n; i++) {	/* what unwind() looks at, whatever fails */
		b[i].fresh = b[i].rewrite = false;
		b[i].slot = 0;
	}
	if (err)
		return err;
	prefetch(s, v->map + lba, b, n);
	for (size_t i = 0; i < n && !err; i++) {
		struct wblk *w = &b[i];
		uint32_t old = v->map[lba + i];
		if (w->zero)
			continue;	/* I3 */
		if (old && slot_hash_eq(&s->m, old, &w->h) && same_bytes(s, old, w->src))
			w->slot = old;
		else if (s->dedup == BLK_DEDUP_INLINE && (w->slot = find_equal(s, b, i, w)))
			found = i + 1;
		/* Only such a block can share old, which only this block names. */
		if (!w->slot && rewritable(s, b, found, old)) {
			w->slot = old;
			w->fresh = w->rewrite = *rewrites = true;
			w->was = s->m.slots[old] & SLOT_HASH;
			/* Now, not when J_REHASH is applied: the lookup above has
			 * the new entry's cache lines, the prefetch the old one's.
			 * Nothing reads the slot before the records are logged: a
			 * batch that rewrites keeps the lock. */
			meta_rehash(&s->m, old, &w->h);
			s->m.changes++;	/* its bytes change: see install_concurrent() */
			continue;
		}
		if (w->slot || (err = take_slot(&s->m, &r, w, n - i, &w->slot)))
			continue;
		w->fresh = true;
		slot_set_hash(&s->m, w->slot, &w->h);
		if (s->dedup == BLK_DEDUP_INLINE && !blk_index_insert(&s->m.ix, w->slot))
			s->m.slots[w->slot] |= REF_INDEXED;
	}
	if (r.left)
		meta_alloc_return(&s->m, r.next, r.left);
	return err;
}

/* Logs the batch's records (I5) once its data is written; the caller holds
 * the write lock. */
static int log_blocks(struct blk_vol *v, uint64_t lba, const struct wblk *b, size_t n)
{
	struct blk_store *s = vol_store(v);
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		struct j_slot r = { .slot = b[i].slot, .hash = b[i].h };
		struct j_map m = { .vol = v->id, .slot = b[i].slot, .lba = lba + i };
		s->data_dirty |= b[i].fresh;
		if (b[i].fresh)
			err = store_change(s, b[i].rewrite ? J_REHASH : J_SLOT, &r, sizeof(r));
		if (!err && v->map[lba + i] != b[i].slot)
			err = store_change(s, J_MAP, &m, sizeof(m));
	}
	for (size_t i = 0; i < n && err; i++)
		if (b[i].rewrite)	/* memory has its new hash, and its bytes changed (I5) */
			return store_fail(s, err, "cannot log blocks rewritten in place");
	return err;
}

/* Writes a batch that place_blocks() placed (or failed to, err) and logs
 * its records, or unwinds it; the caller holds the write lock. */
static int write_and_log(struct blk_vol *v, uint64_t lba, struct wblk *b, size_t n, int err)
{
	size_t untouched = 0;

	if (!err)
		err = write_fresh(vol_store(v), b, n, &untouched);
	return err ? unwind(vol_store(v), b, n, untouched, err) : log_blocks(v, lba, b, n);
}

/* Points blocks lba .. lba+n-1 at their new content, sharing equal blocks;
 * all or nothing until the records are logged (then only a failed store or
 * no memory stops it halfway). The caller holds the write lock. */
static int install(struct blk_vol *v, uint64_t lba, struct wblk *b, size_t n)
{
	bool rewrites;

	return write_and_log(v, lba, b, n, place_blocks(v, lba, b, n, &rewrites));
}

/* As install(), but the data goes to its new slots with the lock dropped,
 * so that writers of other blocks go on meanwhile: nothing reads or
 * names those slots until the records are logged. Not when a block is
 * rewritten in place (a reader could see it half written). Meanwhile the
 * blocks the batch shares could only change by being freed or rewritten
 * in place, which bumps m.changes: then the batch starts over under the
 * lock. Called and returns with the write lock held. */
static int install_concurrent(struct blk_vol *v, uint64_t lba, struct wblk *b, size_t n)
{
	struct blk_store *s = vol_store(v);
	bool rewrites, fresh = false;
	size_t untouched = 0;
	int err = place_blocks(v, lba, b, n, &rewrites);

	for (size_t i = 0; i < n; i++)
		fresh |= b[i].fresh;
	if (err || rewrites || !fresh)
		return write_and_log(v, lba, b, n, err);
	uint64_t changes = s->m.changes;
	pthread_rwlock_unlock(&s->lock);
	err = write_fresh(s, b, n, &untouched);
	pthread_rwlock_wrlock(&s->lock);
	if (err)
		return unwind(s, b, n, untouched, err);
	if (s->m.changes != changes) {
		unwind(s, b, n, n, 0);
		return install(v, lba, b, n);
	}
	return log_blocks(v, lba, b, n);
}

static void prepare(struct wblk *w, const uint8_t *src, size_t bs)
{
	w->src = src;
	w->zero = is_zero(src, bs);
	if (!w->zero)
		w->h = blk_hash128(src, bs);
}

static int check_writable(struct blk_vol *v, uint64_t off, uint64_t len)
{
	if (v->flags & VOL_RO) {
		blk_err("'%s' is a read-only snapshot", v->name);
		return -EROFS;
	}
	return check_range(v, off, len);
}

int blk_write(struct blk_vol *v, const void *buf, uint64_t off, size_t len, unsigned flags)
{
	struct blk_store *s = vol_store(v);
	const uint8_t *src = buf;
	int err = check_writable(v, off, len);
	struct wblk b[WBATCH];
	bool full = false;

	while (!err && len) {
		uint64_t lba = off >> s->m.shift;
		size_t boff = off & (s->m.bs - 1), n;

		if (boff || len < s->m.bs) {
			/* Partial block: read, modify, write, all under the lock. */
			n = s->m.bs - boff < len ? s->m.bs - boff : len;
			pthread_rwlock_wrlock(&s->lock);
			err = read_block(v, lba, s->rmw);
			if (!err) {
				memcpy(s->rmw + boff, src, n);
				prepare(&b[0], s->rmw, s->m.bs);
				err = install(v, lba, b, 1);
			}
		} else {
			/* Whole blocks: hash outside the lock, it is the expensive part. */
			size_t nb = len >> s->m.shift < WBATCH ? len >> s->m.shift : WBATCH;
			for (size_t i = 0; i < nb; i++)
				prepare(&b[i], src + (i << s->m.shift), s->m.bs);
			pthread_rwlock_wrlock(&s->lock);
			err = install_concurrent(v, lba, b, nb);
			n = nb << s->m.shift;
		}
		store_map_slots(s);	/* before readers see the new slots */
		full = s->j.len >= JBUF_MAX;
		pthread_rwlock_unlock(&s->lock);
		src += n;
		off += n;
		len -= n;
	}
	/* A full journal buffer commits: it bounds the memory of records. */
	return !err && (full || (flags & BLK_FUA)) ? blk_flush(s) : err;
}

int blk_trim(struct blk_vol *v, uint64_t off, uint64_t len, unsigned flags)
{
	struct blk_store *s = vol_store(v);
	int err = check_writable(v, off, len);
	uint64_t first = (off + s->m.bs - 1) >> s->m.shift, end = (off + len) >> s->m.shift;

	if (err || !len)
		return err;
	if (first >= end)	/* inside one block */
		return blk_write(v, zeros, off, len, flags);
	if (off < first << s->m.shift)
		err = blk_write(v, zeros, off, (first << s->m.shift) - off, 0);
	if (!err && off + len > end << s->m.shift)
		err = blk_write(v, zeros, end << s->m.shift, off + len - (end << s->m.shift), 0);
	if (!err) {
		pthread_rwlock_wrlock(&s->lock);
		struct j_trim t = { .vol = v->id, .lba = first, .count = end - first };
		err = store_change(s, J_TRIM, &t, sizeof(t));
		pthread_rwlock_unlock(&s->lock);
	}
	return !err && (flags & BLK_FUA) ? blk_flush(s) : err;
}
