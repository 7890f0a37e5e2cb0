/* Overflow-safe checks of guest-supplied addresses and lengths. */
#ifndef BEYOND_RANGE_H
#define BEYOND_RANGE_H

#include <stdbool.h>
#include <stdint.h>

/* True if [base, base + len) lies inside [0, limit); len 0 is inside if base <= limit. */
bool range_inside(uint64_t base, uint64_t len, uint64_t limit);

/* True if [a, a + alen) and [b, b + blen) share a byte. Both must not wrap. */
bool range_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen);

/* Rounds up to a power-of-two alignment; false if the result would wrap. */
bool align_up_checked(uint64_t v, uint64_t align, uint64_t *out);

#endif
