/*
 * Store lifetime: create, open with recovery, commit, checkpoint, close,
 * the failed state, and the data file.
 *
 * The data file, "data", has no header: the block in slot n lies at byte
 * n * block size, raw (slot 0, zeros, is never written: I3). Free slots
 * are holes or hold stale bytes (spare, I9); recovery cuts the file after
 * the highest slot. Each block is checked against its XXH3-128 in the slot
 * table (blk/meta.h) whenever it is read. The files "meta" and "journal"
 * are described in blk/checkpoint.c and blk/journal.c, the layers and the
 * invariants I<n> in blk/store_impl.h.
 *
 * Durability order: new blocks go to free slots (I2), then commit =
 * fdatasync(data), append the journal records, fdatasync(journal) (I1, I4).
 * A checkpoint writes all metadata to meta.tmp, renames it over meta and
 * starts a journal of the next generation (I10). Opening loads meta and
 * replays the journal's complete commits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/checkpoint.h"
#include "blk/store_impl.h"

#define CKPT_BYTES   (64u << 20)	/* journal size that triggers a checkpoint */
#define JBUF_MAX     (32u << 20)	/* unflushed records that force a commit */
#define SPARE_MAX    (64u << 20)	/* disk space kept in spare blocks, at most */

uint32_t blk_store_block_size(const struct blk_store *s) { return s->m.bs; }
enum blk_dedup blk_store_dedup_mode(const struct blk_store *s) { return s->dedup; }

/* --- data file ---------------------------------------------------------- */

int slot_read(struct blk_store *s, uint32_t slot, void *buf)
{
	ssize_t n = pread(s->datafd, buf, s->m.bs, (off_t)slot << s->m.shift);

	if (n == (ssize_t)s->m.bs)
		return 0;
	blk_err("cannot read block %u of the data file: %s", slot, n < 0 ? strerror(errno) : "short file");
	return -EIO;
}

/* Returns free slots' space to the file system, one call per run. */
static void punch(struct blk_store *s, uint32_t *v, size_t n)
{
	slots_sort(v, n);
	for (size_t i = 0; i < n;) {
		size_t k = i + 1;
		while (k < n && v[k] == v[k - 1] + 1)
			k++;
		fallocate(s->datafd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)v[i] << s->m.shift, (off_t)(k - i) << s->m.shift);
		i = k;
	}
}

/* I9: spare slots beyond `keep` (the highest ones) lose their disk space. */
static void trim_spares(struct blk_store *s, size_t keep)
{
	struct blk_meta *m = &s->m;
	size_t n = 0;

	for (size_t i = 0; i < m->spare.n; i++)
		if (m->refs[m->spare.v[i]] == REF_SPARE) {
			m->refs[m->spare.v[i]] = 0;	/* also drops duplicates */
			m->spare.v[n++] = m->spare.v[i];
		}
	slots_sort(m->spare.v, n);
	keep = keep < n ? keep : n;
	for (size_t i = 0; i < keep; i++)
		m->refs[m->spare.v[i]] = REF_SPARE;
	if (n > keep)	/* v may be NULL, and NULL + 0 is undefined (clang's UBSan traps) */
		punch(s, m->spare.v + keep, n - keep);
	m->spare.n = keep;
}

/* --- commit, checkpoint, failure --------------------------------------- */

/* I6: memory may now be ahead of the disk; only a reopen can tell. */
static int store_fail(struct blk_store *s, int err, const char *what)
{
	s->failed = true;
	blk_err("%s: %s; the store has failed and refuses changes until it is reopened, "
		"which recovers its last commit", what, strerror(-err));
	return err;
}

int store_change(struct blk_store *s, uint32_t type, const void *p, uint32_t len)
{
	size_t mark = s->j.len;
	int err = store_writable(s);

	if (!err)
		err = journal_add(&s->j, type, p, len);
	if (!err && (err = meta_apply(&s->m, type, p, len)))
		journal_rewind(&s->j, mark);	/* nothing changed: no record */
	if (!err && s->j.len >= JBUF_MAX)
		err = store_commit(s);	/* bound the memory of unflushed records */
	return err;
}

/* Makes everything so far durable; shrink returns every spare block's
 * space. store_commit() may add a checkpoint. */
static int commit(struct blk_store *s, bool shrink)
{
	int err = store_writable(s);

	if (err)
		return err;
	/* I1; after a failed fdatasync the pages may pass for clean: no retry. */
	if (s->data_dirty && fdatasync(s->datafd))
		return store_fail(s, -errno, "cannot sync the data file");
	s->data_dirty = false;
	if (s->j.len && (err = journal_commit(&s->j)) == -ENOSPC) {
		trim_spares(s, 0);	/* make room on a full disk, then try again */
		err = journal_commit(&s->j);
	}
	if (err)
		return store_fail(s, err, "cannot write the journal");
	size_t allocs = meta_committed(&s->m), most = SPARE_MAX >> s->m.shift;
	trim_spares(s, shrink ? 0 : allocs < most ? allocs : most);
	return 0;
}

int store_commit(struct blk_store *s)
{
	int err = commit(s, false);

	return !err && s->j.end >= s->ckpt_bytes ? store_checkpoint(s) : err;
}

int store_checkpoint(struct blk_store *s)
{
	uint64_t gen = s->j.gen + 1;
	int err = commit(s, true);

	if (err)
		return err;
	/* I10: a failure past the rename could leave meta of gen with the
	 * journal still of gen - 1, whose records would then be ignored. */
	if ((err = checkpoint_write(s->dirfd, &s->m, s->dedup, gen)))
		return store_fail(s, err, "cannot write the store metadata");
	if ((err = journal_reset(&s->j, gen)))
		return store_fail(s, err, "cannot restart the journal");
	return 0;
}

int blk_flush(struct blk_store *s)
{
	pthread_rwlock_wrlock(&s->lock);
	int err = store_commit(s);
	pthread_rwlock_unlock(&s->lock);
	return err;
}

/* --- create, open, close ------------------------------------------------ */

static void store_free(struct blk_store *s)
{
	meta_release(&s->m);
	free(s->j.buf);
	free(s->scratch);
	free(s->rmw);
	int fds[] = { s->datafd, s->j.fd, s->lockfd, s->dirfd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

static struct blk_store *store_new(uint32_t bs, enum blk_dedup dedup)
{
	struct blk_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (meta_init(&s->m, bs)) {
		free(s);
		return NULL;
	}
	pthread_rwlock_init(&s->lock, NULL);
	s->dirfd = s->datafd = s->lockfd = s->j.fd = -1;
	s->dedup = dedup;
	s->ckpt_bytes = CKPT_BYTES;
	s->scratch = malloc(BLK_BS_MAX);
	s->rmw = malloc(BLK_BS_MAX);
	if (!s->scratch || !s->rmw) {
		store_free(s);
		return NULL;
	}
	return s;
}

static int lock_store(struct blk_store *s, const char *dir)
{
	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB)) {
		int err = errno;
		if (err == EWOULDBLOCK)
			blk_err("store %s is in use by another process", dir);
		else
			blk_err("cannot lock store %s: %s", dir, strerror(err));
		return err == EWOULDBLOCK ? -EBUSY : -err;
	}
	return 0;
}

static int open_file(struct blk_store *s, const char *dir, const char *name, int flags, int *fd)
{
	*fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | flags, 0644);
	if (*fd >= 0)
		return 0;
	int err = -errno;
	blk_err("%s: cannot open %s: %s", dir, name, strerror(errno));
	return err;
}

/* Allocates a store for dir and locks it; dir must already hold a store
 * (existing) or must not (to create one). */
static int store_start(const char *dir, uint32_t bs, enum blk_dedup dedup, bool existing,
		       struct blk_store **out)
{
	struct blk_store *s = store_new(bs, dedup);
	int err = 0;

	if (!s)
		return -ENOMEM;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		err = -errno;
		blk_err("no store at %s: %s", dir, strerror(errno));
	} else if (!faccessat(s->dirfd, "meta", F_OK, 0) != existing) {
		err = existing ? -ENOENT : -EEXIST;
		blk_err(existing ? "%s is not a store (no metadata)" : "%s is already a store", dir);
	}
	if (!err)
		err = lock_store(s, dir);
	if (err) {
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

int blk_store_create(const char *dir, uint32_t bs, enum blk_dedup dedup)
{
	if (bs < BLK_BS_MIN || bs > BLK_BS_MAX || (bs & (bs - 1))) {
		blk_err("block size %u: must be a power of two from %u to %u", bs, BLK_BS_MIN, BLK_BS_MAX);
		return -EINVAL;
	}
	if (mkdir(dir, 0755) && errno != EEXIST) {
		int err = -errno;
		blk_err("cannot create %s: %s", dir, strerror(errno));
		return err;
	}
	struct blk_store *s;
	int err = store_start(dir, bs, dedup, false, &s);
	if (err)
		return err;
	err = open_file(s, dir, "data", O_CREAT | O_TRUNC, &s->datafd);
	if (!err)
		err = open_file(s, dir, "journal", O_CREAT | O_TRUNC, &s->j.fd);
	if (!err && (err = checkpoint_write(s->dirfd, &s->m, dedup, 1)))
		blk_err("cannot write the store metadata: %s", strerror(-err));
	store_free(s);
	return err;
}

static int replay_one(uint32_t type, const void *p, uint32_t len, void *m)
{
	return meta_apply(m, type, p, len);	/* I5 */
}

/* After replay, everything in memory is durable (I2): rebuild the free
 * list and the index, return garbage to the file system (blocks written
 * but never committed, slots freed but not yet punched when the process
 * died). */
static int recover(struct blk_store *s)
{
	struct blk_meta *m = &s->m;
	int err = meta_rebuild(m);
	struct stat st;

	if (!err)
		punch(s, m->free.v, m->free.n);
	if (!err && !fstat(s->datafd, &st) && st.st_size > ((off_t)m->nslots << m->shift))
		ftruncate(s->datafd, (off_t)m->nslots << m->shift);
	return err;
}

int blk_store_open(const char *dir, struct blk_store **out)
{
	struct blk_store *s;
	int err = store_start(dir, BLK_BS_MIN, BLK_DEDUP_INLINE, true, &s);
	if (err)
		return err;
	err = checkpoint_load(s->dirfd, dir, &s->m, &s->dedup, &s->j.gen);
	if (!err)
		err = open_file(s, dir, "data", 0, &s->datafd);
	if (!err)
		err = open_file(s, dir, "journal", 0, &s->j.fd);
	if (!err && (err = journal_replay(&s->j, replay_one, &s->m)))
		blk_err("%s: journal cannot be replayed: %s", dir, strerror(-err));
	if (!err)
		err = recover(s);
	if (err) {
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

/* A failed store writes nothing more (I6): reopening recovers it. */
int blk_store_close(struct blk_store *s)
{
	pthread_rwlock_wrlock(&s->lock);
	int err = store_checkpoint(s);
	pthread_rwlock_unlock(&s->lock);
	store_free(s);
	return err;
}
