/*
 * A swap area: a file of fixed-size slots where the pager writes evicted
 * units of guest RAM. Bounded (a full area is an error, never a silent
 * loss) and accounted. The file is unlinked as soon as it is open, so a
 * monitor that is killed leaves nothing behind, unless it was asked to keep it.
 */
#ifndef BEYOND_SWAP_AREA_H
#define BEYOND_SWAP_AREA_H

#include <stddef.h>
#include <stdint.h>

#define SWAP_NO_SLOT UINT32_MAX

struct swap_area {
	int fd;
	uint64_t unit;           /* bytes per slot */
	uint32_t slots;          /* capacity */
	uint32_t used;
	uint32_t hint;           /* where the next free-slot search starts */
	int direct;              /* O_DIRECT: I/O bypasses the page cache (buffers page aligned) */
	uint64_t *bitmap;        /* one bit per slot, set when in use */
	char path[4096];         /* the file, if kept; "" once unlinked */
};

/*
 * Creates the area for `size` bytes in units of `unit` bytes. `path` is a
 * directory (a new file is made in it) or the name of a file that must not
 * exist yet; NULL means $TMPDIR or /var/tmp. With keep, the file stays
 * (and its name is in a->path). Returns 0 or -1 with a reason in err.
 */
int swap_area_open(struct swap_area *a, const char *path, uint64_t size, uint64_t unit, int keep,
		   char *err, size_t errlen);
void swap_area_close(struct swap_area *a);

/* A free slot, or SWAP_NO_SLOT when the area is full. */
uint32_t swap_slot_alloc(struct swap_area *a);
void swap_slot_free(struct swap_area *a, uint32_t slot);

/* One unit to or from a slot; 0, or -1 with errno (ENOSPC on a full filesystem, EIO). */
int swap_write(struct swap_area *a, uint32_t slot, const void *buf);
int swap_read(struct swap_area *a, uint32_t slot, void *buf);

#endif
