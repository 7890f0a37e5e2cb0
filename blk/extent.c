/* blk_extents(): which parts of a volume hold data and which read as
 * zeros, straight from its map (slot 0 is zeros: I3). */
#include "blk/store_impl.h"

int blk_extents(struct blk_vol *v, uint64_t off, uint64_t len,
		int (*fn)(uint64_t len, enum blk_extent kind, void *arg), void *arg)
{
	struct blk_store *s = vol_store(v);
	int err = 0;

	if (off > v->size || len > v->size - off)
		return -EINVAL;
	pthread_rwlock_rdlock(&s->lock);
	uint64_t end = off + len;
	while (!err && off < end) {
		uint64_t lba = off >> s->m.shift;
		bool zero = !v->map[lba];
		uint64_t next = (lba + 1) << s->m.shift;
		/* The run goes on while blocks are of the same kind. */
		while (next < end && (v->map[next >> s->m.shift] == 0) == zero)
			next += s->m.bs;
		next = next < end ? next : end;
		err = fn(next - off, zero ? BLK_EXTENT_ZERO : BLK_EXTENT_DATA, arg);
		off = next;
	}
	pthread_rwlock_unlock(&s->lock);
	return err < 0 ? err : 0;
}
