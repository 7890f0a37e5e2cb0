/*
 * The redo journal file, "journal", is a sequence of records packed back
 * to back (no alignment), each:
 *
 *      0  u64  csum    XXH3-64 of bytes 8 .. len-1 of this record, seeded
 *                      with the generation g of the checkpoint (header of
 *                      "meta", blk/checkpoint.c)
 *      8  u32  len     length of the whole record, header included (>= 16)
 *     12  u32  type    J_COMMIT (0xc0c0) or a payload type of blk/meta.h
 *     16  ...          payload, len - 16 bytes (layouts in blk/meta.h)
 *
 * Integers are little-endian (host order: the store is built for x86-64
 * only). A commit is the records added since the previous commit followed
 * by a commit record (type J_COMMIT, no payload, len 16), written at the
 * end of the file and made durable with fdatasync before it counts (I4).
 * Replay reads records from offset 0 while they verify, applies those up
 * to the last commit record and cuts the file there: a torn tail, and
 * records of an older generation, end it. A checkpoint empties the file
 * and seeds later records with the new generation (I10).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/hash.h"
#include "blk/journal.h"

struct rec_hdr {
	uint64_t csum;
	uint32_t len;
	uint32_t type;
};
_Static_assert(sizeof(struct rec_hdr) == 16, "journal record header layout");

int journal_add(struct journal *j, uint32_t type, const void *payload, uint32_t len)
{
	size_t need = sizeof(struct rec_hdr) + len;

	if (j->len + need > j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 65536;
		while (cap < j->len + need)
			cap *= 2;
		uint8_t *b = realloc(j->buf, cap);
		if (!b)
			return -ENOMEM;
		j->buf = b;
		j->cap = cap;
	}
	struct rec_hdr h = { .len = (uint32_t)need, .type = type };
	uint8_t *r = j->buf + j->len;
	memcpy(r, &h, sizeof(h));
	if (len)
		memcpy(r + sizeof(h), payload, len);
	h.csum = blk_hash64(r + sizeof(h.csum), need - sizeof(h.csum), j->gen);
	memcpy(r, &h.csum, sizeof(h.csum));
	j->len += need;
	return 0;
}

int journal_commit(struct journal *j)
{
	size_t done = 0;
	int err = journal_add(j, J_COMMIT, NULL, 0);

	if (err)
		return err;

	while (done < j->len) {
		ssize_t n = pwrite(j->fd, j->buf + done, j->len - done, j->end + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += n;
	}
	if (fdatasync(j->fd))
		goto fail;
	j->end += j->len;
	j->len = 0;
	return 0;
fail:
	err = errno ? -errno : -EIO;
	/* Leave no partial record behind for a retry to follow (after a full
	 * disk); the commit record goes again with the next attempt. */
	if (ftruncate(j->fd, j->end) == 0)
		fdatasync(j->fd);
	j->len -= sizeof(struct rec_hdr);
	return err;
}

/* Returns the end of the valid record at off, or 0. */
static size_t valid_end(const struct journal *j, const uint8_t *b, size_t size, size_t off, struct rec_hdr *h)
{
	if (size - off < sizeof(*h))
		return 0;
	memcpy(h, b + off, sizeof(*h));
	if (h->len < sizeof(*h) || h->len > size - off ||
	    blk_hash64(b + off + sizeof(h->csum), h->len - sizeof(h->csum), j->gen) != h->csum)
		return 0;
	return off + h->len;
}

int journal_replay(struct journal *j, int (*fn)(uint32_t, const void *, uint32_t, void *), void *arg)
{
	struct stat st;
	if (fstat(j->fd, &st))
		return -errno;
	size_t size = st.st_size, off = 0, end = 0, next;
	uint8_t *b = malloc(size ? size : 1);
	if (!b)
		return -ENOMEM;
	if (pread(j->fd, b, size, 0) != (ssize_t)size) {
		free(b);
		return -EIO;
	}
	struct rec_hdr h;
	/* Only whole commits count: find the last commit record first. */
	for (; (next = valid_end(j, b, size, off, &h)); off = next)
		if (h.type == J_COMMIT)
			end = next;
	int err = 0;
	for (off = 0; off < end && !err; off = next) {
		next = valid_end(j, b, size, off, &h);
		if (h.type != J_COMMIT)
			err = fn(h.type, b + off + sizeof(h), h.len - sizeof(h), arg);
	}
	free(b);
	if (err)
		return err;
	j->end = end;
	if (end != size && (ftruncate(j->fd, end) || fdatasync(j->fd)))
		return -errno;
	return 0;
}

int journal_reset(struct journal *j, uint64_t gen)
{
	if (ftruncate(j->fd, 0) || fdatasync(j->fd))
		return -errno;
	j->gen = gen;
	j->end = 0;
	j->len = 0;
	return 0;
}
