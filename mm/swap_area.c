#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mm/swap_area.h"

/* A new file: in directory `path`, or `path` itself; O_EXCL so nothing existing is reused. */
static int create_file(const char *path, char *name, size_t len)
{
	struct stat st;
	if (!path)
		path = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(name, len, "%s/beyond-swap-XXXXXX", path);
		return mkostemp(name, O_CLOEXEC);
	}
	snprintf(name, len, "%s", path);
	return open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int swap_area_open(struct swap_area *a, const char *path, uint64_t size, uint64_t unit, int keep,
		   char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->unit = unit;
	uint64_t slots = size / unit;
	if (slots == 0 || slots >= SWAP_NO_SLOT) {
		snprintf(err, errlen, "swap size %lu KiB must hold 1 to 2^32-2 units of %lu KiB",
			 (unsigned long)(size >> 10), (unsigned long)(unit >> 10));
		return -1;
	}
	a->slots = (uint32_t)slots;
	a->bitmap = calloc((slots + 63) / 64, sizeof(uint64_t));
	if (!a->bitmap) {
		snprintf(err, errlen, "out of memory for the swap map");
		return -1;
	}
	a->fd = create_file(path, a->path, sizeof(a->path));
	if (a->fd < 0) {
		snprintf(err, errlen, "cannot create swap file %s: %s", a->path, strerror(errno));
		swap_area_close(a);
		return -1;
	}
	if (!keep) {
		unlink(a->path);
		a->path[0] = 0;
	}
	/* Evicted memory must leave the host, not move into its page cache: direct I/O where the
	 * filesystem has it (tmpfs has not, and there it is memory anyway). */
	int fl = fcntl(a->fd, F_GETFL);
	a->direct = fl >= 0 && fcntl(a->fd, F_SETFL, fl | O_DIRECT) == 0;
	return 0;
}

void swap_area_close(struct swap_area *a)
{
	if (a->fd >= 0)
		close(a->fd);
	free(a->bitmap);
	a->fd = -1;
	a->bitmap = NULL;
}

uint32_t swap_slot_alloc(struct swap_area *a)
{
	if (a->used == a->slots)
		return SWAP_NO_SLOT;
	uint32_t words = (a->slots + 63) / 64;
	for (uint32_t n = 0, w = a->hint; n <= words; n++, w = (w + 1) % words) {
		uint64_t free_bits = ~a->bitmap[w];
		if (w == words - 1 && a->slots % 64)
			free_bits &= (1ull << (a->slots % 64)) - 1;
		if (free_bits) {
			uint32_t s = w * 64 + __builtin_ctzll(free_bits);
			a->bitmap[w] |= 1ull << (s % 64);
			a->used++;
			a->hint = w;
			return s;
		}
	}
	return SWAP_NO_SLOT;
}

void swap_slot_free(struct swap_area *a, uint32_t slot)
{
	if (slot >= a->slots || !(a->bitmap[slot / 64] & (1ull << (slot % 64))))
		return;
	a->bitmap[slot / 64] &= ~(1ull << (slot % 64));
	a->used--;
}

/* Whole-unit transfers, resumed after short counts; a zero-byte write means the disk is full. */
static int transfer(struct swap_area *a, uint32_t slot, void *buf, int write_it)
{
	uint64_t off = (uint64_t)slot * a->unit;
	for (uint64_t done = 0; done < a->unit;) {
		ssize_t n = write_it ? pwrite(a->fd, (char *)buf + done, a->unit - done, off + done)
				     : pread(a->fd, (char *)buf + done, a->unit - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = write_it ? ENOSPC : EIO;
			return -1;
		}
		done += n;
	}
	return 0;
}

int swap_write(struct swap_area *a, uint32_t slot, const void *buf)
{
	return transfer(a, slot, (void *)buf, 1);
}

int swap_read(struct swap_area *a, uint32_t slot, void *buf)
{
	return transfer(a, slot, buf, 0);
}
