/*
 * The deduplicating block store: a directory holding content-addressed
 * blocks (data), a checkpoint of all metadata (meta) and a redo journal
 * (journal). This is the interface front ends (CLI, NBD, virtio-blk) use.
 *
 * All functions are thread-safe. They return 0 (or a count) on success and
 * a negative errno on failure; a failure that needs explaining (corruption,
 * full disk, bad metadata) is also reported on stderr.
 *
 * A store that cannot make its changes durable (journal commit, sync of
 * the data file, checkpoint) fails, as dm-vdo goes read-only: it says so
 * once on stderr, and from then on every change (write, trim, flush,
 * volume create/copy/remove, dedup, fsck) and blk_store_close() return
 * -EROFS, while reads keep serving what the store holds. Reopening it
 * recovers the last commit that reached the disk.
 *
 * Opening reads both copies of the metadata and the journal: a damaged
 * copy is reported and recovered from the other one (opening for writing
 * rewrites it); journal records damaged after they were durable (intact
 * commits follow them) make opening for writing fail with -EUCLEAN, while
 * a read-only open serves the commits before the damage and
 * BLK_OPEN_REPAIR drops the rest, saying what it drops.
 */
#ifndef BEYOND_BLK_STORE_H
#define BEYOND_BLK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLK_NAME_MAX 63
#define BLK_BS_MIN   4096u
#define BLK_BS_MAX   65536u

enum blk_dedup { BLK_DEDUP_INLINE, BLK_DEDUP_BACKGROUND };

/* blk_write() / blk_trim() flags. */
#define BLK_FUA 1u	/* durable before returning */

struct blk_store;
struct blk_vol;

/* Reports a problem on stderr as one line "beyond blk: ..."; for front
 * ends too. */
void blk_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

enum blk_open_mode {
	BLK_OPEN_WRITE,		/* exclusive; recovers after a crash */
	BLK_OPEN_READ,		/* shared with other readers; writes nothing, changes give -EROFS */
	BLK_OPEN_REPAIR,	/* as WRITE, but drops journal commits after damage */
};

int blk_store_create(const char *dir, uint32_t block_size, enum blk_dedup dedup);
/* Opens (and, after a crash, recovers) a store; locks it (an OFD lock on
 * its data file, exclusive unless BLK_OPEN_READ). */
int blk_store_open_mode(const char *dir, enum blk_open_mode mode, struct blk_store **out);
/* blk_store_open_mode(dir, BLK_OPEN_WRITE, out) */
int blk_store_open(const char *dir, struct blk_store **out);
/* Commits, writes a checkpoint and releases the store; a failed store is
 * released without writing anything (-EROFS), a read-only one too (0). */
int blk_store_close(struct blk_store *s);
uint32_t blk_store_block_size(const struct blk_store *s);
enum blk_dedup blk_store_dedup_mode(const struct blk_store *s);

/* Makes every write acknowledged so far durable. */
int blk_flush(struct blk_store *s);

/* Volume management. A snapshot is a read-only copy, a clone a writable one;
 * both are O(blocks) in memory and share every data block. */
bool blk_name_valid(const char *name);
int blk_vol_create(struct blk_store *s, const char *name, uint64_t size);
int blk_vol_copy(struct blk_store *s, const char *src, const char *name, bool writable);
int blk_vol_remove(struct blk_store *s, const char *name);

/* A handle keeps a volume from being removed while it is in use. */
int blk_vol_open(struct blk_store *s, const char *name, struct blk_vol **out);
void blk_vol_close(struct blk_vol *v);
uint64_t blk_vol_size(const struct blk_vol *v);
struct blk_store *blk_vol_store(const struct blk_vol *v);
bool blk_vol_readonly(const struct blk_vol *v);

int blk_read(struct blk_vol *v, void *buf, uint64_t off, size_t len);
int blk_write(struct blk_vol *v, const void *buf, uint64_t off, size_t len, unsigned flags);
/* Drops the range's blocks (reads then return zeros); serves TRIM and WRITE_ZEROES. */
int blk_trim(struct blk_vol *v, uint64_t off, uint64_t len, unsigned flags);

/* The volume's runs of blocks from off to off+len, in order: fn gets each
 * run's length (the first and last clipped to the range) and kind. Zero
 * runs are trimmed, never written or written with zeros (the store keeps
 * no zero blocks). fn runs under the store's read lock and must not call
 * the store; a non-zero return stops the walk (a negative one is returned). */
enum blk_extent { BLK_EXTENT_DATA, BLK_EXTENT_ZERO };
int blk_extents(struct blk_vol *v, uint64_t off, uint64_t len,
		int (*fn)(uint64_t len, enum blk_extent kind, void *arg), void *arg);

struct blk_vol_info {
	char name[BLK_NAME_MAX + 1];
	uint64_t size;
	uint64_t mapped_bytes;		/* non-zero blocks */
	uint64_t exclusive_bytes;	/* blocks no other volume shares */
	bool readonly;
};

struct blk_stats {
	uint32_t block_size;
	enum blk_dedup dedup;
	uint32_t volumes;
	uint64_t logical_bytes;		/* sum of volume sizes */
	uint64_t mapped_bytes;		/* sum of non-zero blocks over volumes */
	uint64_t unique_bytes;		/* distinct blocks stored */
	uint64_t physical_bytes;	/* disk space the store's files occupy */
	uint64_t unique_blocks;
	uint64_t index_bytes;		/* RAM of hash index + slot table + free map */
};

/* Calls fn for each volume in creation order. */
int blk_list(struct blk_store *s, void (*fn)(const struct blk_vol_info *, void *), void *arg);
int blk_stat(struct blk_store *s, struct blk_stats *st);

/* Merges duplicate blocks written with background dedup; returns blocks merged. */
int64_t blk_dedup(struct blk_store *s);

struct blk_fsck {
	uint64_t slots_checked;
	uint64_t bad_maps;		/* map entries pointing at no block */
	uint64_t refcount_leaks;	/* counted references that no map holds */
	uint64_t refcount_short;	/* references held beyond the count */
	uint64_t corrupt_blocks;	/* content does not match its hash */
	uint64_t space_leaks;		/* free blocks still occupying disk */
	uint64_t unreclaimed;		/* read-only open: free blocks left by a crash, returned
					 * at the next open for writing (not a problem) */
	uint64_t damaged_meta;		/* metadata copies that do not verify */
	uint64_t journal_damage;	/* 1: damaged journal records with intact commits after them */
	uint64_t lost_commits;		/* those intact commits, not applied */
	uint64_t repaired;
};
/* Verifies the metadata copies, the journal, maps, reference counts and
 * every block's hash. Returns the number of problems left unrepaired
 * (repairs need a store opened with BLK_OPEN_REPAIR or BLK_OPEN_WRITE). */
int64_t blk_fsck(struct blk_store *s, bool repair, struct blk_fsck *r);

#endif
