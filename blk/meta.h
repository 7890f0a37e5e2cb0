/*
 * The store's metadata in memory, the bottom layer (see the diagram in
 * blk/store_impl.h): the slot table (hash, flags and reference count of
 * each stored block), the slot allocation lists, and the volumes with their
 * maps. It knows no files: every change the journal records is made by
 * meta_apply(), live after the store has logged it and on replay (I5).
 *
 * A block lives in a slot of the data file; slot 0 means "all zeros" (I3).
 * A volume keeps a flat map from block number to slot, so a read costs the
 * same at any snapshot depth.
 *
 * Journal record payloads (their framing is described in blk/journal.c).
 * Integers are little-endian (host order: the store is only built for
 * x86-64), every field is naturally aligned and the structs below have no
 * implicit padding (asserted); the pad fields are written as zero.
 *
 *   J_SLOT = 1, 24 bytes: slot now holds a block with this hash, unmapped
 *      0  u32  slot        1 .. 2^32-2; a slot beyond the table grows it (on
 *                          replay only up to the end of the data file: I1)
 *      4  u32  pad
 *      8  u64  hash.lo     XXH3-128 of the whole block, default secret,
 *     16  u64  hash.hi     no seed (blk_hash128); memory keeps bits 24-63
 *                          of hash.lo (the slot word below)
 *   J_MAP = 2, 16 bytes: block lba of volume vol now reads slot (0: zeros)
 *      0  u32  vol         volume id
 *      4  u32  slot
 *      8  u64  lba         block number in the volume
 *   J_TRIM = 3, 24 bytes: blocks lba .. lba+count-1 of vol become zeros
 *      0  u32  vol
 *      4  u32  pad
 *      8  u64  lba
 *     16  u64  count
 *   J_VOL_NEW = 4, J_VOL_COPY = 5, J_VOL_DEL = 6: struct j_vol, 88 bytes
 *      0  u32  id          index in the volume table (never reused): a new
 *                          volume takes the next one, below VOL_IDS_MAX
 *      4  u32  src         J_VOL_COPY: id of the volume copied
 *      8  u32  flags       VOL_RO (1): a read-only snapshot
 *     12  u32  pad
 *     16  u64  size        bytes; a copy takes its source's, J_VOL_DEL
 *                          uses only id
 *     24  char name[64]    NUL-terminated and NUL-padded
 *   J_REHASH = 7, struct j_slot: slot, referenced, now holds a block with
 *      this hash, its references unchanged (the store rewrites a block in
 *      place only while no durable metadata names its slot, I2)
 * The checkpoint (blk/checkpoint.c) reuses struct j_vol for its volumes.
 * Every field is checked before use (files may be damaged or crafted: the
 * checksums are unkeyed), and a record that does not fit changes nothing.
 */
#ifndef BEYOND_BLK_META_H
#define BEYOND_BLK_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "blk/index.h"
#include "blk/store.h"

#define VOL_RO 1u
/* Volume ids are never reused; the table by id is bounded (128 MiB). */
#define VOL_IDS_MAX (1u << 24)

/*
 * The slot table is one 64-bit word per slot, 8 bytes of RAM per block:
 *   bits 24-63  SLOT_HASH: bits 24-63 of the block's XXH3-128 hash.lo
 *               (blk/index.h). 40 bits are plenty: dedup compares the
 *               bytes of every candidate (a false candidate costs one read
 *               in 2^40 / blocks), and a corrupt block passes a read's
 *               verification with probability 2^-40 (btrfs: 2^-32).
 *   bit 23      REF_INDEXED: slot is in the hash index (I8)
 *   bit 22      REF_NEW: allocated since the last commit (I2)
 *   bit 21      reserved, 0
 *   bits 0-20   REF_COUNT: references, at most 2^21 - 1
 * A free slot's word is 0; bitmaps say whether it is a hole or spare.
 */
#define REF_INDEXED (1ull << 23)
#define REF_NEW     (1ull << 22)
#define REF_COUNT   ((1ull << 21) - 1)
_Static_assert((SLOT_HASH & (REF_INDEXED | REF_NEW | REF_COUNT)) == 0, "slot word layout");

enum { J_SLOT = 1, J_MAP, J_TRIM, J_VOL_NEW, J_VOL_COPY, J_VOL_DEL, J_REHASH };
struct j_slot { uint32_t slot, pad; struct blk_hash hash; };
struct j_map { uint32_t vol, slot; uint64_t lba; };
struct j_trim { uint32_t vol, pad; uint64_t lba, count; };
struct j_vol { uint32_t id, src, flags, pad; uint64_t size; char name[BLK_NAME_MAX + 1]; };
_Static_assert(sizeof(struct j_slot) == 24 && sizeof(struct j_map) == 16 &&
	       sizeof(struct j_trim) == 24 && sizeof(struct j_vol) == 88, "journal payload layout");

struct blk_meta;

/* The slot bitmaps, and (GROWN) where meta_alloc() took slots past the old end. */
enum { FREE, SPARE, FREEMAPS, GROWN = FREEMAPS };

struct blk_vol {
	struct blk_meta *m;
	uint32_t id, flags, nblocks, opens;
	uint64_t size;
	char name[BLK_NAME_MAX + 1];
	uint32_t *map;
};

struct slot_list {
	uint32_t *v;
	size_t n, cap;
};

struct blk_meta {
	uint32_t bs;
	unsigned shift;			/* log2(bs) */

	uint64_t *slots;		/* slot table: hash | flags | count */
	uint32_t nslots, slotcap;	/* slots 1 .. nslots-1 exist */
	uint32_t slot_limit;		/* J_SLOT names slots below it only */
	/* Bitmaps, a bit per slot: [FREE] free (a hole or spare), [SPARE]
	 * free with its block still on disk (I9); their counts of set bits,
	 * and where the next search in each starts. */
	uint64_t *freemap[FREEMAPS];
	uint32_t nfree[2], cursor[2];
	int last_from;			/* where meta_alloc() took its last run */
	uint64_t changes;		/* slots freed or rewritten in place, ever */
	struct slot_list pending;
	struct slot_list fresh;		/* REF_NEW slots */
	size_t allocs;			/* slots allocated since the last commit */
	struct blk_index ix;

	struct blk_vol **vols;		/* by id; NULL once removed */
	uint32_t nvols;
};

int meta_init(struct blk_meta *m, uint32_t bs);
void meta_release(struct blk_meta *m);
/* Makes room for slots 0 .. n-1 in the slot table (n <= 2^32 - 1). */
int meta_reserve(struct blk_meta *m, uint64_t n);

/* Applies one journal record. On failure (-EUCLEAN: the record does not
 * fit the metadata; -ENOMEM) nothing the journal describes has changed. */
int meta_apply(struct blk_meta *m, uint32_t type, const void *p, uint32_t len);

/* Takes up to want (1 .. 64) consecutive free slots for new blocks (I2):
 * *got of them from *first, each REF_NEW and unreferenced. Spare slots
 * come first, then holes, then the file grows: a spare block is allocated
 * on disk and often still cached, so writing it costs no file-system
 * allocation, no zeroed page and no allocation metadata in the next
 * fdatasync. In each, a run aligned to want (rounded up to a power of two)
 * comes first, so the blocks of a large write share page-cache folios as
 * in a raw file; else a single block takes any slot, and a run looks
 * further (growing the file aligned, the gap stays free): scattered slots
 * would scatter its blocks. */
int meta_alloc(struct blk_meta *m, uint32_t want, uint32_t *first, uint32_t *got);
/* Gives back the last n slots (from first) of the last meta_alloc(), never
 * used: where they came from, or, when that grew the file, by shrinking the
 * slot table over them and the free holes before them, so that reserving
 * a run for a write that needs fewer leaves no gaps in the table. */
void meta_alloc_return(struct blk_meta *m, uint32_t first, uint32_t n);
/* Takes one free slot out of the bitmaps without allocating it, or gives
 * it back as a hole (the store punches its space meanwhile). */
void meta_free_take(struct blk_meta *m, uint32_t slot);
void meta_free_put(struct blk_meta *m, uint32_t slot);
bool meta_is_spare(const struct blk_meta *m, uint32_t slot);
/* Takes spare slots beyond the lowest keep out of the bitmaps into out,
 * the highest first, in at most runs runs of consecutive slots (I9). */
void meta_spare_take(struct blk_meta *m, uint32_t keep, size_t runs, struct slot_list *out);
/* The first run of free slots at or after *from: *first, *n (0: none). */
void meta_free_run(const struct blk_meta *m, uint32_t from, uint32_t *first, uint32_t *n);
/* Gives slot the hash h, moving its index entry (J_REHASH applies it; the
 * store also calls it when it decides to rewrite a block in place, so that
 * the entry moves while the batch's lookups have its cache lines). */
void meta_rehash(struct blk_meta *m, uint32_t slot, const struct blk_hash *h);
/* Frees a slot that has no references left, or a slot from meta_alloc()
 * that was never logged. */
void meta_drop(struct blk_meta *m, uint32_t slot);
/* A commit in two steps: begin, once the journal buffer holds every
 * change so far, makes new slots ordinary ones (durable metadata may name
 * them from now on, I2) and moves the pending slots to freed (empty, its
 * memory is swapped in); end, once that commit is durable, frees them
 * (spare). begin returns the number of slots allocated since the last. */
size_t meta_commit_begin(struct blk_meta *m, struct slot_list *freed);
void meta_commit_end(struct blk_meta *m, struct slot_list *freed);
/* Rebuilds the free map and the index from the counts and flags alone. */
int meta_rebuild(struct blk_meta *m);

struct blk_vol *meta_vol(const struct blk_meta *m, const char *name);
/* Adds a volume of a checkpoint (id below m->nvols, empty map); -EUCLEAN
 * if the record is not a valid volume. */
int meta_vol_load(struct blk_meta *m, const struct j_vol *r);
int slot_list_push(struct slot_list *l, uint32_t slot);
void slots_sort(uint32_t *v, size_t n);

/* Slot can take n more references (slot 0, zeros, always can). */
static inline bool slot_has_room(const struct blk_meta *m, uint32_t slot, uint32_t n)
{
	return !slot || (m->slots[slot] & REF_COUNT) <= REF_COUNT - n;
}

static inline uint32_t slot_refs(const struct blk_meta *m, uint32_t slot)
{
	return m->slots[slot] & REF_COUNT;
}

static inline bool slot_hash_eq(const struct blk_meta *m, uint32_t slot, const struct blk_hash *h)
{
	return (m->slots[slot] & SLOT_HASH) == slot_hash_key(h);
}

static inline void slot_set_hash(struct blk_meta *m, uint32_t slot, const struct blk_hash *h)
{
	m->slots[slot] = (m->slots[slot] & ~SLOT_HASH) | slot_hash_key(h);
}

static inline bool slot_live(const struct blk_meta *m, uint32_t slot)
{
	return slot && slot < m->nslots && (m->slots[slot] & REF_COUNT);
}

#endif
