/*
 * The guest's side of the page-state protocol (guest-runtime/abi.h, "Page
 * states"): one atomic operation per byte. Header-only, so the monitor's
 * race tests run this very code against the host's side (mm/pagestate.c).
 */
#ifndef BEYOND_PAGESTATE_OPS_H
#define BEYOND_PAGESTATE_OPS_H

#include <stdint.h>
#include "guest-runtime/abi.h"

/* Sets the state bits to `to` if they are `from` (NOT_PRESENT kept); returns the state seen. */
static inline unsigned ps_cas_state(uint8_t *b, unsigned from, unsigned to)
{
	uint8_t old = __atomic_load_n(b, __ATOMIC_ACQUIRE);
	for (;;) {
		if ((old & BEYOND_PAGE_STATE_MASK) != from)
			return old & BEYOND_PAGE_STATE_MASK;
		uint8_t nv = (uint8_t)((old & BEYOND_PAGE_NOT_PRESENT) | to);
		if (__atomic_compare_exchange_n(b, &old, nv, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return from;
	}
}

/* Sets the state bits to `to` whatever they were (NOT_PRESENT kept). */
static inline void ps_set_state(uint8_t *b, unsigned to)
{
	uint8_t old = __atomic_load_n(b, __ATOMIC_ACQUIRE);
	while (!__atomic_compare_exchange_n(b, &old, (uint8_t)((old & BEYOND_PAGE_NOT_PRESENT) | to), 0,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

static inline void ps_make_volatile(uint8_t *b)
{
	ps_cas_state(b, BEYOND_PAGE_STABLE, BEYOND_PAGE_VOLATILE);
}

/* 0: the contents survived; 1: the host discarded them (the page is stable now, contents undefined). */
static inline int ps_make_stable(uint8_t *b)
{
	for (;;) {
		unsigned s = ps_cas_state(b, BEYOND_PAGE_VOLATILE, BEYOND_PAGE_STABLE);
		if (s == BEYOND_PAGE_VOLATILE || s == BEYOND_PAGE_STABLE)
			return 0;
		if (ps_cas_state(b, s, BEYOND_PAGE_STABLE) == s)
			return 1; /* DISCARDED (or UNUSED: nothing was kept either) */
	}
}

#endif
