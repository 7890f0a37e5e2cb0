/*
 * Redo journal: checksummed records appended after the data they refer to
 * is durable, each commit closed by a commit record. The checksum is
 * seeded with the checkpoint generation, so records older than the
 * checkpoint (and a torn tail) end the replay; records after the last
 * commit record are dropped, so a commit is all or nothing. The file
 * format is described at the top of blk/journal.c.
 */
#ifndef BEYOND_BLK_JOURNAL_H
#define BEYOND_BLK_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define J_COMMIT 0xc0c0u	/* record type closing a commit */

struct journal {
	int fd;
	uint64_t gen;
	uint64_t end;		/* file offset of the next record */
	uint8_t *buf;		/* records not yet written */
	size_t len, cap;
};

int journal_add(struct journal *j, uint32_t type, const void *payload, uint32_t len);
/* Forgets the records added since the buffer held len bytes. */
static inline void journal_rewind(struct journal *j, size_t len)
{
	j->len = len;
}
/* Writes and syncs the buffered records; on failure the file is cut back
 * and the records stay buffered. */
int journal_commit(struct journal *j);
/* Calls fn on each record of the complete commits, then cuts off the rest. */
int journal_replay(struct journal *j, int (*fn)(uint32_t type, const void *payload,
					     uint32_t len, void *arg), void *arg);
/* Starts an empty journal for generation gen (after a checkpoint). */
int journal_reset(struct journal *j, uint64_t gen);

#endif
