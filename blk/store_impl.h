/*
 * Internals of the block store, shared by its files. Layers; an arrow
 * points at what a file uses, and nothing uses a layer above it:
 *
 *      blk_cli.c   nbd.c   image.c   virtio-blk      front ends
 *   -------------------- blk/store.h ---------------------------
 *      volume.c                  maint.c             volumes, I/O; stat,
 *         |   \                  /   |               dedup, fsck
 *         |    '--> store.c <---'    |               commit, failure,
 *         |       /    |    \        |               open, recovery
 *         | journal.c  |  checkpoint.c               formats of journal
 *         |            |    /        |               and meta
 *         '------>  meta.c  <--------'               slot table, counts,
 *                                                    maps, apply a record
 *   hash.c (XXH3), index.c (hash index) and err.c (blk_err) serve them.
 *
 * Invariants (cited in the code as "I<n>"):
 *  I1  A block is in the data file and fdatasync'ed before any journal
 *      record naming it is written: a commit syncs data, then appends and
 *      syncs the journal.
 *  I2  A slot that durable metadata (checkpoint plus committed journal) may
 *      name is never written. New blocks go to free slots; a slot losing
 *      its last reference waits in `pending` until the commit that records
 *      it, unless it is REF_NEW (allocated since the last commit began: no
 *      durable state names it), which is free at once. A REF_NEW block
 *      that only one map entry references is rewritten in place (J_REHASH)
 *      rather than moved.
 *  I3  Zero blocks are never stored: slot 0 stands for them, has no
 *      references, and map entries of 0 read as zeros.
 *  I4  Commits are atomic: replay applies only records followed by a
 *      commit record, so the durable state is the state after some commit.
 *  I5  Every metadata change is a journal record: the store logs it, then
 *      meta_apply() applies it (store_change()); replay applies the same
 *      records with the same function. Memory = checkpoint + journal. Only
 *      the index flags set by blk_dedup() and the counts blk_fsck()
 *      repairs bypass the journal: a checkpoint writes them at once.
 *  I6  Once a commit, a sync or a checkpoint fails, memory may be ahead of
 *      what is durable and what is durable is unknown (a failed fsync may
 *      have dropped pages): the store fails and writes none of its files
 *      again; it keeps serving reads from memory. Reopening recovers (I4).
 *  I7  The count of a slot is the number of map entries naming it, over
 *      all volumes (fsck checks and repairs).
 *  I8  The hash index holds exactly the REF_INDEXED slots. One without
 *      references belongs to the write in progress (its bytes may not be
 *      on disk yet: compare them in memory) or was left by a failed one;
 *      so does one that the write in progress rewrites in place, indexed
 *      under its new hash from the moment the write decides so (and under
 *      its old one again if the write fails before writing it).
 *      Background dedup indexes new slots only in blk_dedup().
 *  I9  A spare slot (bit set in freemap[SPARE]) is free and its block
 *      still takes disk space, often still cached: allocation takes spares
 *      before holes and growth. At each commit as many spares stay as slots
 *      were allocated since the previous one, up to an eighth of the data
 *      file within 64-256 MiB (the next writes will likely need them); of
 *      the rest at most PUNCH_RUNS runs are hole-punched, the others wait
 *      for the next commits, and closing punches them all. A slot being
 *      punched is out of the free maps (neither free nor allocated) until
 *      its punch returns. Checkpoints do not record spares: opening
 *      punches every free slot.
 *  I10 A checkpoint of generation g+1 replaces meta<(g+1) mod 2> only
 *      after a commit made the journal of g durable, and journal<(g+1) mod
 *      2> restarts empty with seed g+1 only after that rename is durable.
 *      journal<g mod 2> stays until checkpoint g+2: meta<g mod 2> and both
 *      journals recover everything if meta<(g+1) mod 2> is damaged.
 *  L   s->commit, then s->lock, never taken recursively. s->lock guards
 *      the metadata: blk_read(), blk_list() and blk_stat() share it,
 *      every other call holds it exclusively (blk_write() per batch of
 *      blocks, dropping it while the batch's data goes to slots it has
 *      reserved and nothing names yet; m.changes tells it whether a block
 *      it shares was freed or rewritten meanwhile, and then it starts
 *      over); the functions below expect it held. s->commit keeps
 *      commits in order: whoever commits holds it (store_lock()), and
 *      blk_flush() holds only it while it syncs and punches, so I/O goes
 *      on (a commit covers the records logged before it began: I2 keeps
 *      later writes off the slots it names, and the slots it frees stay
 *      pending until it is durable).
 *      An OFD lock on the data file (which is never replaced or removed)
 *      keeps other opens out: exclusive for writers, shared for readers.
 */
#ifndef BEYOND_BLK_STORE_IMPL_H
#define BEYOND_BLK_STORE_IMPL_H

#include <errno.h>
#include <pthread.h>
#include "blk/data_map.h"
#include "blk/journal.h"
#include "blk/meta.h"
#include "blk/store.h"

struct blk_store {
	pthread_mutex_t commit;		/* L */
	pthread_rwlock_t lock;		/* L */
	int dirfd, datafd;
	struct data_map dmap;		/* reads; grown under the write lock (L) */
	enum blk_open_mode mode;
	enum blk_dedup dedup;
	struct blk_meta m;

	uint8_t *scratch;		/* a block, for compares under the write lock */
	uint8_t *rmw;			/* a block, for partial writes under the write lock */

	struct journal j;
	uint64_t ckpt_bytes;		/* journal size that triggers a checkpoint */
	bool data_dirty;		/* data written since the last fdatasync */
	struct slot_list freed;		/* slots the commit in flight frees once durable */
	struct slot_list punching;	/* spare slots being punched (I9) */
	bool failed;			/* I6 */
	/* Tests only (NULL otherwise): called by a flush while it has dropped
	 * s->lock, before it syncs. */
	void (*commit_hook)(struct blk_store *s);
	struct store_damage {		/* what opening found, for fsck */
		bool meta;		/* a metadata copy did not verify */
		bool journal;		/* damaged journal records, intact commits after them */
		bool dropped;		/* ... which BLK_OPEN_REPAIR dropped */
		uint64_t lost;		/* those intact commits */
	} damage;
};

static inline struct blk_store *vol_store(const struct blk_vol *v)
{
	return (struct blk_store *)((char *)v->m - offsetof(struct blk_store, m));
}

/* -EROFS once the store has failed (I6) or if it was opened read-only, else 0. */
static inline int store_writable(const struct blk_store *s)
{
	return s->failed || s->mode == BLK_OPEN_READ ? -EROFS : 0;
}

/* Unflushed records that make blk_write() commit. */
#define JBUF_MAX (32u << 20)

/* For calls that may commit: s->commit, then s->lock exclusively. */
static inline void store_lock(struct blk_store *s)
{
	pthread_mutex_lock(&s->commit);
	pthread_rwlock_wrlock(&s->lock);
}

static inline void store_unlock(struct blk_store *s)
{
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_unlock(&s->commit);
}

/* store.c */
/* Reads slots first .. first+n-1 into buf (-EIO, said, if one cannot be
 * read); the caller holds the lock. */
int slots_read(struct blk_store *s, uint32_t first, uint32_t n, void *buf);
/* Makes the read mapping cover every slot; under the write lock. */
void store_map_slots(struct blk_store *s);
/* Logs a metadata change and applies it (I5). */
int store_change(struct blk_store *s, uint32_t type, const void *p, uint32_t len);
/* Marks the store failed (I6), says why; returns err. */
int store_fail(struct blk_store *s, int err, const char *what);
/* Both under store_lock(). */
int store_commit(struct blk_store *s);
int store_checkpoint(struct blk_store *s);

#endif
