/*
 * Redo journal: checksummed records appended after the data they refer to
 * is durable. The checksum is seeded with the checkpoint generation, so
 * records older than the checkpoint (and a torn tail) end the replay.
 */
#ifndef BEYOND_BLK_JOURNAL_H
#define BEYOND_BLK_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct journal {
	int fd;
	uint64_t gen;
	uint64_t end;		/* file offset of the next record */
	uint8_t *buf;		/* records not yet written */
	size_t len, cap;
};

int journal_add(struct journal *j, uint32_t type, const void *payload, uint32_t len);
/* Writes and syncs the buffered records; on failure the file is cut back
 * and the records stay buffered. */
int journal_commit(struct journal *j);
/* Calls fn on each valid record, then cuts off whatever follows them. */
int journal_replay(struct journal *j, int (*fn)(uint32_t type, const void *payload,
					     uint32_t len, void *arg), void *arg);
/* Starts an empty journal for generation gen (after a checkpoint). */
int journal_reset(struct journal *j, uint64_t gen);

#endif
