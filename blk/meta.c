/*
 * Metadata in memory: the slot table and its allocation lists, volumes and
 * their maps, and the one function that changes them as a journal record
 * says (used alike by the write path and by replay).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "blk/meta.h"

/* --- slot table -------------------------------------------------------- */

int meta_reserve(struct blk_meta *m, uint64_t n)
{
	if (n <= m->slotcap)
		return 0;
	if (n > UINT32_MAX)
		return -ENOSPC;
	/* Steps of 1/16, in 64 bits and capped: the table's slack stays
	 * within half a byte per block (realloc moves large tables by
	 * remapping, not copying). */
	uint64_t cap = m->slotcap ? m->slotcap : 1024;
	while (cap < n)
		cap += cap / 16;
	cap = cap < UINT32_MAX ? cap : UINT32_MAX;
	uint64_t *w = realloc(m->slots, (size_t)cap * sizeof(*w));
	if (!w)
		return -ENOMEM;
	m->slots = w;
	m->slotcap = cap;
	return 0;
}

int meta_init(struct blk_meta *m, uint32_t bs)
{
	memset(m, 0, sizeof(*m));
	m->bs = bs;
	m->shift = __builtin_ctz(bs);
	m->nslots = 1;
	m->slot_limit = UINT32_MAX;
	if (meta_reserve(m, 1) || blk_index_init(&m->ix, (const uint64_t *const *)&m->slots)) {
		free(m->slots);
		return -ENOMEM;
	}
	m->slots[0] = 0;	/* I3 */
	return 0;
}

void meta_release(struct blk_meta *m)
{
	for (uint32_t i = 0; i < m->nvols; i++)
		if (m->vols[i])
			free(m->vols[i]->map);
	for (uint32_t i = 0; i < m->nvols; i++)
		free(m->vols[i]);
	free(m->vols);
	free(m->slots);
	free(m->free.v);
	free(m->pending.v);
	free(m->fresh.v);
	free(m->spare.v);
	blk_index_free(&m->ix);
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

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

void slots_sort(uint32_t *v, size_t n)
{
	if (n > 1)	/* v may be NULL when n is 0, which qsort does not allow */
		qsort(v, n, sizeof(*v), cmp_u32);
}

/* A free slot's block still occupies disk until the store punches it. */
static void make_free(struct blk_meta *m, uint32_t slot)
{
	m->slots[slot] = 0;
	if (!slot_list_push(&m->free, slot) && !slot_list_push(&m->spare, slot))
		m->slots[slot] = REF_SPARE;
}

int meta_alloc(struct blk_meta *m, uint32_t *slot)
{
	if (m->free.n) {
		*slot = m->free.v[--m->free.n];
	} else {
		if (m->nslots == UINT32_MAX) {
			blk_err("store is full (2^32 blocks)");
			return -ENOSPC;
		}
		int err = meta_reserve(m, m->nslots + 1);
		if (err)
			return err;
		*slot = m->nslots++;
	}
	m->slots[*slot] = REF_NEW;
	m->allocs++;
	return slot_list_push(&m->fresh, *slot);
}

/* I2: durable metadata may still name the slot unless it is new since the
 * last commit, so only then is it free at once. */
void meta_drop(struct blk_meta *m, uint32_t slot)
{
	bool recent = m->slots[slot] & REF_NEW;

	if (m->slots[slot] & REF_INDEXED)
		blk_index_remove(&m->ix, slot);	/* I8 */
	m->slots[slot] = 0;
	if (recent)
		make_free(m, slot);
	else
		slot_list_push(&m->pending, slot);	/* on failure it leaks until the next open or fsck */
}

/* A count already 0 can only come from damaged metadata (fsck repairs
 * it): it stays 0 rather than wrapping into the flags. */
static void slot_unref(struct blk_meta *m, uint32_t slot)
{
	if (slot && (m->slots[slot] & REF_COUNT) && !(--m->slots[slot] & REF_COUNT))
		meta_drop(m, slot);
}


size_t meta_committed(struct blk_meta *m)
{
	size_t allocs = m->allocs;

	for (size_t i = 0; i < m->fresh.n; i++)
		m->slots[m->fresh.v[i]] &= ~REF_NEW;
	m->fresh.n = 0;
	/* Pushed backwards: allocation then takes them in ascending order,
	 * the spare (lowest) ones first, and big writes stay contiguous. */
	slots_sort(m->pending.v, m->pending.n);
	for (size_t i = m->pending.n; i-- > 0;)
		make_free(m, m->pending.v[i]);
	m->pending.n = 0;
	m->allocs = 0;
	return allocs;
}

int meta_rebuild(struct blk_meta *m)
{
	/* Nothing is pending: the caller has made everything durable (I2). */
	m->free.n = m->pending.n = 0;
	blk_index_free(&m->ix);
	int err = blk_index_init(&m->ix, (const uint64_t *const *)&m->slots);
	for (uint32_t slot = m->nslots - 1; slot > 0 && !err; slot--) {
		if (!slot_live(m, slot)) {
			m->slots[slot] &= REF_SPARE;
			err = slot_list_push(&m->free, slot);
		} else if (m->slots[slot] & REF_INDEXED) {
			err = blk_index_insert(&m->ix, slot);
		}
	}
	return err;
}

/* --- volumes --------------------------------------------------------------- */

bool blk_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > BLK_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

struct blk_vol *meta_vol(const struct blk_meta *m, const char *name)
{
	for (uint32_t i = 0; i < m->nvols; i++)
		if (m->vols[i] && !strcmp(m->vols[i]->name, name))
			return m->vols[i];
	return NULL;
}

static struct blk_vol *vol_by_id(const struct blk_meta *m, uint32_t id)
{
	return id < m->nvols ? m->vols[id] : NULL;
}

static void map_set(struct blk_vol *v, uint64_t lba, uint32_t slot)
{
	uint32_t old = v->map[lba];

	if (slot)
		v->m->slots[slot]++;	/* before the unref: slot may equal old */
	v->map[lba] = slot;
	slot_unref(v->m, old);
}

/* Makes volume r->id (a free id below m->nvols) with an empty map. */
static int vol_new(struct blk_meta *m, const struct j_vol *r)
{
	/* No overflow: size < 2^64 and bs >= 2^12. */
	uint64_t nblocks = r->size / m->bs + (r->size % m->bs != 0);

	if (r->name[BLK_NAME_MAX] || !blk_name_valid(r->name) || !r->size || nblocks > UINT32_MAX ||
	    (r->flags & ~VOL_RO) || r->pad || r->id >= m->nvols || m->vols[r->id] || meta_vol(m, r->name))
		return -EUCLEAN;
	struct blk_vol *v = calloc(1, sizeof(*v));
	if (!v || !(v->map = calloc(nblocks ? nblocks : 1, sizeof(uint32_t)))) {
		free(v);
		return -ENOMEM;
	}
	v->m = m;
	v->id = r->id;
	v->flags = r->flags;
	v->size = r->size;
	v->nblocks = nblocks;
	memcpy(v->name, r->name, sizeof(v->name));
	m->vols[r->id] = v;
	return 0;
}

int meta_vol_load(struct blk_meta *m, const struct j_vol *r)
{
	return r->src ? -EUCLEAN : vol_new(m, r);
}

/* A new volume takes the next id (I5: replay assigns ids as the live store did). */
static int vol_add(struct blk_meta *m, const struct j_vol *r)
{
	if (r->id != m->nvols || m->nvols >= VOL_IDS_MAX)
		return -EUCLEAN;
	struct blk_vol **vols = realloc(m->vols, ((size_t)m->nvols + 1) * sizeof(*vols));
	if (!vols)
		return -ENOMEM;
	m->vols = vols;
	m->vols[m->nvols++] = NULL;
	int err = vol_new(m, r);
	if (err)
		m->nvols--;
	return err;
}

static void vol_del(struct blk_meta *m, struct blk_vol *v)
{
	for (uint32_t b = 0; b < v->nblocks; b++)
		slot_unref(m, v->map[b]);
	m->vols[v->id] = NULL;
	free(v->map);
	free(v);
}

/* --- applying a record ------------------------------------------------------ */

static int apply_slot(struct blk_meta *m, const struct j_slot *r)
{
	if (r->slot == 0 || r->slot >= m->slot_limit || r->pad)
		return -EUCLEAN;
	int err = meta_reserve(m, (uint64_t)r->slot + 1);
	if (err)
		return err == -ENOMEM ? err : -EUCLEAN;
	while (m->nslots <= r->slot)
		m->slots[m->nslots++] = 0;
	/* Live, the slot comes from meta_alloc() and keeps its flags. */
	m->slots[r->slot] &= REF_NEW | REF_INDEXED;
	slot_set_hash(m, r->slot, &r->hash);
	return 0;
}

static int apply_vol(struct blk_meta *m, uint32_t type, struct j_vol *r)
{
	struct blk_vol *v, *src = vol_by_id(m, r->src);

	if (type == J_VOL_DEL) {
		if (!(v = vol_by_id(m, r->id)))
			return -EUCLEAN;
		vol_del(m, v);
		return 0;
	}
	if (type == J_VOL_NEW ? r->src != 0 : !src || r->size)
		return -EUCLEAN;
	if (type == J_VOL_COPY) {
		for (uint32_t b = 0; b < src->nblocks; b++)
			if (!slot_has_room(m, src->map[b], 1))
				return -EOVERFLOW;
		r->size = src->size;
	}
	int err = vol_add(m, r);
	if (err || type == J_VOL_NEW)
		return err;
	v = m->vols[r->id];
	memcpy(v->map, src->map, (size_t)v->nblocks * sizeof(uint32_t));
	for (uint32_t b = 0; b < v->nblocks; b++)
		if (v->map[b])
			m->slots[v->map[b]]++;
	return 0;
}

int meta_apply(struct blk_meta *m, uint32_t type, const void *p, uint32_t len)
{
	union { struct j_slot slot; struct j_map map; struct j_trim trim; struct j_vol vol; } r;
	static const uint32_t size[] = { [J_SLOT] = sizeof(r.slot), [J_MAP] = sizeof(r.map),
					 [J_TRIM] = sizeof(r.trim), [J_VOL_NEW] = sizeof(r.vol),
					 [J_VOL_COPY] = sizeof(r.vol), [J_VOL_DEL] = sizeof(r.vol) };
	struct blk_vol *v;

	if (type < J_SLOT || type > J_VOL_DEL || len != size[type])
		return -EUCLEAN;
	memcpy(&r, p, len);
	switch (type) {
	case J_SLOT:
		return apply_slot(m, &r.slot);
	case J_MAP:
		if (!(v = vol_by_id(m, r.map.vol)) || r.map.lba >= v->nblocks || r.map.slot >= m->nslots)
			return -EUCLEAN;
		if (!slot_has_room(m, r.map.slot, 1))
			return -EOVERFLOW;
		map_set(v, r.map.lba, r.map.slot);
		return 0;
	case J_TRIM:
		if (!(v = vol_by_id(m, r.trim.vol)) || r.trim.pad || r.trim.lba > v->nblocks ||
		    r.trim.count > v->nblocks - r.trim.lba)
			return -EUCLEAN;
		for (uint64_t b = r.trim.lba; b < r.trim.lba + r.trim.count; b++)
			map_set(v, b, 0);
		return 0;
	default:
		return apply_vol(m, type, &r.vol);
	}
}
