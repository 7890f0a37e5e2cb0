/*
 * Crafted store files with valid checksums (the checksums are unkeyed, so
 * anyone who can write the store directory can make them): every field is
 * checked before use, and opening refuses such a store with -EUCLEAN in
 * every mode instead of writing out of bounds, looping or hanging. Journal
 * records are made with the store's own journal_add(), checkpoints by
 * editing a real one and recomputing its checksum.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blk/hash.h"
#include "blk/store_impl.h"
#include "tests/blk/blk_test.h"

static char dir[64];
static struct blk_store *st;

static void setup(void)
{
	struct blk_vol *v;
	uint8_t b[BS];

	st = test_store_make(dir, "crafted");
	cr_assert_eq(blk_vol_create(st, "v", 16 * BS), 0);
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	pattern(b, 1, 0);
	cr_assert_eq(blk_write(v, b, 0, BS, BLK_FUA), 0);
	blk_vol_close(v);
	cr_redirect_stderr();
}

static void teardown(void)
{
	test_store_remove(dir, st);
}

TestSuite(crafted, .init = setup, .fini = teardown, .timeout = 20);

/* Opening refuses the store, whatever the mode. */
static void expect_refused(const char *what)
{
	for (int mode = BLK_OPEN_WRITE; mode <= BLK_OPEN_REPAIR; mode++) {
		struct blk_store *s = NULL;
		cr_expect_eq(blk_store_open_mode(dir, mode, &s), -EUCLEAN, "%s, mode %d", what, mode);
		if (s)
			blk_store_close(s);
	}
}

/* Commits one record, unchecked, as the last thing before a crash. */
static void craft_record(uint32_t type, const void *p, uint32_t len)
{
	cr_assert_eq(journal_add(&st->j, type, p, len), 0);
	cr_assert_eq(journal_commit(&st->j), 0);
	st->failed = true;	/* close without a checkpoint */
	blk_store_close(st);
	st = NULL;
}

static void craft_slot(uint32_t slot)
{
	struct j_slot r = { .slot = slot, .hash = { 1, 2 } };
	craft_record(J_SLOT, &r, sizeof(r));
	expect_refused("J_SLOT");
}

Test(crafted, slot_wrapping_the_table_size) { craft_slot(0xffffffff); }
Test(crafted, slot_overflowing_the_doubling) { craft_slot(0x80000001); }
Test(crafted, slot_past_the_data_file) { craft_slot(1000); }

static void craft_vol(uint32_t type, uint32_t id, uint32_t src, uint64_t size, const char *name)
{
	struct j_vol r = { .id = id, .src = src, .size = size };
	memcpy(r.name, name, strlen(name) < sizeof(r.name) ? strlen(name) : sizeof(r.name));
	craft_record(type, &r, sizeof(r));
	expect_refused("volume record");
}

Test(crafted, volume_id_wrapping_the_table) { craft_vol(J_VOL_NEW, 0xffffffff, 0, BS, "x"); }
Test(crafted, volume_id_skipping_ahead) { craft_vol(J_VOL_NEW, 5, 0, BS, "x"); }
Test(crafted, volume_name_unterminated) { craft_vol(J_VOL_NEW, 1, 0, BS, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); }
Test(crafted, volume_name_taken) { craft_vol(J_VOL_NEW, 1, 0, BS, "v"); }
Test(crafted, volume_too_large) { craft_vol(J_VOL_NEW, 1, 0, UINT64_MAX, "x"); }
Test(crafted, copy_of_a_missing_volume) { craft_vol(J_VOL_COPY, 1, 0xffffffff, 0, "x"); }
Test(crafted, delete_of_a_missing_volume) { craft_vol(J_VOL_DEL, 0xffffffff, 0, 0, ""); }

Test(crafted, map_to_a_missing_slot)
{
	struct j_map r = { .vol = 0, .slot = 0xffffffff, .lba = 1 };
	craft_record(J_MAP, &r, sizeof(r));
	expect_refused("J_MAP slot");
}

Test(crafted, map_past_the_volume)
{
	struct j_map r = { .vol = 0, .slot = 1, .lba = 1ull << 40 };
	craft_record(J_MAP, &r, sizeof(r));
	expect_refused("J_MAP lba");
}

Test(crafted, trim_wrapping_around)
{
	struct j_trim r = { .vol = 0, .lba = 2, .count = UINT64_MAX };
	craft_record(J_TRIM, &r, sizeof(r));
	expect_refused("J_TRIM");
}

Test(crafted, unknown_record_type)
{
	uint64_t x = 0;
	craft_record(99, &x, sizeof(x));
	expect_refused("type 99");
}

/* --- checkpoints ------------------------------------------------------------- */

/* Header offsets (blk/checkpoint.c). */
enum { H_BS = 8, H_DEDUP = 12, H_GEN = 16, H_NSLOTS = 24, H_NVOLS = 28, H_VOLIDS = 32, H_BODY = 40 };

/* The newest copy, edited by fn, with its checksum made valid again; the
 * other copy is destroyed so that it cannot stand in. */
static void edit_meta(void (*fn)(uint8_t *m, size_t *len))
{
	char p[96], other[96];
	uint8_t *m = malloc(1 << 20);
	unsigned copy = st->j.gen & 1;

	cr_assert_eq(blk_store_close(st), 0);	/* checkpoint: the journal is empty */
	st = NULL;
	copy ^= 1;
	snprintf(p, sizeof(p), "%s/meta%u", dir, copy);
	snprintf(other, sizeof(other), "%s/meta%u", dir, copy ^ 1);
	FILE *f = fopen(p, "r");
	cr_assert(f);
	size_t len = fread(m, 1, 1 << 20, f) - 8;	/* without the checksum */
	fclose(f);
	fn(m, &len);
	uint64_t sum = blk_hash64(m, len, 0);
	memcpy(m + len, &sum, 8);
	cr_assert(f = fopen(p, "w"));
	cr_assert_eq(fwrite(m, 1, len + 8, f), len + 8);
	fclose(f);
	cr_assert(f = fopen(other, "w"));
	fputs("gone", f);
	fclose(f);
	free(m);
}

static void craft_meta(void (*fn)(uint8_t *m, size_t *len))
{
	edit_meta(fn);
	expect_refused("crafted checkpoint");
}

static void put32(uint8_t *m, size_t off, uint32_t v) { memcpy(m + off, &v, 4); }
static uint32_t get32(const uint8_t *m, size_t off) { uint32_t v; memcpy(&v, m + off, 4); return v; }

#define EDIT(name, body) static void name(uint8_t *m, size_t *len) { (void)m; (void)len; body; }
EDIT(bs_128k, put32(m, H_BS, 128 << 10))
EDIT(bs_1m, put32(m, H_BS, 1 << 20))
EDIT(bs_0, put32(m, H_BS, 0))
EDIT(bs_3000, put32(m, H_BS, 3000))
EDIT(dedup_7, put32(m, H_DEDUP, 7))
EDIT(gen_other_parity, put32(m, H_GEN, get32(m, H_GEN) + 1))
EDIT(nslots_0, put32(m, H_NSLOTS, 0))
EDIT(nslots_huge, put32(m, H_NSLOTS, 0xffffffff))
EDIT(vol_ids_huge, put32(m, H_VOLIDS, 0xffffffff))
EDIT(nvols_past_ids, put32(m, H_NVOLS, get32(m, H_VOLIDS) + 1))
EDIT(trailing_bytes, *len += 4; memset(m + *len - 4, 0, 4))
EDIT(ref_flags, uint64_t w = REF_NEW | 1; memcpy(m + H_BODY + 8, &w, 8))
/* The volume record follows the slot table; its size is at +16, its map at +88. */
static size_t vol_at(const uint8_t *m) { return H_BODY + 8 * (size_t)get32(m, H_NSLOTS); }
EDIT(vol_size_without_map, uint64_t big = 1ull << 44; memcpy(m + vol_at(m) + 16, &big, 8))
EDIT(map_past_the_slots, put32(m, vol_at(m) + 88, get32(m, H_NSLOTS)))
EDIT(vol_id_past_ids, put32(m, vol_at(m), get32(m, H_VOLIDS)))

/* Rewrites the slot table as format 2 kept it (whole hashes, then 32-bit
 * counts with REF_INDEXED at bit 31), giving slot 1 extra_refs more. */
static void to_format_2(uint8_t *m, size_t *len, uint32_t extra_refs)
{
	uint32_t n = get32(m, H_NSLOTS);
	size_t rest = *len - vol_at(m), v2 = H_BODY + 20 * (size_t)n;
	uint8_t *tail = malloc(rest), *table = malloc(20 * (size_t)n);

	memcpy(tail, m + vol_at(m), rest);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t w;
		memcpy(&w, m + H_BODY + 8 * (size_t)i, 8);
		struct blk_hash h = { .lo = (w & SLOT_HASH) | 0x123456, .hi = ~w };
		uint32_t r = (w & REF_COUNT) + (i == 1 ? extra_refs : 0) + (w & REF_INDEXED ? 0x80000000u : 0);
		memcpy(table + 16 * (size_t)i, &h, 16);
		memcpy(table + 16 * (size_t)n + 4 * (size_t)i, &r, 4);
	}
	memcpy(m, "BEYBLK02", 8);
	memcpy(m + H_BODY, table, 20 * (size_t)n);
	memcpy(m + v2, tail, rest);
	*len = v2 + rest;
	free(tail);
	free(table);
}
EDIT(format_2, to_format_2(m, len, 0))
EDIT(format_2_count_too_big, to_format_2(m, len, REF_COUNT))

/* A store whose newest checkpoint has format 2 opens, reads verified, and
 * its next checkpoint is written in format 3. */
Test(crafted, format_2_is_converted)
{
	edit_meta(format_2);
	cr_assert_eq(blk_store_open(dir, &st), 0);
	struct blk_vol *v;
	uint8_t b[BS], want[BS];
	cr_assert_eq(blk_vol_open(st, "v", &v), 0);
	cr_assert_eq(blk_read(v, b, 0, BS), 0);
	pattern(want, 1, 0);
	cr_expect_eq(memcmp(b, want, BS), 0);
	cr_expect_eq(slot_refs(&st->m, v->map[0]), 1);
	blk_vol_close(v);
	struct blk_fsck r;
	cr_expect_eq(blk_fsck(st, false, &r), 0);
	cr_assert_eq(blk_store_close(st), 0);
	cr_assert_eq(blk_store_open(dir, &st), 0);
	char p[96], magic[8];
	snprintf(p, sizeof(p), "%s/meta%u", dir, (unsigned)(st->j.gen & 1));	/* the newest */
	FILE *f = fopen(p, "r");
	cr_assert(f);
	cr_assert_eq(fread(magic, 1, 8, f), 8);
	fclose(f);
	cr_expect_eq(memcmp(magic, "BEYBLK03", 8), 0);
}

Test(crafted, format_2_count_too_big) { craft_meta(format_2_count_too_big); }
Test(crafted, block_size_128k) { craft_meta(bs_128k); }
Test(crafted, block_size_1m) { craft_meta(bs_1m); }
Test(crafted, block_size_0) { craft_meta(bs_0); }
Test(crafted, block_size_3000) { craft_meta(bs_3000); }
Test(crafted, dedup_mode_7) { craft_meta(dedup_7); }
Test(crafted, generation_in_the_wrong_copy) { craft_meta(gen_other_parity); }
Test(crafted, no_slots) { craft_meta(nslots_0); }
Test(crafted, slot_count_past_the_file) { craft_meta(nslots_huge); }
Test(crafted, volume_table_huge) { craft_meta(vol_ids_huge); }
Test(crafted, more_volumes_than_ids) { craft_meta(nvols_past_ids); }
Test(crafted, trailing_bytes) { craft_meta(trailing_bytes); }
Test(crafted, reference_flags_on_disk) { craft_meta(ref_flags); }
Test(crafted, volume_map_missing) { craft_meta(vol_size_without_map); }
Test(crafted, map_entry_past_the_slots) { craft_meta(map_past_the_slots); }
Test(crafted, volume_id_past_the_table) { craft_meta(vol_id_past_ids); }
