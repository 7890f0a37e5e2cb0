/*
 * Robin Hood linear probing with backward-shift deletion. An entry sits
 * no nearer its home than any entry it passed, so a lookup stops at the
 * first entry nearer its own home than the probe is: a miss costs about
 * as many probes as a hit (~4 at the highest load, 0.85), where plain
 * linear probing needs ~23. That buys the high load (0.64 .. 0.85) that
 * keeps an entry within 4 bytes / 0.64, and no tombstones keep lookups
 * short however many blocks come and go. The capacity grows by 1/3, not
 * doubling, for the same reason; the home is the hash scaled to the
 * capacity (no mask).
 */
#include <errno.h>
#include <stdlib.h>
#include "blk/index.h"

#define INITIAL_CAP 1024u
#define PREFETCH    4

static size_t home_of_key(const struct blk_index *ix, uint64_t key)
{
	return (size_t)(((key >> 32) * ix->cap) >> 32);
}

static size_t home(const struct blk_index *ix, uint32_t slot)
{
	return home_of_key(ix, (*ix->words)[slot] & SLOT_HASH);
}

static size_t next(const struct blk_index *ix, size_t i)
{
	return i + 1 == ix->cap ? 0 : i + 1;
}

/* How far position i lies past home h, around the end of the table. */
static size_t dist(const struct blk_index *ix, size_t h, size_t i)
{
	return i >= h ? i - h : i + ix->cap - h;
}

int blk_index_init(struct blk_index *ix, const uint64_t *const *words)
{
	ix->tab = calloc(INITIAL_CAP, sizeof(*ix->tab));
	if (!ix->tab)
		return -ENOMEM;
	ix->cap = INITIAL_CAP;
	ix->count = 0;
	ix->words = words;
	return 0;
}

void blk_index_free(struct blk_index *ix)
{
	free(ix->tab);
	ix->tab = NULL;
}

/* Entries of a cluster lie in order of their homes (ties in insertion
 * order): the new entry goes after those whose home is not past its own,
 * and the rest of the cluster moves up one position. Only the entries
 * passed before it need their slot words (a miss on the slot table each);
 * the ones moved up do not, and at load 0.85 they are most of the cluster. */
static void place(struct blk_index *ix, uint32_t slot)
{
	size_t i = home(ix, slot), d = 0;

	while (ix->tab[i] && dist(ix, home(ix, ix->tab[i]), i) >= d) {
		i = next(ix, i);
		d++;
	}
	while (slot) {
		uint32_t t = ix->tab[i];
		ix->tab[i] = slot;
		slot = t;
		i = next(ix, i);
	}
}

static int grow(struct blk_index *ix)
{
	uint32_t *old = ix->tab;
	size_t oldcap = ix->cap, cap = oldcap + oldcap / 3;

	ix->tab = calloc(cap, sizeof(*ix->tab));
	if (!ix->tab) {
		ix->tab = old;
		return -ENOMEM;
	}
	ix->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			place(ix, old[i]);
	free(old);
	return 0;
}

int blk_index_insert(struct blk_index *ix, uint32_t slot)
{
	if ((ix->count + 1) * 20 > ix->cap * 17) {	/* load at most 0.85 */
		int err = grow(ix);
		if (err)
			return err;
	}
	place(ix, slot);
	ix->count++;
	return 0;
}

void blk_index_remove(struct blk_index *ix, uint32_t slot)
{
	size_t i = home(ix, slot);

	while (ix->tab[i] != slot) {
		if (!ix->tab[i])
			return;
		i = next(ix, i);
	}
	/* Shift the entries after it back by one until one is at its home. */
	for (size_t j = next(ix, i); ix->tab[j] && home(ix, ix->tab[j]) != j; j = next(ix, j)) {
		ix->tab[i] = ix->tab[j];
		i = j;
	}
	ix->tab[i] = 0;
	ix->count--;
}

void blk_index_prefetch(const struct blk_index *ix, const uint64_t *keys, size_t n)
{
	for (size_t k = 0; k < n; k++)
		__builtin_prefetch(&ix->tab[home_of_key(ix, keys[k])]);
	for (size_t k = 0; k < n; k++)
		for (size_t i = home_of_key(ix, keys[k]), d = 0; d < PREFETCH && ix->tab[i]; d++, i = next(ix, i))
			__builtin_prefetch(&(*ix->words)[ix->tab[i]]);
}

uint32_t blk_index_next(const struct blk_index *ix, uint64_t key, size_t *pos)
{
	size_t h = home_of_key(ix, key);
	size_t i = *pos ? *pos - 1 : h, d = dist(ix, h, i);	/* stored 1-based */

	for (; ix->tab[i]; i = next(ix, i), d++) {
		uint64_t w = (*ix->words)[ix->tab[i]] & SLOT_HASH;
		if (w == key) {
			*pos = next(ix, i) + 1;
			return ix->tab[i];
		}
		if (dist(ix, home_of_key(ix, w), i) < d)
			break;
	}
	return 0;
}
