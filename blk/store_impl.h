/*
 * Internals shared by the store's files (store.c: open, recovery, commit,
 * checkpoint; volume.c: volumes and I/O; maint.c: stat, dedup, fsck).
 *
 * A block lives in a slot of the data file at offset slot * block_size
 * (slot 0 means "all zeros" and is never stored). The slot table keeps its
 * hash and reference count; each volume keeps a flat map from block number
 * to slot, so a read costs the same at any snapshot depth. A freed slot
 * that the durable metadata may still reference stays "pending" until the
 * next commit; a slot both allocated and freed since the last commit is
 * free at once (commits are atomic, so no durable state can point at it).
 * Free slots whose blocks still occupy disk are "spare": at each commit as
 * many stay as were allocated since the previous one, up to 64 MiB (the
 * next writes will likely need them, and overwriting allocated blocks is
 * cheaper), the rest are hole-punched; closing the store punches them all.
 */
#ifndef BEYOND_BLK_STORE_IMPL_H
#define BEYOND_BLK_STORE_IMPL_H

#include <pthread.h>
#include "blk/hash.h"
#include "blk/index.h"
#include "blk/journal.h"
#include "blk/store.h"

#define VOL_RO 1u

#define REF_INDEXED 0x80000000u	/* slot is in the hash index */
#define REF_NEW     0x40000000u	/* allocated since the last commit */
#define REF_SPARE   0x20000000u	/* free, but its block is still on disk */
#define REF_COUNT   0x1fffffffu

struct blk_vol {
	struct blk_store *s;
	uint32_t id, flags, nblocks, opens;
	uint64_t size;
	char name[BLK_NAME_MAX + 1];
	uint32_t *map;
};

struct slot_list {
	uint32_t *v;
	size_t n, cap;
};

struct blk_store {
	pthread_rwlock_t lock;
	int dirfd, datafd, lockfd;
	uint32_t bs;
	unsigned shift;
	enum blk_dedup dedup;

	struct blk_hash *hashes;	/* slot table: hash ... */
	uint32_t *refs;			/* ... and REF_INDEXED | count */
	uint32_t nslots, slotcap;	/* slots 1 .. nslots-1 exist */
	struct slot_list free, pending;
	struct slot_list fresh;		/* allocated since the last commit */
	struct slot_list spare;		/* REF_SPARE slots (and stale entries) */
	size_t allocs;			/* slots allocated since the last commit */
	struct blk_index ix;

	struct blk_vol **vols;		/* by id; NULL once removed */
	uint32_t nvols;

	uint8_t *scratch;		/* a block, for compares under the write lock */
	uint8_t *rmw;			/* a block, for partial writes under the write lock */

	struct journal j;
	uint64_t ckpt_bytes;		/* journal size that triggers a checkpoint */
	bool data_dirty;		/* data written since the last fdatasync */
	bool replaying;			/* applying the journal: do not log */
};

/* Journal record payloads. */
enum { J_SLOT = 1, J_MAP, J_TRIM, J_VOL_NEW, J_VOL_COPY, J_VOL_DEL };
struct j_slot { uint32_t slot, pad; struct blk_hash hash; };
struct j_map { uint32_t vol, slot; uint64_t lba; };
struct j_trim { uint32_t vol, pad; uint64_t lba, count; };
struct j_vol { uint32_t id, src, flags, pad; uint64_t size; char name[BLK_NAME_MAX + 1]; };

void blk_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* store.c */
int slot_alloc(struct blk_store *s, uint32_t *slot);
void slot_unref(struct blk_store *s, uint32_t slot);
/* Frees a slot that no durable state references: reusable at once. */
void slot_recycle(struct blk_store *s, uint32_t slot);
int slot_read(struct blk_store *s, uint32_t slot, void *buf);
int slot_list_push(struct slot_list *l, uint32_t slot);
int store_log(struct blk_store *s, uint32_t type, const void *p, uint32_t len);
int store_commit(struct blk_store *s);
int store_checkpoint(struct blk_store *s);

/* volume.c: changes shared by the write path and journal replay */
int vol_apply(struct blk_store *s, uint32_t type, const void *p, uint32_t len);
void map_set(struct blk_vol *v, uint64_t lba, uint32_t slot);
struct blk_vol *vol_find(struct blk_store *s, const char *name);

static inline bool slot_live(const struct blk_store *s, uint32_t slot)
{
	return slot && slot < s->nslots && (s->refs[slot] & REF_COUNT);
}

#endif
