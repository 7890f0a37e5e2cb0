/*
 * The host's side of the page-state protocol (guest-runtime/abi.h, "Page
 * states"): deciding whether a unit of guest RAM can be dropped without I/O,
 * and the NOT_PRESENT view. The table lives in guest memory; every access
 * is atomic, since the guest changes it at the same time.
 */
#ifndef BEYOND_PAGESTATE_H
#define BEYOND_PAGESTATE_H

#include <stdint.h>

/* Why the pages of a dropped unit needed no I/O. */
struct pagestate_drop {
	uint32_t unused, discarded, zero;
};

/*
 * For a unit of n 4 KiB pages at data, write-protected by the caller so
 * that its contents cannot change: 1 if every page is UNUSED, DISCARDED,
 * VOLATILE (then moved to DISCARDED by cmpxchg) or, with zero_check, all
 * zero; 0 if the unit must be written out. states may be NULL (no table:
 * only the zero check applies). Counts what made the pages droppable into *d.
 */
int pagestate_try_drop(uint8_t *states, const uint8_t *data, unsigned n, int zero_check,
		       struct pagestate_drop *d);

/* Sets or clears NOT_PRESENT on n entries. */
void pagestate_set_present(uint8_t *states, unsigned n, int present);

/* 1 if the 4 KiB page at p is all zero. */
int page_is_zero(const uint8_t *p);

#endif
