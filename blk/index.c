/* Linear probing with backward-shift deletion: no tombstones, so lookups
 * stay short however many blocks come and go. */
#include <errno.h>
#include <stdlib.h>
#include "blk/index.h"

#define INITIAL_CAP 1024u

static size_t home(const struct blk_index *ix, uint32_t slot)
{
	return (*ix->hashes)[slot].lo & ix->mask;
}

int blk_index_init(struct blk_index *ix, const struct blk_hash *const *hashes)
{
	ix->tab = calloc(INITIAL_CAP, sizeof(*ix->tab));
	if (!ix->tab)
		return -ENOMEM;
	ix->mask = INITIAL_CAP - 1;
	ix->count = 0;
	ix->hashes = hashes;
	return 0;
}

void blk_index_free(struct blk_index *ix)
{
	free(ix->tab);
	ix->tab = NULL;
}

static void place(struct blk_index *ix, uint32_t slot)
{
	size_t i = home(ix, slot);

	while (ix->tab[i])
		i = (i + 1) & ix->mask;
	ix->tab[i] = slot;
}

static int grow(struct blk_index *ix)
{
	uint32_t *old = ix->tab;
	size_t oldcap = ix->mask + 1;

	ix->tab = calloc(oldcap * 2, sizeof(*ix->tab));
	if (!ix->tab) {
		ix->tab = old;
		return -ENOMEM;
	}
	ix->mask = oldcap * 2 - 1;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			place(ix, old[i]);
	free(old);
	return 0;
}

int blk_index_insert(struct blk_index *ix, uint32_t slot)
{
	/* Keep the load factor at or below 3/4. */
	if ((ix->count + 1) * 4 > (ix->mask + 1) * 3) {
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
		i = (i + 1) & ix->mask;
	}
	/* Shift back later entries whose probe sequence passes through i. */
	for (size_t j = (i + 1) & ix->mask; ix->tab[j]; j = (j + 1) & ix->mask) {
		size_t k = home(ix, ix->tab[j]);
		if (((j - k) & ix->mask) >= ((j - i) & ix->mask)) {
			ix->tab[i] = ix->tab[j];
			i = j;
		}
	}
	ix->tab[i] = 0;
	ix->count--;
}

uint32_t blk_index_next(const struct blk_index *ix, const struct blk_hash *h, size_t *pos)
{
	size_t i = *pos ? *pos : (h->lo & ix->mask) + 1;	/* stored 1-based */

	for (i--; ix->tab[i]; i = (i + 1) & ix->mask) {
		const struct blk_hash *e = &(*ix->hashes)[ix->tab[i]];
		if (e->lo == h->lo && e->hi == h->hi) {
			*pos = ((i + 1) & ix->mask) + 1;
			return ix->tab[i];
		}
	}
	return 0;
}
