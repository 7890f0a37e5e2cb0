#include <string.h>
#include "guest-runtime/abi.h"
#include "mm/pagestate.h"

#define PAGE 4096u

int page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;
	for (unsigned i = 0; i < PAGE / 8; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
	return acc == 0;
}

/* A page whose state is STABLE (or reserved bits) stays only if it has data. */
static int keeps_data(unsigned state, const uint8_t *page, int zero_check)
{
	return state == BEYOND_PAGE_STABLE && !(zero_check && page_is_zero(page));
}

static unsigned state_of(const uint8_t *b)
{
	uint8_t v = __atomic_load_n(b, __ATOMIC_ACQUIRE);
	/* Reserved bits make an entry STABLE: the host never drops data on a malformed hint. */
	return (v & ~(BEYOND_PAGE_STATE_MASK | BEYOND_PAGE_NOT_PRESENT)) ? BEYOND_PAGE_STABLE
									  : v & BEYOND_PAGE_STATE_MASK;
}

/* cmpxchg VOLATILE -> DISCARDED, retried while the entry stays VOLATILE; 1 if it was done. */
static int discard(uint8_t *b)
{
	uint8_t old = __atomic_load_n(b, __ATOMIC_ACQUIRE);
	while ((old & ~BEYOND_PAGE_NOT_PRESENT) == BEYOND_PAGE_VOLATILE) {
		uint8_t nv = (uint8_t)((old & BEYOND_PAGE_NOT_PRESENT) | BEYOND_PAGE_DISCARDED);
		if (__atomic_compare_exchange_n(b, &old, nv, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 1;
	}
	return 0;
}

int pagestate_try_drop(uint8_t *states, const uint8_t *data, unsigned n, int zero_check,
		       struct pagestate_drop *d)
{
	struct pagestate_drop c = { 0 };
	/* First look without changing anything: one page with data means the unit is written whole. */
	for (unsigned i = 0; i < n; i++)
		if (keeps_data(states ? state_of(&states[i]) : BEYOND_PAGE_STABLE, data + (uint64_t)i * PAGE,
			       zero_check))
			return 0;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *page = data + (uint64_t)i * PAGE;
		unsigned s = BEYOND_PAGE_STABLE;
		/* The guest may go VOLATILE -> STABLE -> VOLATILE under us: retry while it reads VOLATILE. */
		while (states && (s = state_of(&states[i])) == BEYOND_PAGE_VOLATILE && !discard(&states[i]))
			;
		if (s == BEYOND_PAGE_VOLATILE) {
			c.discarded++;
			continue;
		}
		/* Looked at again: the guest may have made the page stable since the first look. */
		if (keeps_data(s, page, zero_check))
			return 0; /* pages discarded so far stay discarded: the guest will see it */
		if (s == BEYOND_PAGE_UNUSED || s == BEYOND_PAGE_DISCARDED)
			c.unused += s == BEYOND_PAGE_UNUSED;
		else if (s == BEYOND_PAGE_STABLE)
			c.zero++;
	}
	d->unused += c.unused;
	d->discarded += c.discarded;
	d->zero += c.zero;
	return 1;
}

void pagestate_set_present(uint8_t *states, unsigned n, int present)
{
	for (unsigned i = 0; i < n; i++) {
		if (present)
			__atomic_fetch_and(&states[i], (uint8_t)~BEYOND_PAGE_NOT_PRESENT, __ATOMIC_ACQ_REL);
		else
			__atomic_fetch_or(&states[i], (uint8_t)BEYOND_PAGE_NOT_PRESENT, __ATOMIC_ACQ_REL);
	}
}
