/* Copying raw images (files or block devices) into and out of volumes. */
#ifndef BEYOND_BLK_IMAGE_H
#define BEYOND_BLK_IMAGE_H

#include "blk/store.h"

/* Makes volume v hold the first size bytes of fd: holes (and zeros) become
 * unmapped blocks, blocks already equal cost a compare. */
int blk_image_in(struct blk_vol *v, int fd, uint64_t size, const char *file);
/* Writes v to fd; a regular file gets holes where v has zeros. Blocks
 * that cannot be read are written as zeros, each named on stderr, and the
 * result is then -EIO. */
int blk_image_out(struct blk_vol *v, int fd, const char *file);

#endif
