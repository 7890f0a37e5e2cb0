/*
 * Redo journal: checksummed records appended after the data they refer to
 * is durable, each commit closed by a commit record that names where the
 * commit starts. The checksum is seeded with the checkpoint generation, so
 * records of another generation do not verify. Replay applies the whole
 * commits before the first record that does not verify and tells a torn
 * tail (the last write, never acknowledged) from damage to records that
 * were once durable (a later commit verifies). The file format is
 * described at the top of blk/journal.c.
 */
#ifndef BEYOND_BLK_JOURNAL_H
#define BEYOND_BLK_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define J_COMMIT 0xc0c0u	/* record type closing a commit */
/* No journal the store writes comes near this (checkpoints keep it under
 * about 100 MiB); a larger file is refused rather than scanned. */
#define JOURNAL_MAX (1ull << 30)

struct journal {
	int fd;
	uint64_t gen;
	uint64_t end;		/* file offset of the next record */
	uint64_t alloc;		/* file size: end .. alloc holds zeros written ahead */
	uint8_t *buf;		/* records not yet written */
	size_t len, cap;
	uint8_t *out;		/* a sealed commit being written (the other buffer) */
	size_t out_len, out_cap;
};

/* What a replay found in the file. */
struct journal_scan {
	uint64_t size;		/* bytes in the file up to its tail of zeros (at least end) */
	uint64_t end;		/* end of the last whole commit applied; the rest is not */
	uint64_t commits;	/* commits applied */
	uint64_t bad;		/* first record that does not verify (size: none) */
	uint64_t records;	/* records that verify, anywhere in the file */
	uint64_t lost;		/* commits past bad that were written after it was
				 * durable: bad is damage, not a torn tail */
};

int journal_add(struct journal *j, uint32_t type, const void *payload, uint32_t len);
/* Forgets the records added since the buffer held len bytes. */
static inline void journal_rewind(struct journal *j, size_t len)
{
	j->len = len;
}
/* A commit in two steps, so that records can be added while it is being
 * written: seal closes the buffered records with a commit record and
 * moves them out of the buffer (none may be sealed already); write
 * appends and syncs them, first writing zeros ahead of them when the file
 * ends too soon. On failure the file is cut back and the sealed records
 * stay for a retry. The caller keeps commits in order. */
int journal_seal(struct journal *j);
int journal_write(struct journal *j);
/* journal_seal() and journal_write(). */
int journal_commit(struct journal *j);
/* Reads the file (writes nothing) and calls fn, unless NULL, on each record
 * of the commits before sc->end. Returns fn's first error, -EFBIG for a
 * file beyond JOURNAL_MAX or -errno. */
int journal_replay(struct journal *j, int (*fn)(uint32_t type, const void *payload,
					     uint32_t len, void *arg), void *arg, struct journal_scan *sc);
/* Cuts the file at end (dropping a torn tail) and continues there. */
int journal_truncate(struct journal *j, uint64_t end);
/* Makes fd, emptied, the journal of generation gen (after a checkpoint);
 * the previous file is closed. On failure j is unchanged. */
int journal_reset(struct journal *j, int fd, uint64_t gen);

#endif
