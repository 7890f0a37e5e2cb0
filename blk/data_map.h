/*
 * The data file mapped for reading. A read copies its blocks straight out
 * of the page cache and verifies the copy while it is still in the CPU's
 * cache: pread() would have the kernel copy them past the cache, and the
 * hash would fetch them again from memory (on our hosts that cost the
 * store a fifth to a third of the read speed of a raw file).
 *
 * A page the kernel cannot read (an I/O error) or past the end of a file
 * cut short raises SIGBUS during the copy: data_map_copy() catches it and
 * fails with -EIO. A SIGBUS anywhere else goes where it went before. The
 * first data_map_init() installs the handler (rt_sigaction): the first
 * store must be opened before a seccomp filter forbids that call.
 *
 * The mapping reaches beyond the end of the file so that the file can
 * grow under it; data_map_grow() extends it, with nothing reading it.
 */
#ifndef BEYOND_BLK_DATA_MAP_H
#define BEYOND_BLK_DATA_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct data_map {
	uint8_t *base;		/* NULL: not mapped, reads use pread() */
	uint64_t len;
};

/* Maps fd's first `need` bytes and room to grow; on failure leaves dm
 * unmapped (reads then go through pread()). */
void data_map_init(struct data_map *dm, int fd, uint64_t need);
/* Extends the mapping to cover `need` bytes, best effort; the caller keeps
 * every reader out. */
void data_map_grow(struct data_map *dm, uint64_t need);
void data_map_free(struct data_map *dm);

static inline bool data_map_covers(const struct data_map *dm, uint64_t off, uint64_t len)
{
	return dm->base && off + len <= dm->len;
}

/* Copies len bytes at file offset off (covered) into dst: 0, or -EIO if
 * the kernel could not provide a page. */
int data_map_copy(const struct data_map *dm, void *dst, uint64_t off, size_t len);

#endif
