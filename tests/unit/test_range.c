#include <criterion/criterion.h>
#include <stdint.h>
#include "mm/range.h"

Test(range, inside_edges)
{
	cr_assert(range_inside(0, 0, 0));
	cr_assert(range_inside(0, 4096, 4096));
	cr_assert(range_inside(4095, 1, 4096));
	cr_assert(range_inside(4096, 0, 4096));
	cr_assert_not(range_inside(4096, 1, 4096));
	cr_assert_not(range_inside(4097, 0, 4096));
	cr_assert_not(range_inside(1, 4096, 4096));
}

Test(range, inside_never_wraps)
{
	cr_assert_not(range_inside(UINT64_MAX, 2, UINT64_MAX));
	cr_assert_not(range_inside(UINT64_MAX - 7, 16, 1ull << 30));
	cr_assert_not(range_inside(16, UINT64_MAX, 1ull << 30));
	cr_assert_not(range_inside(1ull << 29, UINT64_MAX - (1ull << 29) + 1, 1ull << 30));
	cr_assert(range_inside(0, UINT64_MAX, UINT64_MAX));
}

Test(range, overlaps)
{
	cr_assert(range_overlaps(0, 10, 9, 1));
	cr_assert_not(range_overlaps(0, 10, 10, 1));
	cr_assert_not(range_overlaps(10, 5, 0, 10));
	cr_assert(range_overlaps(10, 5, 0, 11));
	cr_assert_not(range_overlaps(0, 0, 0, 10));
}

Test(range, align_up)
{
	uint64_t r;
	cr_assert(align_up_checked(4097, 4096, &r) && r == 8192);
	cr_assert(align_up_checked(4096, 4096, &r) && r == 4096);
	cr_assert(align_up_checked(0, 4096, &r) && r == 0);
	cr_assert_not(align_up_checked(UINT64_MAX - 10, 4096, &r));
}
