#include "mm/range.h"

bool range_inside(uint64_t base, uint64_t len, uint64_t limit)
{
	return base <= limit && len <= limit - base;
}

bool range_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	if (alen == 0 || blen == 0)
		return false;
	return a < b + blen && b < a + alen;
}

bool align_up_checked(uint64_t v, uint64_t align, uint64_t *out)
{
	uint64_t r = (v + (align - 1)) & ~(align - 1);
	if (r < v)
		return false;
	*out = r;
	return true;
}
