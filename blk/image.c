#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/image.h"

#define CHUNK (1u << 20)

int blk_image_in(struct blk_vol *v, int fd, uint64_t size, const char *file)
{
	uint8_t *buf = malloc(CHUNK);
	int err = buf ? 0 : -ENOMEM;

	for (uint64_t off = 0; !err && off < size;) {
		/* Skip holes without reading them; block devices have none to report. */
		off_t data = lseek(fd, off, SEEK_DATA);
		uint64_t next = data < 0 ? (errno == ENXIO ? size : off) : (uint64_t)data & ~(uint64_t)(CHUNK - 1);
		if (next > size)
			next = size;
		if (next > off) {
			err = blk_trim(v, off, next - off, 0);
			off = next;
			continue;
		}
		size_t n = size - off < CHUNK ? size - off : CHUNK;
		ssize_t got = pread(fd, buf, n, off);
		if (got != (ssize_t)n) {
			fprintf(stderr, "beyond blk: %s: read error at %" PRIu64 ": %s\n", file, off,
				got < 0 ? strerror(errno) : "short read");
			err = -EIO;
			break;
		}
		err = blk_write(v, buf, off, n, 0);
		off += n;
	}
	free(buf);
	return err;
}

/* Reads [off, off+n) into buf block by block after a failed read: blocks
 * that cannot be read (each already reported by blk_read) become zeros,
 * and are named here. Returns how many. */
static uint64_t salvage(struct blk_vol *v, uint8_t *buf, uint64_t off, size_t n, const char *file)
{
	uint32_t bs = blk_store_block_size(blk_vol_store(v));
	uint64_t bad = 0;

	for (size_t done = 0; done < n; done += bs) {
		size_t k = n - done < bs ? n - done : bs;
		if (blk_read(v, buf + done, off + done, k) == 0)
			continue;
		memset(buf + done, 0, k);
		bad++;
		fprintf(stderr, "beyond blk: %s: bytes %" PRIu64 "-%" PRIu64 " (block %" PRIu64
			") are zeros: that block could not be read\n", file, off + done, off + done + k - 1,
			(off + done) / bs);
	}
	return bad;
}

int blk_image_out(struct blk_vol *v, int fd, const char *file)
{
	struct stat st;
	uint64_t size = blk_vol_size(v), bad = 0;
	uint8_t *buf = malloc(CHUNK);
	int err = buf ? 0 : -ENOMEM;

	if (!err && fstat(fd, &st))
		err = -errno;
	bool sparse = !err && S_ISREG(st.st_mode);
	if (sparse && (ftruncate(fd, 0) || ftruncate(fd, size)))
		err = -errno;
	for (uint64_t off = 0; !err && off < size; off += CHUNK) {
		size_t n = size - off < CHUNK ? size - off : CHUNK;
		/* A damaged block costs only itself: salvage the rest. */
		if ((err = blk_read(v, buf, off, n)) == -EIO) {
			bad += salvage(v, buf, off, n, file);
			err = 0;
		}
		if (err || (sparse && buf[0] == 0 && !memcmp(buf, buf + 1, n - 1)))
			continue;
		if (pwrite(fd, buf, n, off) != (ssize_t)n)
			err = errno ? -errno : -EIO;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (err)
		fprintf(stderr, "beyond blk: %s: %s\n", file, strerror(-err));
	else if (bad)
		fprintf(stderr, "beyond blk: %s: written, except %" PRIu64 " unreadable block(s) written as "
			"zeros (named above)\n", file, bad);
	free(buf);
	return err ? err : bad ? -EIO : 0;
}
