/* Whole-store operations: listing, statistics, deferred dedup, fsck. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/hash.h"
#include "blk/store_impl.h"

int blk_list(struct blk_store *s, void (*fn)(const struct blk_vol_info *, void *), void *arg)
{
	pthread_rwlock_rdlock(&s->lock);
	for (uint32_t i = 0; i < s->m.nvols; i++) {
		struct blk_vol *v = s->m.vols[i];
		if (!v)
			continue;
		struct blk_vol_info vi = { .size = v->size, .readonly = v->flags & VOL_RO };
		memcpy(vi.name, v->name, sizeof(vi.name));
		for (uint32_t b = 0; b < v->nblocks; b++) {
			uint32_t slot = v->map[b];
			if (!slot)
				continue;
			vi.mapped_bytes += s->m.bs;
			if (slot_refs(&s->m, slot) == 1)
				vi.exclusive_bytes += s->m.bs;
		}
		fn(&vi, arg);
	}
	pthread_rwlock_unlock(&s->lock);
	return 0;
}

static uint64_t disk_usage(struct blk_store *s, const char *name)
{
	struct stat st;

	return fstatat(s->dirfd, name, &st, 0) ? 0 : (uint64_t)st.st_blocks * 512;
}

int blk_stat(struct blk_store *s, struct blk_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&s->lock);
	st->block_size = s->m.bs;
	st->dedup = s->dedup;
	for (uint32_t i = 0; i < s->m.nvols; i++) {
		struct blk_vol *v = s->m.vols[i];
		if (!v)
			continue;
		st->volumes++;
		st->logical_bytes += v->size;
		for (uint32_t b = 0; b < v->nblocks; b++)
			st->mapped_bytes += v->map[b] ? s->m.bs : 0;
	}
	for (uint32_t slot = 1; slot < s->m.nslots; slot++)
		st->unique_blocks += slot_live(&s->m, slot);
	st->unique_bytes = st->unique_blocks * s->m.bs;
	st->physical_bytes = disk_usage(s, "data") + disk_usage(s, "meta0") + disk_usage(s, "meta1") +
			     disk_usage(s, "journal0") + disk_usage(s, "journal1");
	st->index_bytes = blk_index_bytes(&s->m.ix) + (uint64_t)s->m.slotcap * sizeof(*s->m.slots) +
			  ((uint64_t)s->m.slotcap + 63) / 64 * FREEMAPS * sizeof(uint64_t);
	pthread_rwlock_unlock(&s->lock);
	return 0;
}

/* Reads a slot into s->rmw and checks it against its hash. */
static bool slot_intact(struct blk_store *s, uint32_t slot)
{
	if (slots_read(s, slot, 1, s->rmw))
		return false;
	struct blk_hash h = blk_hash128(s->rmw, s->m.bs);
	return slot_hash_eq(&s->m, slot, &h);
}

/* Remaps every reference to slot `from` onto `remap[from]`. */
static int remap_all(struct blk_store *s, const uint32_t *remap)
{
	int err = 0;

	for (uint32_t i = 0; i < s->m.nvols && !err; i++) {
		struct blk_vol *v = s->m.vols[i];
		for (uint32_t b = 0; v && b < v->nblocks && !err; b++) {
			uint32_t to = v->map[b] ? remap[v->map[b]] : 0;
			if (!to || !slot_has_room(&s->m, to, 1))
				continue;	/* a full count keeps the duplicate */
			struct j_map m = { .vol = v->id, .slot = to, .lba = b };
			err = store_change(s, J_MAP, &m, sizeof(m));
			if (!err && s->j.len >= JBUF_MAX)
				err = store_commit(s);	/* bound the memory of records */
		}
	}
	return err;
}

int64_t blk_dedup(struct blk_store *s)
{
	store_lock(s);
	uint32_t *remap = calloc(s->m.nslots, sizeof(*remap));
	int64_t merged = 0;
	int err = remap ? store_writable(s) : -ENOMEM;

	for (uint32_t slot = 1; slot < s->m.nslots && !err; slot++) {
		if (!slot_live(&s->m, slot) || (s->m.slots[slot] & REF_INDEXED))
			continue;
		/* Corrupt blocks stay where they are, for fsck to report. */
		if (!slot_intact(s, slot))
			continue;
		size_t pos = 0;
		uint32_t c;
		while (!remap[slot] && (c = blk_index_next(&s->m.ix, s->m.slots[slot] & SLOT_HASH, &pos))) {
			if (!slots_read(s, c, 1, s->scratch) && !memcmp(s->scratch, s->rmw, s->m.bs))
				remap[slot] = c;
		}
		if (remap[slot])
			merged++;
		else if (!(err = blk_index_insert(&s->m.ix, slot)))
			s->m.slots[slot] |= REF_INDEXED;
	}
	if (!err && merged)
		err = remap_all(s, remap);
	if (!err)
		err = store_checkpoint(s);	/* also keeps the index flags */
	free(remap);
	store_unlock(s);
	return err ? err : merged;
}

static bool occupies_disk(struct blk_store *s, uint32_t slot)
{
	off_t off = (off_t)slot << s->m.shift, d = lseek(s->datafd, off, SEEK_DATA);

	return d >= 0 && d < off + (off_t)s->m.bs;
}

int64_t blk_fsck(struct blk_store *s, bool repair, struct blk_fsck *r)
{
	bool ro = s->mode == BLK_OPEN_READ;

	memset(r, 0, sizeof(*r));
	repair = repair && !ro;
	store_lock(s);
	int err = ro ? 0 : store_commit(s);	/* no pending frees from here on */
	/* Opening found (and, unless read-only, mended) these. */
	r->damaged_meta = s->damage.meta;
	r->journal_damage = s->damage.journal;
	r->lost_commits = s->damage.lost;
	r->repaired = (s->damage.meta && !ro) + s->damage.dropped;
	uint32_t *count = calloc(s->m.nslots, sizeof(*count));
	bool *bad = calloc(s->m.nslots, sizeof(*bad));
	if (!err && (!count || !bad))
		err = -ENOMEM;

	for (uint32_t slot = 1; slot < s->m.nslots && !err; slot++) {
		if (!slot_live(&s->m, slot))
			continue;
		r->slots_checked++;
		bad[slot] = !slot_intact(s, slot);
		r->corrupt_blocks += bad[slot];
	}
	for (uint32_t i = 0; i < s->m.nvols && !err; i++) {
		struct blk_vol *v = s->m.vols[i];
		for (uint32_t b = 0; v && b < v->nblocks; b++) {
			uint32_t slot = v->map[b];
			if (!slot)
				continue;
			if (slot >= s->m.nslots) {
				blk_err("volume %s: block %u points at data block %u beyond the store", v->name, b, slot);
				r->bad_maps++;
				continue;
			}
			count[slot]++;
			if (bad[slot])
				blk_err("volume %s: block %u (data block %u) is corrupt", v->name, b, slot);
		}
	}
	bool changed = false;
	for (uint32_t slot = 1; slot < s->m.nslots && !err; slot++) {
		uint32_t have = slot_refs(&s->m, slot);
		if (have == count[slot]) {
			if (!have && !meta_is_spare(&s->m, slot) && occupies_disk(s, slot)) {
				/* recover() punches these when opening for writing. */
				if (ro) {
					r->unreclaimed++;
					continue;
				}
				r->space_leaks++;
				if (repair) {
					fallocate(s->datafd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						  (off_t)slot << s->m.shift, s->m.bs);
					r->repaired++;
				}
			}
			continue;
		}
		if (have > count[slot])	/* I7 */
			r->refcount_leaks++;
		else
			r->refcount_short++;
		blk_err("data block %u: reference count %u, but %u references", slot, have, count[slot]);
		if (repair && count[slot] <= REF_COUNT) {	/* more than a count holds: unrepaired */
			s->m.slots[slot] = (s->m.slots[slot] & ~REF_COUNT) | count[slot];
			changed = true;
			r->repaired++;
		}
	}
	if (!err && changed)
		err = meta_rebuild(&s->m);
	if (!err && changed)
		err = store_checkpoint(s);
	free(count);
	free(bad);
	store_unlock(s);
	if (err)
		return err;
	return r->bad_maps + r->corrupt_blocks + r->refcount_leaks + r->refcount_short + r->space_leaks +
	       r->damaged_meta + r->journal_damage - r->repaired;
}
