#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/hash.h"
#include "blk/journal.h"

struct rec_hdr {
	uint64_t csum;		/* over the rest of the record, seeded with gen */
	uint32_t len;		/* whole record */
	uint32_t type;
};

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
	memcpy(r + sizeof(h), payload, len);
	h.csum = blk_hash64(r + sizeof(h.csum), need - sizeof(h.csum), j->gen);
	memcpy(r, &h.csum, sizeof(h.csum));
	j->len += need;
	return 0;
}

int journal_commit(struct journal *j)
{
	size_t done = 0;

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
fail:;
	int err = errno ? -errno : -EIO;
	/* Leave no partial record behind for a later append to follow. */
	if (ftruncate(j->fd, j->end) == 0)
		fdatasync(j->fd);
	return err;
}

int journal_replay(struct journal *j, int (*fn)(uint32_t, const void *, uint32_t, void *), void *arg)
{
	struct stat st;
	if (fstat(j->fd, &st))
		return -errno;
	size_t size = st.st_size, off = 0;
	uint8_t *b = malloc(size ? size : 1);
	if (!b)
		return -ENOMEM;
	if (pread(j->fd, b, size, 0) != (ssize_t)size) {
		free(b);
		return -EIO;
	}
	int err = 0;
	while (off + sizeof(struct rec_hdr) <= size) {
		struct rec_hdr h;
		memcpy(&h, b + off, sizeof(h));
		if (h.len < sizeof(h) || h.len > size - off ||
		    blk_hash64(b + off + sizeof(h.csum), h.len - sizeof(h.csum), j->gen) != h.csum)
			break;
		err = fn(h.type, b + off + sizeof(h), h.len - sizeof(h), arg);
		if (err)
			break;
		off += h.len;
	}
	free(b);
	if (err)
		return err;
	j->end = off;
	if (off != size && (ftruncate(j->fd, off) || fdatasync(j->fd)))
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
