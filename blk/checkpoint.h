/*
 * The checkpoint: all metadata in one file, kept in two copies, "meta0"
 * and "meta1": generation g is written to meta<g mod 2> (write a .tmp,
 * fsync, rename, fsync the directory), so the previous generation stays
 * intact in the other copy, and the newest copy that verifies wins (as
 * ZFS's uberblocks and SQLite's double header). Its format is described at
 * the top of blk/checkpoint.c.
 */
#ifndef BEYOND_BLK_CHECKPOINT_H
#define BEYOND_BLK_CHECKPOINT_H

#include <stdint.h>
#include "blk/meta.h"

/* What loading found. */
struct checkpoint_info {
	uint64_t gen;		/* generation loaded, from copy gen mod 2 */
	int damaged;		/* the other copy, if it does not verify; else -1 */
	char why[80];		/* what is wrong with it */
};

/* Writes m as generation gen; returns 0 or a negative errno, unreported. */
int checkpoint_write(int dirfd, const struct blk_meta *m, enum blk_dedup dedup, uint64_t gen);
/* Loads the newest copy that verifies into an empty m. If none does, says
 * what is wrong with each (dir names the store) and returns -EUCLEAN. */
int checkpoint_load(int dirfd, const char *dir, struct blk_meta *m, enum blk_dedup *dedup,
		    struct checkpoint_info *ci);
/* True if dir holds either copy. */
bool checkpoint_exists(int dirfd);

#endif
