/*
 * The checkpoint: all metadata in one file, "meta", replaced atomically
 * (write meta.tmp, fsync, rename, fsync the directory). Its format is
 * described at the top of blk/checkpoint.c.
 */
#ifndef BEYOND_BLK_CHECKPOINT_H
#define BEYOND_BLK_CHECKPOINT_H

#include <stdint.h>
#include "blk/meta.h"

/* Writes m as generation gen; returns 0 or a negative errno, unreported. */
int checkpoint_write(int dirfd, const struct blk_meta *m, enum blk_dedup dedup, uint64_t gen);
/* Loads meta into an empty m; reports what is wrong with it (dir names the
 * store in messages) and then returns -EUCLEAN. */
int checkpoint_load(int dirfd, const char *dir, struct blk_meta *m, enum blk_dedup *dedup, uint64_t *gen);

#endif
