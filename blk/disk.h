/*
 * A disk behind a guest's block device: a volume of the dedup store or a
 * raw image file, behind one interface. Stores are shared: the disks of
 * every VM in the process that name one store directory use one opened
 * store (blk_store_open() locks a store to one opener), closed with the
 * last of them.
 *
 * Offsets and lengths are the caller's to check against disk_size().
 * Functions return 0 or a negative errno.
 */
#ifndef BEYOND_BLK_DISK_H
#define BEYOND_BLK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_store;
struct disk;
struct iovec;

int disk_open_file(const char *path, bool ro, struct disk **out, char *err, size_t errlen);
/* A volume; a snapshot is always read-only. */
int disk_open_volume(const char *dir, const char *vol, bool ro, struct disk **out, char *err, size_t errlen);
/* Closes the disk (and its store with the last disk using it); -errno if data could not be made durable. */
int disk_close(struct disk *d);

uint64_t disk_size(const struct disk *d);
bool disk_readonly(const struct disk *d);
/* The backend's natural block: the store's block size, 4096 for a file. */
uint32_t disk_block_size(const struct disk *d);
/* The opened store of a volume (shared, see above), NULL for a file. */
struct blk_store *disk_store(const struct disk *d);
/* The volume's name or the file's base name. */
const char *disk_name(const struct disk *d);

int disk_read(struct disk *d, void *buf, uint64_t off, size_t len);
/* The n buffers of iov in order from off: one preadv/pwritev for a file (iov is consumed by
 * short transfers), one store call per buffer for a volume. */
int disk_readv(struct disk *d, struct iovec *iov, int n, uint64_t off);
int disk_writev(struct disk *d, struct iovec *iov, int n, uint64_t off);
int disk_write(struct disk *d, const void *buf, uint64_t off, size_t len);
/* Every write acknowledged so far is durable once this returns 0. */
int disk_flush(struct disk *d);
/* Drops the range: reads return zeros afterwards (for both DISCARD and WRITE_ZEROES). */
int disk_zero(struct disk *d, uint64_t off, uint64_t len);

#endif
