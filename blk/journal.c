/*
 * A redo journal file, "journal0" or "journal1" (generation g uses
 * journal<g mod 2>, blk/store.c), is a sequence of records packed back to
 * back (no alignment), each:
 *
 *      0  u64  csum    XXH3-64 of bytes 8 .. len-1 of this record, seeded
 *                      with the generation g of its checkpoint (header of
 *                      "meta<g mod 2>", blk/checkpoint.c)
 *      8  u32  len     length of the whole record, header included:
 *                      16 .. REC_MAX (104)
 *     12  u32  type    J_COMMIT (0xc0c0) or a payload type of blk/meta.h
 *     16  ...          payload, len - 16 bytes (layouts in blk/meta.h)
 *
 * Integers are little-endian (host order: the store is built for x86-64
 * only). A commit is the records added since the previous commit followed
 * by a commit record (type J_COMMIT, len 24, payload: u64 offset of the
 * commit's first record, which is where the previous commit ended), written
 * at the end of the file in one write and made durable with fdatasync
 * before it counts (I4); the next commit is written only after that.
 *
 * The file ends with zeros written ahead of the records, JOURNAL_STEP at
 * a time: a commit then overwrites blocks the file system has already
 * allocated and written, so its fdatasync writes no file-system metadata
 * (a sync of an append that grows the file costs ~2.5 ms more here). A
 * record cannot start with zeros (its len is at least 16): zeros end the
 * records as a torn tail does, and count as no bytes.
 *
 * Replay reads records from offset 0 while they verify (and commit records
 * name the right start), applies those up to the last commit record and
 * leaves the rest. What follows is either a torn tail (the last write,
 * which never returned: its pages may have reached the disk in any order)
 * or damage: a commit record further on that verifies and starts past the
 * last applied commit was written after the damaged bytes were durable. A
 * checkpoint starts the other file with the next generation (I10).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/hash.h"
#include "blk/journal.h"
#include "blk/meta.h"

struct rec_hdr {
	uint64_t csum;
	uint32_t len;
	uint32_t type;
};
_Static_assert(sizeof(struct rec_hdr) == 16, "journal record header layout");

#define REC_MAX    (sizeof(struct rec_hdr) + sizeof(struct j_vol))	/* largest record */
#define COMMIT_LEN (sizeof(struct rec_hdr) + sizeof(uint64_t))
#define JOURNAL_STEP (1u << 20)	/* zeros written ahead of the records */
#define ZEROS      (64u << 10)

static const uint8_t zeros[ZEROS];

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

int journal_seal(struct journal *j)
{
	int err = j->out_len ? -EBUSY : journal_add(j, J_COMMIT, &j->end, sizeof(j->end));

	if (err)
		return err;
	uint8_t *b = j->out;
	size_t cap = j->out_cap;
	j->out = j->buf;
	j->out_cap = j->cap;
	j->out_len = j->len;
	j->buf = b;
	j->cap = cap;
	j->len = 0;
	return 0;
}

/* Writes len bytes at off, from buf or (NULL) zeros. */
static int write_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t done = 0; done < len;) {
		size_t want = len - done;
		ssize_t n = buf ? pwrite(fd, buf + done, want, off + done)
				: pwrite(fd, zeros, want < ZEROS ? want : ZEROS, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += n;
	}
	return 0;
}

int journal_write(struct journal *j)
{
	uint64_t end = j->end + j->out_len;
	uint64_t alloc = end > j->alloc ? (end + JOURNAL_STEP - 1) / JOURNAL_STEP * JOURNAL_STEP : j->alloc;
	int err = write_all(j->fd, j->out, j->out_len, j->end);

	if (!err && alloc > j->alloc)
		err = write_all(j->fd, NULL, alloc - end, end);
	if (!err && fdatasync(j->fd))
		err = -errno;
	if (!err) {
		j->end = end;
		j->alloc = alloc;
		j->out_len = 0;
		return 0;
	}
	/* Leave no partial record behind for a retry to follow (after a full disk). */
	if (ftruncate(j->fd, j->end) == 0)
		fdatasync(j->fd);
	j->alloc = j->end;
	return err;
}

int journal_commit(struct journal *j)
{
	int err = journal_seal(j);

	return err ? err : journal_write(j);
}

/* Returns the end of the record at off if it verifies, else 0. */
static size_t valid_end(const struct journal *j, const uint8_t *b, size_t size, size_t off, struct rec_hdr *h)
{
	if (size - off < sizeof(*h))
		return 0;
	memcpy(h, b + off, sizeof(*h));
	if (h->len < sizeof(*h) || h->len > REC_MAX || h->len > size - off ||
	    blk_hash64(b + off + sizeof(h->csum), h->len - sizeof(h->csum), j->gen) != h->csum)
		return 0;
	return off + h->len;
}

/* A commit record verifies and says it starts at `start`. */
static bool commit_starts(const uint8_t *rec, const struct rec_hdr *h, uint64_t start)
{
	uint64_t first;

	if (h->len != COMMIT_LEN)
		return false;
	memcpy(&first, rec + sizeof(*h), sizeof(first));
	return first == start;
}

/* Counts what verifies past the first bad record, resynchronising byte by
 * byte over damaged stretches (REC_MAX keeps each try cheap). */
static void scan_damage(const struct journal *j, const uint8_t *b, size_t size, struct journal_scan *sc)
{
	struct rec_hdr h;
	size_t next;

	for (size_t off = sc->bad + 1; off < size; off++) {
		while ((next = valid_end(j, b, size, off, &h))) {
			sc->records++;
			if (h.type == J_COMMIT && !commit_starts(b + off, &h, sc->end))
				sc->lost++;
			off = next;
		}
	}
}

int journal_replay(struct journal *j, int (*fn)(uint32_t, const void *, uint32_t, void *), void *arg,
		   struct journal_scan *sc)
{
	struct stat st;

	memset(sc, 0, sizeof(*sc));
	if (fstat(j->fd, &st))
		return -errno;
	if ((uint64_t)st.st_size > JOURNAL_MAX)
		return -EFBIG;
	size_t size = st.st_size, off = 0, next;
	const uint8_t *b = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, j->fd, 0) : NULL;
	if (b == MAP_FAILED)
		return -errno;
	struct rec_hdr h;
	/* Only whole commits count: find the last commit record first. */
	for (; (next = valid_end(j, b, size, off, &h)); off = next) {
		if (h.type == J_COMMIT && !commit_starts(b + off, &h, sc->end))
			break;
		sc->records++;
		if (h.type == J_COMMIT) {
			sc->end = next;
			sc->commits++;
		}
	}
	/* Zeros written ahead count as no bytes (a record that verified may
	 * end with zero bytes: off at least). */
	size_t data = size;
	while (data > off && !b[data - 1])
		data--;
	j->alloc = size;
	sc->size = data;
	sc->bad = off;
	if (off < data)
		scan_damage(j, b, size, sc);
	int err = 0;
	for (off = 0; fn && off < sc->end && !err; off = next) {
		next = valid_end(j, b, size, off, &h);
		if (h.type != J_COMMIT)
			err = fn(h.type, b + off + sizeof(h), h.len - sizeof(h), arg);
	}
	if (b)
		munmap((void *)b, size);
	return err;
}

int journal_truncate(struct journal *j, uint64_t end)
{
	if (ftruncate(j->fd, end) || fdatasync(j->fd))
		return -errno;
	j->end = j->alloc = end;
	return 0;
}

int journal_reset(struct journal *j, int fd, uint64_t gen)
{
	if (ftruncate(fd, 0) || fdatasync(fd))
		return -errno;
	if (j->fd >= 0 && j->fd != fd)
		close(j->fd);
	j->fd = fd;
	j->gen = gen;
	j->end = j->alloc = 0;
	j->len = j->out_len = 0;
	return 0;
}
