/* Helpers shared by the block store's unit tests. */
#ifndef BEYOND_TESTS_BLK_TEST_H
#define BEYOND_TESTS_BLK_TEST_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/store.h"

#define BS 4096u

/* A block that says which (seed, lba) it is: seed and lba lead it. */
static inline void pattern(uint8_t *b, uint64_t seed, uint64_t lba)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + lba + 1;

	for (size_t i = 0; i < BS; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(b + i, &x, 8);
	}
	memcpy(b, &seed, 8);
	memcpy(b + 8, &lba, 8);
}

static inline bool has_pattern(const uint8_t *b, uint64_t seed, uint64_t lba)
{
	uint8_t want[BS];

	pattern(want, seed, lba);
	return !memcmp(b, want, BS);
}

/* blk_read() with what it says on stderr caught in msg (size bytes, NUL-terminated). */
static inline int read_saying(struct blk_vol *v, void *buf, uint64_t off, size_t len, char *msg, size_t size)
{
	FILE *log = tmpfile();
	int saved = dup(2);

	fflush(stderr);
	dup2(fileno(log), 2);
	int err = blk_read(v, buf, off, len);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(log);
	msg[fread(msg, 1, size - 1, log)] = 0;
	fclose(log);
	return err;
}

/* Creates and opens a store in a new directory: dir (64 bytes) gets
 * "/tmp/blk-TAG.XXXXXX/s". */
static inline struct blk_store *test_store_make(char *dir, const char *tag)
{
	struct blk_store *s;

	snprintf(dir, 64, "/tmp/blk-%s.XXXXXX", tag);
	cr_assert(mkdtemp(dir));
	strcat(dir, "/s");
	cr_assert_eq(blk_store_create(dir, BS, BLK_DEDUP_INLINE), 0);
	cr_assert_eq(blk_store_open(dir, &s), 0);
	return s;
}

/* Closes s, if any, and removes what test_store_make() made. */
static inline void test_store_remove(const char *dir, struct blk_store *s)
{
	char cmd[96];

	if (s)
		blk_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(dir) - 2), dir);
	system(cmd);
}

/* Bytes the data file of the store in dir occupies on disk. */
static inline uint64_t test_data_disk_bytes(const char *dir)
{
	char p[96];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/data", dir);
	cr_assert_eq(stat(p, &sb), 0);
	return (uint64_t)sb.st_blocks * 512;
}

/* The store's files, each as "name:" and its bytes, to compare before and after. */
static inline char *test_store_files(const char *dir, size_t *len)
{
	static const char *files[] = { "data", "meta0", "meta1", "journal0", "journal1" };
	char *all = NULL;
	FILE *f = open_memstream(&all, len);

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[128], buf[65536];
		size_t k;
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		FILE *in = fopen(p, "r");
		fprintf(f, "%s:", files[i]);
		while (in && (k = fread(buf, 1, sizeof(buf), in)))
			fwrite(buf, 1, k, f);
		if (in)
			fclose(in);
	}
	fclose(f);
	return all;
}

#endif
