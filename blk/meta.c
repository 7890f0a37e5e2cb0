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
	/* Steps of 1/32, in 64 bits and capped: the tables' slack stays
	 * within a quarter byte per block (realloc moves large tables by
	 * remapping, not copying). */
	uint64_t cap = m->slotcap ? m->slotcap : 1024;
	while (cap < n)
		cap += cap / 32;
	cap = cap < UINT32_MAX ? cap : UINT32_MAX;
	uint64_t *w = realloc(m->slots, (size_t)cap * sizeof(*w));
	if (!w)
		return -ENOMEM;
	m->slots = w;
	size_t words = (cap + 63) / 64, had = ((size_t)m->slotcap + 63) / 64;
	for (uint64_t **map = m->freemap; map < m->freemap + FREEMAPS; map++) {
		uint64_t *f = realloc(*map, words * sizeof(*f));
		if (!f)
			return -ENOMEM;
		memset(f + had, 0, (words - had) * sizeof(*f));
		*map = f;
	}
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
	free(m->freemap[FREE]);
	free(m->freemap[SPARE]);
	free(m->pending.v);
	free(m->fresh.v);
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

static bool map_bit(const uint64_t *map, uint32_t slot)
{
	return map[slot / 64] >> (slot % 64) & 1;
}

static void map_put(struct blk_meta *m, int k, uint32_t slot)
{
	m->freemap[k][slot / 64] |= 1ull << (slot % 64);
	m->nfree[k]++;
}

void meta_free_put(struct blk_meta *m, uint32_t slot)
{
	map_put(m, FREE, slot);
}

void meta_free_take(struct blk_meta *m, uint32_t slot)
{
	for (int k = FREE; k <= SPARE; k++)
		if (map_bit(m->freemap[k], slot)) {
			m->freemap[k][slot / 64] &= ~(1ull << (slot % 64));
			m->nfree[k]--;
		}
}

bool meta_is_spare(const struct blk_meta *m, uint32_t slot)
{
	return map_bit(m->freemap[SPARE], slot);
}

/* A free slot's block still occupies disk until the store punches it (I9). */
static void make_spare(struct blk_meta *m, uint32_t slot)
{
	m->slots[slot] = 0;
	map_put(m, FREE, slot);
	map_put(m, SPARE, slot);
}

/* The first run of set bits of map at or after from: *first, *n (0: none). */
static void map_run(const struct blk_meta *m, const uint64_t *map, uint32_t from, uint32_t *first, uint32_t *n)
{
	uint32_t words = (m->nslots + 63) / 64, w = from / 64;
	uint64_t f = w < words ? map[w] & (~0ull << (from % 64)) : 0;

	*n = 0;
	while (!f && ++w < words)
		f = map[w];
	if (!f)
		return;
	*first = w * 64 + __builtin_ctzll(f);
	for (uint32_t s = *first; s < m->nslots && map_bit(map, s); s++)
		++*n;
}

void meta_free_run(const struct blk_meta *m, uint32_t from, uint32_t *first, uint32_t *n)
{
	map_run(m, m->freemap[FREE], from, first, n);
}

/* Words searched for an aligned run before taking whatever is free. */
#define ALIGNED_SCAN_WORDS 1024

/* A run of want slots of map k starting at a multiple of align (both
 * powers of two up to 64), searched from the map's cursor on; a run may
 * reach into the next word. A failed search moves the cursor past what it
 * scanned, so the next one looks further (each word is scanned about once
 * per sweep). */
static bool find_aligned(struct blk_meta *m, int k, uint32_t want, uint32_t align, uint32_t *first)
{
	uint32_t words = (m->nslots + 63) / 64, w = m->cursor[k] / 64 % words;
	uint64_t mask = want == 64 ? ~0ull : (1ull << want) - 1;

	for (uint32_t i = 0; i < words && i < ALIGNED_SCAN_WORDS; i++, w = w + 1 == words ? 0 : w + 1) {
		uint64_t f = m->freemap[k][w];
		unsigned __int128 two = f | (unsigned __int128)(w + 1 < words ? m->freemap[k][w + 1] : 0) << 64;
		for (uint32_t b = 0; f && b < 64; b += align)
			if ((uint64_t)(two >> b & mask) == mask) {
				*first = w * 64 + b;
				return true;
			}
	}
	m->cursor[k] = (uint32_t)((uint64_t)w * 64 % m->nslots);
	return false;
}

/* The first slots of map k from its cursor on, at most want (the map is
 * not empty). */
static uint32_t find_any(struct blk_meta *m, int k, uint32_t want, uint32_t *first)
{
	uint32_t n;

	map_run(m, m->freemap[k], m->cursor[k], first, &n);
	if (!n)
		map_run(m, m->freemap[k], 0, first, &n);
	return n < want ? n : want;
}

/* Free slots for want blocks, spare ones first (I9): *got of them from
 * *first, taken from map *from, or false. */
static bool find_free(struct blk_meta *m, uint32_t want, uint32_t align, uint32_t *first, uint32_t *got, int *from)
{
	for (int k = SPARE; k >= FREE; k--) {
		*from = k;
		if (m->nfree[k] && find_aligned(m, k, want, align, first)) {
			*got = want;
			return true;
		}
		if (m->nfree[k] && want == 1) {
			*got = find_any(m, k, want, first);
			return true;
		}
	}
	return false;
}

int meta_alloc(struct blk_meta *m, uint32_t want, uint32_t *first, uint32_t *got)
{
	/* Aligned to the run, up to 64 KiB: page-cache folios then hold whole
	 * runs, as in a raw file (reads of 64K runs 0.83x raw aligned, 0.52x
	 * not); larger alignment only leaves wider gaps when the file grows. */
	uint32_t align = 1, most = m->bs >= 65536 ? 1 : 65536 / m->bs;
	bool grown = false;

	while (align < want && align < most)
		align *= 2;
	if (m->fresh.cap - m->fresh.n < want) {
		size_t cap = m->fresh.cap * 2 + 256;
		uint32_t *v = realloc(m->fresh.v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->fresh.v = v;
		m->fresh.cap = cap;
	}
	if (!find_free(m, want, align, first, got, &m->last_from)) {
		/* Grow the file: aligned, the slots skipped stay free (holes). */
		uint64_t start = ((uint64_t)m->nslots + align - 1) & ~(uint64_t)(align - 1);
		if (start + want >= UINT32_MAX) {
			blk_err("store is full (2^32 blocks)");
			return -ENOSPC;
		}
		int err = meta_reserve(m, start + want);
		if (err)
			return err;
		for (; m->nslots < start; m->nslots++) {
			m->slots[m->nslots] = 0;
			meta_free_put(m, m->nslots);
		}
		*first = m->nslots;
		*got = want;
		m->nslots += want;
		grown = true;
		m->last_from = GROWN;
	}
	for (uint32_t s = *first; s < *first + *got; s++) {
		if (!grown)
			meta_free_take(m, s);
		m->slots[s] = REF_NEW;
		m->fresh.v[m->fresh.n++] = s;
	}
	m->allocs += *got;
	m->cursor[FREE] = m->cursor[SPARE] = *first + *got;
	return 0;
}

void meta_alloc_return(struct blk_meta *m, uint32_t first, uint32_t n)
{
	m->fresh.n -= n;
	m->allocs -= n;
	for (uint32_t s = first; s < first + n; s++) {
		m->slots[s] = 0;
		if (m->last_from == SPARE)
			make_spare(m, s);
		else if (m->last_from == FREE)
			meta_free_put(m, s);
	}
	if (m->last_from != GROWN || first + n != m->nslots)
		return;
	/* Shrink the table over them and the holes that aligned them. */
	for (m->nslots = first; m->nslots > 1 && map_bit(m->freemap[FREE], m->nslots - 1) &&
				!map_bit(m->freemap[SPARE], m->nslots - 1); m->nslots--)
		meta_free_take(m, m->nslots - 1);
	m->cursor[FREE] = m->cursor[SPARE] = 0;
}

/* The highest set bit of map below `below` (there is one). */
static uint32_t map_last(const uint64_t *map, uint32_t below)
{
	uint32_t w = below / 64;
	uint64_t f = below % 64 ? map[w] & ((1ull << (below % 64)) - 1) : 0;

	while (!f)
		f = map[--w];
	return w * 64 + 63 - __builtin_clzll(f);
}

void meta_spare_take(struct blk_meta *m, uint32_t keep, size_t runs, struct slot_list *out)
{
	uint32_t slot = m->nslots;

	while (m->nfree[SPARE] > keep && runs--) {
		slot = map_last(m->freemap[SPARE], slot);
		for (;;) {
			meta_free_take(m, slot);
			slot_list_push(out, slot);	/* on failure: a hole-to-be lost until the next open */
			if (m->nfree[SPARE] <= keep || !meta_is_spare(m, slot - 1))
				break;
			slot--;
		}
	}
}

/* I2: durable metadata may still name the slot unless it is new since the
 * last commit, so only then is it free at once. */
void meta_drop(struct blk_meta *m, uint32_t slot)
{
	bool recent = m->slots[slot] & REF_NEW;

	m->changes++;
	if (m->slots[slot] & REF_INDEXED)
		blk_index_remove(&m->ix, slot);	/* I8 */
	m->slots[slot] = 0;
	if (recent)
		make_spare(m, slot);
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


size_t meta_commit_begin(struct blk_meta *m, struct slot_list *freed)
{
	size_t allocs = m->allocs;
	struct slot_list t = *freed;

	for (size_t i = 0; i < m->fresh.n; i++)
		m->slots[m->fresh.v[i]] &= ~REF_NEW;
	m->fresh.n = 0;
	m->allocs = 0;
	*freed = m->pending;	/* swapped: both keep their memory */
	m->pending = t;
	m->pending.n = 0;
	return allocs;
}

void meta_commit_end(struct blk_meta *m, struct slot_list *freed)
{
	slots_sort(freed->v, freed->n);
	for (size_t i = 0; i < freed->n; i++)
		make_spare(m, freed->v[i]);
	freed->n = 0;
}

int meta_rebuild(struct blk_meta *m)
{
	/* Nothing is pending: the caller has made everything durable (I2). */
	m->pending.n = 0;
	memset(m->freemap[FREE], 0, ((size_t)m->slotcap + 63) / 64 * sizeof(uint64_t));
	m->nfree[FREE] = m->nfree[SPARE] = m->cursor[FREE] = m->cursor[SPARE] = 0;
	blk_index_free(&m->ix);
	int err = blk_index_init(&m->ix, (const uint64_t *const *)&m->slots);
	for (uint32_t slot = m->nslots - 1; slot > 0 && !err; slot--) {
		bool spare = meta_is_spare(m, slot);
		m->freemap[SPARE][slot / 64] &= ~(1ull << (slot % 64));
		if (!slot_live(m, slot)) {
			m->slots[slot] = 0;
			if (spare)
				make_spare(m, slot);	/* a spare stays spare */
			else
				meta_free_put(m, slot);
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

/* The index is keyed by the slot's hash: an indexed slot moves (I8). */
void meta_rehash(struct blk_meta *m, uint32_t slot, const struct blk_hash *h)
{
	bool indexed = m->slots[slot] & REF_INDEXED;

	if (slot_hash_eq(m, slot, h))
		return;
	if (indexed)
		blk_index_remove(&m->ix, slot);
	slot_set_hash(m, slot, h);
	if (indexed && blk_index_insert(&m->ix, slot))
		m->slots[slot] &= ~REF_INDEXED;	/* no memory: not found by dedup, still correct */
}

static int apply_rehash(struct blk_meta *m, const struct j_slot *r)
{
	if (!slot_live(m, r->slot) || r->pad)
		return -EUCLEAN;
	meta_rehash(m, r->slot, &r->hash);
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
					 [J_VOL_COPY] = sizeof(r.vol), [J_VOL_DEL] = sizeof(r.vol),
					 [J_REHASH] = sizeof(r.slot) };
	struct blk_vol *v;

	if (type < J_SLOT || type > J_REHASH || len != size[type])
		return -EUCLEAN;
	memcpy(&r, p, len);
	switch (type) {
	case J_SLOT:
		return apply_slot(m, &r.slot);
	case J_REHASH:
		return apply_rehash(m, &r.slot);
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
