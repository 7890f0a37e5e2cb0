/*
 * Store lifetime: create, open with recovery, commit, checkpoint, close,
 * the failed state, and the data file.
 *
 * The data file, "data", has no header: the block in slot n lies at byte
 * n * block size, raw (slot 0, zeros, is never written: I3). Free slots
 * are holes or hold stale bytes (spare, I9); recovery cuts the file after
 * the highest slot. Each block is checked against its XXH3-128 in the slot
 * table (blk/meta.h) whenever it is read. The files "meta0", "meta1",
 * "journal0" and "journal1" are described in blk/checkpoint.c and
 * blk/journal.c, the layers and the invariants I<n> in blk/store_impl.h.
 *
 * Durability order: new blocks go to free slots (I2), then commit =
 * fdatasync(data), append the journal records, fdatasync(journal) (I1, I4).
 * A checkpoint of generation g writes all metadata to meta<g mod 2>.tmp,
 * renames it over meta<g mod 2> and starts journal<g mod 2> (I10).
 *
 * Opening loads the newest metadata copy that verifies, g, and replays
 * journal<g mod 2>. If the other copy does not verify, it may have been
 * generation g+1: journal<(g+1) mod 2> is then replayed too when records of
 * g+1 verify in it (they exist only once meta g+1 was durable), which
 * requires journal g to end with a whole commit. Journal damage followed by
 * intact commits is corruption (blk/journal.c): refused for writing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/checkpoint.h"
#include "blk/store_impl.h"

#define CKPT_BYTES   (64u << 20)	/* journal size that triggers a checkpoint */
/* Disk space kept in spare blocks, at most: an eighth of the slots in use,
 * within these bounds (I9). */
#define SPARE_MIN    (64ull << 20)
#define SPARE_MAX    (256ull << 20)
#define PUNCH_RUNS   256		/* runs of spare blocks punched per commit, at most */
_Static_assert(CKPT_BYTES + JBUF_MAX + 4096 < JOURNAL_MAX, "journals stay below JOURNAL_MAX");

uint32_t blk_store_block_size(const struct blk_store *s) { return s->m.bs; }
enum blk_dedup blk_store_dedup_mode(const struct blk_store *s) { return s->dedup; }

/* --- data file ---------------------------------------------------------- */

int slots_read(struct blk_store *s, uint32_t first, uint32_t n, void *buf)
{
	uint64_t off = (uint64_t)first << s->m.shift, len = (uint64_t)n << s->m.shift;

	if (data_map_covers(&s->dmap, off, len) ? !data_map_copy(&s->dmap, buf, off, len)
						: pread(s->datafd, buf, len, off) == (ssize_t)len)
		return 0;
	/* Again block by block with pread(), which names the block and says why. */
	for (uint32_t i = 0; i < n; i++) {
		ssize_t r = pread(s->datafd, (uint8_t *)buf + ((size_t)i << s->m.shift), s->m.bs,
				  (off_t)(first + i) << s->m.shift);
		if (r != (ssize_t)s->m.bs) {
			blk_err("cannot read block %u of the data file: %s", first + i,
				r < 0 ? strerror(errno) : "short file");
			return -EIO;
		}
	}
	return 0;
}

void store_map_slots(struct blk_store *s)
{
	data_map_grow(&s->dmap, (uint64_t)s->m.nslots << s->m.shift);
}

/* Returns the space of slots first .. first+n-1 to the file system. */
static void punch(struct blk_store *s, uint32_t first, uint32_t n)
{
	fallocate(s->datafd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)first << s->m.shift,
		  (off_t)n << s->m.shift);
}

/* I9: spare slots beyond `keep` (the lowest stay) are taken out of the
 * free maps into s->punching, the highest first, in at most `runs` runs of
 * consecutive slots: punched (reclaim_punch) with or without the lock,
 * then given back as holes (reclaim_done). The rest stay spare. */
static void reclaim_take(struct blk_store *s, size_t keep, size_t runs)
{
	meta_spare_take(&s->m, keep < UINT32_MAX ? keep : UINT32_MAX, runs, &s->punching);
}

static void reclaim_punch(struct blk_store *s)
{
	const uint32_t *v = s->punching.v;

	for (size_t i = 0, k; i < s->punching.n; i = k) {
		for (k = i + 1; k < s->punching.n && v[k] == v[k - 1] - 1; k++)
			;
		punch(s, v[k - 1], k - i);	/* taken in descending order */
	}
}

static void reclaim_done(struct blk_store *s)
{
	for (size_t i = 0; i < s->punching.n; i++)
		meta_free_put(&s->m, s->punching.v[i]);
	s->punching.n = 0;
}

/* Punches every spare slot, under the lock. */
static void reclaim_all(struct blk_store *s)
{
	reclaim_take(s, 0, SIZE_MAX);
	reclaim_punch(s);
	reclaim_done(s);
}

/* --- commit, checkpoint, failure --------------------------------------- */

/* Spare blocks to keep at most (I9): an eighth of the blocks the data
 * file holds bounds the space they waste, within SPARE_MIN (a small store
 * still keeps a flush interval's worth, say a guest's 4 MiB commits) and
 * SPARE_MAX (a bound a few seconds of writes fill). */
static size_t spare_budget(const struct blk_meta *m)
{
	uint64_t used = (uint64_t)(m->nslots - m->nfree[FREE] + m->nfree[SPARE]) << m->shift;
	uint64_t most = used / 8 < SPARE_MIN ? SPARE_MIN : used / 8 > SPARE_MAX ? SPARE_MAX : used / 8;

	return most >> m->shift;
}

/* I6: memory may now be ahead of the disk; only a reopen can tell. */
int store_fail(struct blk_store *s, int err, const char *what)
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
	return err;
}

/* Makes everything so far durable (the caller holds s->commit and
 * s->lock). With `unlock`, s->lock is dropped while the data file and the
 * journal are synced and while spare space is punched: a commit covers
 * what was written before it began, later writes go to the next one (I2
 * keeps them off the slots it names and frees). `shrink` returns every
 * spare block's space. */
static int commit(struct blk_store *s, bool unlock, bool shrink)
{
	int err = store_writable(s);

	if (err || (s->j.len && (err = journal_seal(&s->j))))
		return err;	/* no memory to seal: nothing changed */
	bool data = s->data_dirty, journal_failed = false;
	s->data_dirty = false;
	size_t allocs = meta_commit_begin(&s->m, &s->freed), most = spare_budget(&s->m);
	if (data || s->j.out_len) {
		if (unlock)
			pthread_rwlock_unlock(&s->lock);
		if (unlock && s->commit_hook)
			s->commit_hook(s);
		/* I1; after a failed fdatasync the pages may pass for clean: no retry. */
		if (data && fdatasync(s->datafd))
			err = -errno;
		else if (s->j.out_len)
			journal_failed = (err = journal_write(&s->j)) != 0;
		if (unlock)
			pthread_rwlock_wrlock(&s->lock);
	}
	if (err == -ENOSPC && journal_failed) {
		reclaim_all(s);	/* make room on a full disk, then try again */
		err = journal_write(&s->j);
	}
	if (err)
		return store_fail(s, err, journal_failed ? "cannot write the journal" : "cannot sync the data file");
	meta_commit_end(&s->m, &s->freed);
	reclaim_take(s, shrink ? 0 : allocs < most ? allocs : most, shrink ? SIZE_MAX : PUNCH_RUNS);
	if (unlock && s->punching.n) {
		pthread_rwlock_unlock(&s->lock);
		reclaim_punch(s);
		pthread_rwlock_wrlock(&s->lock);
	} else {
		reclaim_punch(s);
	}
	reclaim_done(s);
	return 0;
}

int store_commit(struct blk_store *s)
{
	int err = commit(s, false, false);

	return !err && s->j.end >= s->ckpt_bytes ? store_checkpoint(s) : err;
}

/* The journal file of generation gen. */
static int journal_open(struct blk_store *s, uint64_t gen, int flags)
{
	char name[16];

	snprintf(name, sizeof(name), "journal%u", (unsigned)(gen & 1));
	return openat(s->dirfd, name, (s->mode == BLK_OPEN_READ ? O_RDONLY : O_RDWR) | O_CLOEXEC | flags, 0644);
}

static int checkpoint(struct blk_store *s, bool shrink)
{
	uint64_t gen = s->j.gen + 1;
	int err = commit(s, false, shrink);

	if (err)
		return err;
	/* I10: a failure past the rename could leave meta of gen with the
	 * journal still of gen - 1, whose records would then be ignored. */
	if ((err = checkpoint_write(s->dirfd, &s->m, s->dedup, gen)))
		return store_fail(s, err, "cannot write the store metadata");
	int fd = journal_open(s, gen, O_CREAT);
	if (fd < 0 || (err = journal_reset(&s->j, fd, gen))) {
		err = fd < 0 ? -errno : err;
		if (fd >= 0)
			close(fd);
		return store_fail(s, err, "cannot restart the journal");
	}
	return 0;
}

int store_checkpoint(struct blk_store *s)
{
	return checkpoint(s, false);
}

/* Only s->commit is held while the files are synced: reads and writes go
 * on. A flush that finds a commit in flight waits for it, then commits what
 * came after, so it covers every write that returned before it was called,
 * from any thread. */
int blk_flush(struct blk_store *s)
{
	store_lock(s);
	int err = commit(s, true, false);
	if (!err && s->j.end >= s->ckpt_bytes)
		err = store_checkpoint(s);
	store_unlock(s);
	return err;
}

/* --- create, open, close ------------------------------------------------ */

static void store_free(struct blk_store *s)
{
	data_map_free(&s->dmap);
	meta_release(&s->m);
	free(s->j.buf);
	free(s->j.out);
	free(s->freed.v);
	free(s->punching.v);
	free(s->scratch);
	free(s->rmw);
	int fds[] = { s->datafd, s->j.fd, s->dirfd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->commit);
	free(s);
}

static struct blk_store *store_new(uint32_t bs, enum blk_dedup dedup, enum blk_open_mode mode)
{
	struct blk_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (meta_init(&s->m, bs)) {
		free(s);
		return NULL;
	}
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->commit, NULL);
	s->dirfd = s->datafd = s->j.fd = -1;
	s->mode = mode;
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

/* The data file is never replaced or removed while the store exists, so a
 * lock on it cannot be bypassed by deleting a file; an OFD lock also holds
 * between two opens in one process. */
static int lock_store(struct blk_store *s, const char *dir)
{
	struct flock fl = { .l_type = s->mode == BLK_OPEN_READ ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };

	if (!fcntl(s->datafd, F_OFD_SETLK, &fl))
		return 0;
	int err = errno;
	if (err == EAGAIN || err == EACCES) {
		blk_err("store %s is in use by another process", dir);
		return -EBUSY;
	}
	blk_err("cannot lock store %s: %s", dir, strerror(err));
	return -err;
}

static int open_file(struct blk_store *s, const char *dir, const char *name, int flags, int *fd)
{
	*fd = openat(s->dirfd, name, (s->mode == BLK_OPEN_READ ? O_RDONLY : O_RDWR) | O_CLOEXEC | flags, 0644);
	if (*fd >= 0)
		return 0;
	int err = -errno;
	blk_err("%s: cannot open %s: %s", dir, name, strerror(errno));
	return err;
}

/* Allocates a store for dir, opens its data file and locks it; dir must
 * already hold a store (existing) or must not (to create one). */
static int store_start(const char *dir, uint32_t bs, enum blk_dedup dedup, enum blk_open_mode mode,
		       bool existing, struct blk_store **out)
{
	struct blk_store *s = store_new(bs, dedup, mode);
	int err = 0;

	if (!s)
		return -ENOMEM;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		err = -errno;
		blk_err("no store at %s: %s", dir, strerror(errno));
	} else if (checkpoint_exists(s->dirfd) != existing) {
		err = existing ? -ENOENT : -EEXIST;
		blk_err(existing ? "%s is not a store (no metadata)" : "%s is already a store", dir);
	}
	if (!err)
		err = open_file(s, dir, "data", existing ? 0 : O_CREAT, &s->datafd);
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
	int err = store_start(dir, bs, dedup, BLK_OPEN_WRITE, false, &s);
	if (err)
		return err;
	if (ftruncate(s->datafd, 0))
		err = -errno;
	/* Both metadata copies (generations 1 and 2) and both journals. */
	for (uint64_t gen = 1; gen <= 2 && !err; gen++) {
		int fd = journal_open(s, gen, O_CREAT | O_TRUNC);
		if (fd < 0)
			err = -errno;
		else
			close(fd);
		if (!err)
			err = checkpoint_write(s->dirfd, &s->m, dedup, gen);
	}
	if (err)
		blk_err("cannot write the store %s: %s", dir, strerror(-err));
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
 * died); a read-only store leaves the files alone. */
static int recover(struct blk_store *s)
{
	struct blk_meta *m = &s->m;
	int err = meta_rebuild(m);
	struct stat st;

	if (err || s->mode == BLK_OPEN_READ)
		return err;
	uint32_t first, n;
	for (meta_free_run(m, 1, &first, &n); n; meta_free_run(m, first + n, &first, &n))
		punch(s, first, n);
	if (!fstat(s->datafd, &st) && st.st_size > ((off_t)m->nslots << m->shift))
		ftruncate(s->datafd, (off_t)m->nslots << m->shift);
	return 0;
}

static int replay(struct blk_store *s, const char *dir, bool apply, struct journal_scan *sc)
{
	int err = journal_replay(&s->j, apply ? replay_one : NULL, &s->m, sc);

	if (err == -EUCLEAN)
		blk_err("%s: journal%u holds a record that does not fit the metadata; the store was not changed",
			dir, (unsigned)(s->j.gen & 1));
	else if (err)
		blk_err("%s: journal%u cannot be read: %s", dir, (unsigned)(s->j.gen & 1), strerror(-err));
	return err;
}

/* Replays the journal(s) of the loaded checkpoint (see the top of this
 * file) and deals with what follows the last whole commit: a torn tail is
 * cut (unless read-only), damage refuses writing or is dropped (repair). */
static int replay_all(struct blk_store *s, const char *dir, const struct checkpoint_info *ci)
{
	struct journal_scan sc, next = { 0 };
	struct stat st;
	int err, fd = -1;

	/* I1: every block a committed record names lies in the data file. */
	if (fstat(s->datafd, &st))
		return -errno;
	uint64_t blocks = (uint64_t)st.st_size >> s->m.shift;
	s->m.slot_limit = blocks < UINT32_MAX ? blocks : UINT32_MAX;
	if ((s->j.fd = journal_open(s, ci->gen, 0)) < 0) {
		err = -errno;
		blk_err("%s: cannot open journal%u: %s", dir, (unsigned)(ci->gen & 1), strerror(errno));
		return err;
	}
	s->j.gen = ci->gen;
	if ((err = replay(s, dir, true, &sc)))
		return err;
	if (ci->damaged >= 0 && (fd = journal_open(s, ci->gen + 1, 0)) >= 0) {
		struct journal other = { .fd = fd, .gen = ci->gen + 1 };
		if (journal_replay(&other, NULL, NULL, &next) || !next.records) {
			close(fd);
			fd = -1;
		}
	}
	uint64_t lost = sc.lost, lost_bytes = sc.size - sc.end;
	bool damaged = lost;
	unsigned at_file = s->j.gen & 1;
	if (fd >= 0 && sc.end == sc.size) {
		/* Meta g+1 was damaged: journal g led to it, journal g+1 continues. */
		close(s->j.fd);
		s->j.fd = fd;
		s->j.gen++;
		fd = -1;
		if ((err = replay(s, dir, true, &sc)))
			return err;
		lost = sc.lost;
		damaged = lost;
		lost_bytes = sc.size - sc.end;
		at_file = s->j.gen & 1;
	} else if (fd >= 0) {
		/* Journal g does not end with a whole commit, yet g+1 followed:
		 * its tail was durable. */
		damaged = true;
		lost += next.commits + next.lost;
		lost_bytes += next.size;
	}
	s->m.slot_limit = UINT32_MAX;
	s->j.end = sc.end;
	if (damaged) {
		s->damage.journal = true;
		s->damage.lost = lost;
		blk_err("%s: journal%u is damaged at byte %llu, and %llu intact commit(s) (%llu bytes) after "
			"the damage cannot be applied%s", dir, at_file, (unsigned long long)sc.bad,
			(unsigned long long)lost, (unsigned long long)lost_bytes,
			s->mode == BLK_OPEN_WRITE ? "; refusing to open it for writing (read-only commands show "
			"the store before the damage; `beyond blk fsck --repair` drops what follows it)" :
			s->mode == BLK_OPEN_REPAIR ? "; dropping them: the store goes back to its last commit "
			"before the damage" : "; showing the store as of its last commit before the damage");
		if (s->mode == BLK_OPEN_WRITE)
			err = -EUCLEAN;
	}
	if (!err && s->mode != BLK_OPEN_READ && sc.end != sc.size)
		err = journal_truncate(&s->j, sc.end);	/* a torn tail, or repair */
	if (!err && fd >= 0 && s->mode == BLK_OPEN_REPAIR && (ftruncate(fd, 0) || fdatasync(fd)))
		err = -errno;
	s->damage.dropped = !err && damaged && s->mode == BLK_OPEN_REPAIR;
	if (fd >= 0)
		close(fd);
	return err;
}

int blk_store_open_mode(const char *dir, enum blk_open_mode mode, struct blk_store **out)
{
	struct blk_store *s;
	struct checkpoint_info ci;
	int err = store_start(dir, BLK_BS_MIN, BLK_DEDUP_INLINE, mode, true, &s);

	if (err)
		return err;
	err = checkpoint_load(s->dirfd, dir, &s->m, &s->dedup, &ci);
	if (!err && ci.damaged >= 0) {
		s->damage.meta = true;
		blk_err("%s: metadata copy meta%d does not verify (%s); using meta%u (generation %llu)%s", dir,
			ci.damaged, ci.why, (unsigned)(ci.gen & 1), (unsigned long long)ci.gen,
			mode == BLK_OPEN_READ ? "" : " and rewriting the other");
	}
	if (!err)
		err = replay_all(s, dir, &ci);
	if (!err)
		err = recover(s);
	if (!err)
		data_map_init(&s->dmap, s->datafd, (uint64_t)s->m.nslots << s->m.shift);
	/* Restore both copies: the damaged one is the next to be written,
	 * unless journal g+1 was replayed (then g + 2 comes first). */
	for (uint64_t n = s->j.gen - ci.gen + 1; !err && s->damage.meta && mode != BLK_OPEN_READ && n--;)
		err = store_checkpoint(s);
	if (err) {
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

int blk_store_open(const char *dir, struct blk_store **out)
{
	return blk_store_open_mode(dir, BLK_OPEN_WRITE, out);
}

/* A failed store writes nothing more (I6): reopening recovers it. */
int blk_store_close(struct blk_store *s)
{
	int err = 0;

	if (s->mode != BLK_OPEN_READ) {
		store_lock(s);
		err = checkpoint(s, true);
		store_unlock(s);
	}
	store_free(s);
	return err;
}
