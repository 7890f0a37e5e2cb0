/*
 * Shared by the store's fuzz harnesses (tests/fuzz/store_*.c): a small
 * store made once (two volumes, a few blocks) whose files each input
 * starts from, and the work done on whatever opens: read every volume,
 * fsck, close.
 */
#ifndef BEYOND_TESTS_FUZZ_STORE_FUZZ_H
#define BEYOND_TESTS_FUZZ_STORE_FUZZ_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "blk/store_impl.h"

#define FUZZ_BS 4096u

static const char *const fuzz_files[] = { "data", "meta0", "meta1", "journal0", "journal1" };
#define FUZZ_NFILES (sizeof(fuzz_files) / sizeof(fuzz_files[0]))

static struct {
	char dir[64];
	uint8_t *file[FUZZ_NFILES];
	size_t len[FUZZ_NFILES];
	uint64_t gen;		/* generation of the newest checkpoint */
	pid_t owner;		/* made it; forked children leave it alone */
} fz;

static void fuzz_put(const char *name, const void *p, size_t n)
{
	char path[96];

	snprintf(path, sizeof(path), "%s/%s", fz.dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

/* Puts the template's files back. */
static void fuzz_restore(void)
{
	for (size_t i = 0; i < FUZZ_NFILES; i++)
		fuzz_put(fuzz_files[i], fz.file[i], fz.len[i]);
}

static void fuzz_cleanup(void)
{
	char path[96];

	if (getpid() != fz.owner)
		return;
	for (size_t i = 0; i < FUZZ_NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz.dir, fuzz_files[i]);
		unlink(path);
	}
	rmdir(fz.dir);
	*strrchr(fz.dir, '/') = 0;
	rmdir(fz.dir);
}

/* Called from LLVMFuzzerInitialize(), before a fork server starts, and
 * again (doing nothing then) from each input for drivers that skip it. */
static void fuzz_init(void)
{
	struct blk_store *s;
	struct blk_vol *v;
	uint8_t b[FUZZ_BS];

	if (fz.gen)
		return;
	snprintf(fz.dir, sizeof(fz.dir), "%s/blk-fuzz.XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	if (!mkdtemp(fz.dir))
		abort();
	strcat(fz.dir, "/s");
	fz.owner = getpid();
	atexit(fuzz_cleanup);
	if (!freopen("/dev/null", "w", stderr) || blk_store_create(fz.dir, FUZZ_BS, BLK_DEDUP_INLINE) ||
	    blk_store_open(fz.dir, &s) || blk_vol_create(s, "v", 16 * FUZZ_BS) || blk_vol_open(s, "v", &v))
		abort();
	for (unsigned i = 0; i < 3; i++) {
		memset(b, 'a' + i, sizeof(b));
		if (blk_write(v, b, (uint64_t)i * 2 * FUZZ_BS, FUZZ_BS, 0))
			abort();
	}
	blk_vol_close(v);
	if (blk_vol_copy(s, "v", "snap", false))
		abort();
	fz.gen = s->j.gen + 1;	/* closing checkpoints */
	if (blk_store_close(s))
		abort();
	for (size_t i = 0; i < FUZZ_NFILES; i++) {
		char path[96];
		snprintf(path, sizeof(path), "%s/%s", fz.dir, fuzz_files[i]);
		FILE *f = fopen(path, "r");
		if (!f || !(fz.file[i] = malloc(1 << 20)))
			abort();
		fz.len[i] = fread(fz.file[i], 1, 1 << 20, f);
		fclose(f);
	}
}

struct fuzz_names {
	char name[8][BLK_NAME_MAX + 1];
	unsigned n;
};

/* blk_list() holds the store's lock: only note the names here. */
static void fuzz_note(const struct blk_vol_info *vi, void *arg)
{
	struct fuzz_names *nm = arg;

	if (nm->n < 8)
		memcpy(nm->name[nm->n++], vi->name, sizeof(vi->name));
}

/* Opens the store as mode says and uses whatever opened: reads every
 * volume (up to 8), fscks, closes. */
static void fuzz_exercise(enum blk_open_mode mode)
{
	struct blk_store *s;
	struct blk_fsck r;
	struct fuzz_names nm = { .n = 0 };
	uint8_t b[FUZZ_BS];

	if (blk_store_open_mode(fz.dir, mode, &s))
		return;
	blk_list(s, fuzz_note, &nm);
	for (unsigned i = 0; i < nm.n; i++) {
		struct blk_vol *v;
		if (blk_vol_open(s, nm.name[i], &v))
			abort();	/* blk_list named it */
		for (uint64_t off = 0, size = blk_vol_size(v); off < size; off += FUZZ_BS)
			blk_read(v, b, off, size - off < FUZZ_BS ? size - off : FUZZ_BS);
		blk_vol_close(v);
	}
	blk_fsck(s, mode != BLK_OPEN_READ, &r);
	blk_store_close(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

#endif
