/*
 * The pager on real VMs: data survives eviction bit for bit in every mode and
 * unit (the swap guest's sweep checks every byte of 48 MiB against its
 * pattern), zero/unused/volatile pages cost no swap writes, the discard race
 * (the cache workload's make_stable/make_volatile against the host's
 * discards), a lying guest, a full swap area, the balloon, prefetch.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "hv/pager.h"
#include "hv/vcpu.h"
#include "mm/hugetlb_pool.h"
#include "mm/pagetable.h"
#include "tests/kvm/kvm_test.h"

TestSuite(pager, .init = kvm_test_open, .timeout = 120);

struct run {
	int status;
	char reason[512];
	struct beyond_swap_result r;
	int records;
	struct pager_stats st;
	int has_pager;
};

static void on_result(void *opaque, uint32_t type, const void *rec, uint32_t len)
{
	struct run *x = opaque;
	if (type == BEYOND_RESULT_SWAP && len == sizeof(x->r)) {
		memcpy(&x->r, rec, len);
		x->records++;
	}
}

/* Runs `swap WORKLOAD 48M PASSES` (or guest `liar`) in 96 MiB with the given module options. */
static struct run run_guest(const char *guest, const char *workload, const char *passes, uint64_t guest_page,
			    enum host_pages hp, const struct vm_option *opts, unsigned n_opts)
{
	static char w[16], size[] = "48M", p[8];
	char *argv[] = { w, size, p, NULL };
	snprintf(w, sizeof(w), "%s", workload ? workload : "");
	snprintf(p, sizeof(p), "%s", passes ? passes : "");
	int console = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct vm_config cfg = kvm_test_config(guest, workload ? argv : NULL, 1, console);
	cfg.argc = workload ? 3 : 0;
	cfg.mem_size = 96ull << 20;
	cfg.guest_page = guest_page;
	cfg.host_pages = hp;
	cfg.timeout = 60;
	cfg.options = opts;
	cfg.n_options = n_opts;
	struct run x = { 0 };
	cfg.on_result = on_result;
	cfg.opaque = &x;
	struct vm vm;
	char err[512];
	if (vm_create(&vm, &kvm_test_host, &cfg, err, sizeof(err))) {
		vm_destroy(&vm);
		close(console);
		cr_assert_fail("vm_create: %s", err);
	}
	x.status = vm_run(&vm);
	snprintf(x.reason, sizeof(x.reason), "%s", vm.reason);
	x.has_pager = pager_vm_stats(&vm, &x.st) == 0;
	vm_destroy(&vm);
	close(console);
	return x;
}

#define OPTS(...) ((const struct vm_option[]){ __VA_ARGS__ })
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void expect_sweep_intact(uint64_t gp, enum host_pages hp, const struct vm_option *o, unsigned n)
{
	struct run x = run_guest("swap", "sweep", "2", gp, hp, o, n);
	cr_assert_eq(x.status, 0, "guest ended with %d: %s", x.status, x.reason);
	cr_assert_eq(x.records, 1);
	cr_expect_eq(x.r.errors, 0, "%lu pages read back wrong", (unsigned long)x.r.errors);
	cr_assert(x.has_pager);
	cr_expect_gt(x.st.swap_ins, 0, "nothing came back from swap: the limit was not exercised");
	cr_expect_leq(x.st.resident, x.st.limit);
}

static const struct vm_option limit[] = { { "mem-limit", "24M" } };
static const struct vm_option limit_4k[] = { { "mem-limit", "24M" }, { "swap-unit", "4k" } };
static const struct vm_option naive[] = { { "mem-limit", "24M" }, { "pager-mode", "naive" } };
static const struct vm_option fifo[] = { { "mem-limit", "24M" }, { "pager-victim", "fifo" } };

Test(pager, sweep_thp_2m_units) { expect_sweep_intact(PT_2M, HOST_THP, limit, N(limit)); }
Test(pager, sweep_thp_4k_units) { expect_sweep_intact(PT_2M, HOST_THP, limit_4k, N(limit_4k)); }
Test(pager, sweep_host_4k_guest_4k) { expect_sweep_intact(PT_4K, HOST_4K, limit, N(limit)); }
Test(pager, sweep_naive) { expect_sweep_intact(PT_4K, HOST_THP, naive, N(naive)); }
Test(pager, sweep_fifo_victims) { expect_sweep_intact(PT_2M, HOST_THP, fifo, N(fifo)); }

Test(pager, sweep_hugetlb2m)
{
	char err[256];
	/* Probe the pool first: no hugetlb pages here is a skip, not a failure. */
	struct guest_mem m;
	if (guest_mem_alloc(&m, 96ull << 20, HOST_HUGETLB2M, 0, err, sizeof(err)))
		cr_skip_test("no hugetlb 2M pages: %s", err);
	guest_mem_free(&m);
	expect_sweep_intact(PT_2M, HOST_HUGETLB2M, limit, N(limit));
}

Test(pager, zero_pages_are_never_written)
{
	struct run x = run_guest("swap", "zero", "2", PT_2M, HOST_THP, limit_4k, N(limit_4k));
	cr_assert_eq(x.status, 0, "%s", x.reason);
	cr_expect_eq(x.r.errors, 0);
	cr_expect_gt(x.st.zero_dropped, 32ull << 20, "the zeroed area was evicted");
	/* Only pages that really hold data (the image, stacks) may be written. */
	cr_expect_lt(x.st.swap_out_bytes, 1ull << 20, "%lu bytes written for zero pages",
		     (unsigned long)x.st.swap_out_bytes);
	/* The same run without hints writes them: the counter can tell. */
	struct run y = run_guest("swap", "zero", "2", PT_2M, HOST_THP, naive, N(naive));
	cr_expect_gt(y.st.swap_out_bytes, 16ull << 20);
}

Test(pager, unused_pages_are_never_written)
{
	struct run x = run_guest("swap", "churn", "4", PT_2M, HOST_THP, limit_4k, N(limit_4k));
	cr_assert_eq(x.status, 0, "%s", x.reason);
	cr_expect_eq(x.r.errors, 0);
	cr_expect_lt(x.st.swap_out_bytes, 1ull << 20, "%lu bytes written", (unsigned long)x.st.swap_out_bytes);
}

Test(pager, volatile_discard_race)
{
	/* 2 passes over 768 blocks: every lookup races make_stable against the host's discards. */
	struct run x = run_guest("swap", "cache", "4", PT_4K, HOST_THP, limit_4k, N(limit_4k));
	cr_assert_eq(x.status, 0, "%s", x.reason);
	cr_expect_eq(x.r.errors, 0, "%lu blocks kept by make_stable were wrong", (unsigned long)x.r.errors);
	cr_expect_gt(x.r.rebuilt, 0, "the host never discarded a block");
	cr_expect_gt(x.st.volatile_discarded, 0);
	cr_expect_lt(x.st.swap_out_bytes, 1ull << 20, "volatile pages were written");
}

Test(pager, lying_guest_hurts_only_itself)
{
	static const struct vm_option o[] = { { "mem-limit", "16M" }, { "swap-unit", "4k" } };
	struct run x = run_guest("liar", NULL, NULL, PT_2M, HOST_THP, o, N(o));
	cr_expect_eq(x.status, 7, "the liar should have lost its data (status %d: %s)", x.status, x.reason);
	cr_expect_gt(x.st.unused_dropped, 0);
	/* The monitor goes on: the next VM runs and its data is intact. */
	expect_sweep_intact(PT_2M, HOST_THP, limit, N(limit));
}

Test(pager, swap_full_is_a_clear_error)
{
	static const struct vm_option o[] = { { "mem-limit", "24M" }, { "swap-size", "8M" } };
	struct run x = run_guest("swap", "sweep", "2", PT_2M, HOST_THP, o, N(o));
	cr_expect_eq(x.status, VM_STATUS_ABNORMAL);
	cr_expect(strstr(x.reason, "swap area full") != NULL, "reason: %s", x.reason);
}

Test(pager, balloon_gives_back_2m_blocks)
{
	static const struct vm_option o[] = { { "balloon", "16M" } };
	struct run x = run_guest("swap", "sweep", "1", PT_2M, HOST_THP, o, N(o));
	cr_assert_eq(x.status, 0, "%s", x.reason);
	cr_expect_eq(x.st.ballooned, 16ull << 20);
	cr_expect_eq(x.r.errors, 0);
}

Test(pager, no_limit_no_pager)
{
	struct run x = run_guest("swap", "sweep", "1", PT_2M, HOST_THP, NULL, 0);
	cr_assert_eq(x.status, 0, "%s", x.reason);
	cr_expect(!x.has_pager);
}

/*
 * PREFETCH: the `prefetch` guest reads back two evicted 4 MiB halves of a
 * buffer, the second after asking for it ahead of use. The test reads the
 * pager's fault count between the guest's phases (staged).
 */
static void step(struct vm *vm, struct beyond_hc_sync *s, uint64_t stage, struct pager_stats *st)
{
	cr_assert_eq(vcpu_run_until_sync(&vm->vcpus[0], s), 0, "ended before stage %lu: %s",
		     (unsigned long)stage, vm->reason);
	cr_assert_eq(s->stage, stage);
	cr_assert_eq(pager_vm_stats(vm, st), 0);
}

Test(pager, prefetch_brings_pages_back_before_use)
{
	static const struct vm_option o[] = { { "mem-limit", "16M" }, { "swap-unit", "4k" } };
	const uint64_t half_pages = (4ull << 20) / 4096;
	int console = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct vm_config cfg = kvm_test_config("prefetch", NULL, 1, console);
	cfg.options = o;
	cfg.n_options = N(o);
	struct vm vm;
	char err[512];
	cr_assert_eq(vm_create(&vm, &kvm_test_host, &cfg, err, sizeof(err)), 0, "%s", err);
	struct beyond_hc_sync s;
	struct pager_stats st[5];
	step(&vm, &s, 1, &st[1]);
	cr_expect_gt(s.arg[0], half_pages * 3 / 2, "only %lu of the buffer's pages were evicted", (unsigned long)s.arg[0]);
	step(&vm, &s, 2, &st[2]);
	uint64_t cold_absent = s.arg[0], cold_faults = st[2].faults - st[1].faults;
	cr_expect_eq(s.arg[1], 0, "first half: %lu words wrong", (unsigned long)s.arg[1]);
	step(&vm, &s, 3, &st[3]);
	cr_expect_gt(s.arg[0], half_pages * 3 / 4, "the second half was not evicted before the prefetch");
	cr_expect_gt(st[3].prefetched, st[2].prefetched + half_pages / 2);
	step(&vm, &s, 4, &st[4]);
	uint64_t warm_absent = s.arg[0], warm_faults = st[4].faults - st[3].faults;
	cr_expect_eq(s.arg[1], 0, "second half: %lu words wrong", (unsigned long)s.arg[1]);
	cr_log_info("prefetch: without %lu faults (%lu pages absent when used), with %lu faults (%lu absent)",
		    (unsigned long)cold_faults, (unsigned long)cold_absent, (unsigned long)warm_faults,
		    (unsigned long)warm_absent);
	cr_expect_gt(cold_faults, half_pages * 3 / 4, "reading the evicted half without prefetch: %lu faults",
		     (unsigned long)cold_faults);
	cr_expect_lt(warm_faults * 10, cold_faults, "prefetch saved too few faults: %lu against %lu",
		     (unsigned long)warm_faults, (unsigned long)cold_faults);
	cr_expect_lt(warm_absent * 10, cold_absent);
	cr_expect_eq(vcpu_run_until_sync(&vm.vcpus[0], &s), -1, "a fifth stage");
	cr_expect_eq(vm.status, 0, "%s", vm.reason);
	vm_destroy(&vm);
	close(console);
}
