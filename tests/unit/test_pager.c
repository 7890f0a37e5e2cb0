/*
 * The pager's pieces without a VM: the swap area (slots, bounds, the file
 * gone at once unless kept) and the page-state protocol, including the race
 * of the guest's make_stable/make_volatile (guest-runtime/pagestate.h, the
 * guest's very code) against the host's discards (mm/pagestate.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "guest-runtime/pagestate.h"
#include "mm/pagestate.h"
#include "mm/swap_area.h"

static char dir[] = "/tmp/beyond-swap-test-XXXXXX";

static void make_dir(void) { cr_assert_not_null(mkdtemp(dir)); }
static void remove_dir(void) { rmdir(dir); }

TestSuite(swap_area, .init = make_dir, .fini = remove_dir);

static unsigned files_in_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	FILE *f = popen(cmd, "r");
	unsigned n = 0;
	cr_assert_eq(fscanf(f, "%u", &n), 1);
	pclose(f);
	return n;
}

Test(swap_area, slots_until_full_then_reuse)
{
	struct swap_area a;
	char err[256];
	cr_assert_eq(swap_area_open(&a, dir, 5 * 4096, 4096, 0, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(files_in_dir(), 0, "the swap file is unlinked at once");
	uint32_t s[5];
	for (int i = 0; i < 5; i++) {
		s[i] = swap_slot_alloc(&a);
		cr_assert_neq(s[i], SWAP_NO_SLOT);
	}
	cr_expect_eq(swap_slot_alloc(&a), SWAP_NO_SLOT, "a full area says so");
	swap_slot_free(&a, s[2]);
	swap_slot_free(&a, s[2]); /* twice is harmless */
	cr_expect_eq(a.used, 4);
	cr_expect_eq(swap_slot_alloc(&a), s[2]);
	static uint8_t out[4096] __attribute__((aligned(4096))), in[4096] __attribute__((aligned(4096)));
	for (int i = 0; i < 4096; i++)
		out[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(swap_write(&a, s[4], out), 0);
	cr_assert_eq(swap_read(&a, s[4], in), 0);
	cr_expect_eq(memcmp(in, out, sizeof(in)), 0);
	swap_area_close(&a);
}

Test(swap_area, kept_file_stays)
{
	struct swap_area a;
	char err[256];
	cr_assert_eq(swap_area_open(&a, dir, 4096, 4096, 1, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(files_in_dir(), 1);
	cr_expect_eq(unlink(a.path), 0);
	swap_area_close(&a);
}

Test(swap_area, bad_sizes_and_paths)
{
	struct swap_area a;
	char err[256];
	cr_expect_neq(swap_area_open(&a, dir, 100, 4096, 0, err, sizeof(err)), 0);
	cr_expect_neq(swap_area_open(&a, "/no/such/dir/swap", 4096, 4096, 0, err, sizeof(err)), 0);
	cr_expect(strstr(err, "cannot create swap file") != NULL, "%s", err);
}

TestSuite(pagestate);

static uint8_t data[4 * 4096] __attribute__((aligned(4096)));

Test(pagestate, what_may_be_dropped)
{
	uint8_t st[4] = { BEYOND_PAGE_UNUSED, BEYOND_PAGE_VOLATILE, BEYOND_PAGE_DISCARDED, BEYOND_PAGE_STABLE };
	struct pagestate_drop d = { 0 };
	memset(data, 0, sizeof(data));
	data[3 * 4096 + 100] = 1; /* the stable page has data */
	cr_expect_eq(pagestate_try_drop(st, data, 4, 1, &d), 0, "a stable page with data is kept");
	cr_expect_eq(st[1], BEYOND_PAGE_VOLATILE, "nothing discarded when the unit is kept");
	data[3 * 4096 + 100] = 0;
	cr_expect_eq(pagestate_try_drop(st, data, 4, 0, &d), 0, "without the zero check a stable page is kept");
	cr_expect_eq(pagestate_try_drop(st, data, 4, 1, &d), 1, "a zero stable page goes");
	cr_expect_eq(st[1], BEYOND_PAGE_DISCARDED, "the volatile page is marked discarded");
	cr_expect_eq(d.unused, 1);
	cr_expect_eq(d.discarded, 1);
	cr_expect_eq(d.zero, 1);
	uint8_t odd = 0x44; /* reserved bits: kept as stable */
	data[5] = 1;
	cr_expect_eq(pagestate_try_drop(&odd, data, 1, 1, &d), 0);
	cr_expect_eq(pagestate_try_drop(NULL, data, 1, 1, &d), 0, "no table: only zero pages go");
}

Test(pagestate, not_present_bit_survives_guest_changes)
{
	uint8_t b = BEYOND_PAGE_STABLE;
	pagestate_set_present(&b, 1, 0);
	ps_make_volatile(&b);
	cr_expect_eq(b, BEYOND_PAGE_VOLATILE | BEYOND_PAGE_NOT_PRESENT);
	cr_expect_eq(ps_make_stable(&b), 0);
	pagestate_set_present(&b, 1, 1);
	cr_expect_eq(b, BEYOND_PAGE_STABLE);
	b = BEYOND_PAGE_DISCARDED;
	cr_expect_eq(ps_make_stable(&b), 1, "a discarded page reports its loss");
	cr_expect_eq(b, BEYOND_PAGE_STABLE);
}

/*
 * The race: the guest thread turns its page volatile and back and checks that
 * a successful make_stable finds its contents; the host thread drops the page
 * whenever it may, wiping its contents. `wp` stands for the write protection
 * the pager holds from its decision to the release: guest writes wait for it.
 */
#define MIN_DROPS 2000
#define MAX_SECONDS 30	/* a loaded machine (sanitizers, other jobs) may seldom run the host thread */
static uint8_t state;
static uint64_t contents;
static pthread_mutex_t wp = PTHREAD_MUTEX_INITIALIZER;
static volatile int done;

static void *host(void *arg)
{
	uint64_t *drops = arg;
	struct pagestate_drop d = { 0 };
	static uint8_t page[4096] = { 1 }; /* not zero: a stable page is never dropped */
	while (!done) {
		pthread_mutex_lock(&wp);
		uint32_t before = d.discarded;
		if (pagestate_try_drop(&state, page, 1, 1, &d))
			__atomic_store_n(&contents, 0, __ATOMIC_RELEASE);
		if (d.discarded != before)
			__atomic_fetch_add(drops, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&wp);
	}
	return NULL;
}

Test(pagestate, make_stable_races_host_discard)
{
	uint64_t drops = 0, errors = 0, rebuilt = 0;
	pthread_t t;
	contents = 42;
	pthread_create(&t, NULL, host, &drops);
	time_t end = time(NULL) + MAX_SECONDS;
	/* Until the host has won often enough (on one core the threads take turns). */
	for (uint64_t i = 0; __atomic_load_n(&drops, __ATOMIC_RELAXED) < MIN_DROPS && (i % 4096 || time(NULL) < end); i++) {
		ps_make_volatile(&state);
		if (ps_make_stable(&state)) {
			pthread_mutex_lock(&wp);
			__atomic_store_n(&contents, 42, __ATOMIC_RELEASE);
			pthread_mutex_unlock(&wp);
			rebuilt++;
		} else if (__atomic_load_n(&contents, __ATOMIC_ACQUIRE) != 42) {
			errors++;
		}
	}
	done = 1;
	pthread_join(t, NULL);
	cr_expect_eq(errors, 0, "%lu times make_stable said kept but the host had dropped it", (unsigned long)errors);
	cr_expect_geq(drops, MIN_DROPS, "the host seldom won the race: the test proved nothing");
	cr_expect_eq(rebuilt, drops, "every discard is reported exactly once (%lu reported, %lu drops)", (unsigned long)rebuilt, (unsigned long)drops);
}
