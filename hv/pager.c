/*
 * The pager module: per-VM memory limits with the monitor's own swap
 * (mm/pager.h), memory groups of VMs sharing one limit (--mem-group), the
 * cooperative page-state, prefetch and balloon hypercalls, the balloon
 * target moved at run time (beyond balloon, through the control socket),
 * and the VM's memory and swap accounting in --stats.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hv/cli/cli.h"
#include "hv/module.h"
#include "hv/pager.h"
#include "hv/seccomp.h"
#include "hv/stats.h"
#include "hv/vcpu.h"
#include "mm/layout.h"
#include "mm/pager.h"
#include "mm/pagetable.h"

static const struct module_option pager_options[] = {
	{ "mem-limit", "SIZE", "most guest RAM resident on the host; the rest is paged to swap" },
	{ "swap", "PATH", "swap directory or new file (default $TMPDIR or /var/tmp; removed at once)" },
	{ "swap-size", "SIZE", "bound of the swap area (default: the size of RAM)" },
	{ "swap-keep", NULL, "leave the swap file behind (for inspection)" },
	{ "swap-unit", "4k|2m", "unit of eviction and read-back (default 2m on 2M host pages)" },
	{ "pager-mode", "coop|naive", "naive ignores page states and zero pages (default coop)" },
	{ "pager-victim", "clock|fifo", "clock over the guest's accessed bits (default) or install order" },
	{ "balloon", "SIZE", "ask the guest to give back SIZE bytes in 2 MiB blocks (beyond balloon changes it)" },
	{ "mem-group", "NAME", "share one limit (the sum of the members' --mem-limit) with the group's VMs" },
	{ NULL, NULL, NULL },
};

static const struct module pager_module;

static int one_of(const char *v, const char *a, const char *b) { return !strcmp(v, a) || !strcmp(v, b); }

static int pager_check_option(const char *name, const char *value, char *err, size_t errlen)
{
	uint64_t size;
	int ok = 1;
	if (!strcmp(name, "mem-limit") || !strcmp(name, "swap-size") || !strcmp(name, "balloon"))
		ok = parse_size(value, &size) == 0 && (size > 0 || !strcmp(name, "balloon"));
	else if (!strcmp(name, "swap-unit"))
		ok = one_of(value, "4k", "2m");
	else if (!strcmp(name, "pager-mode"))
		ok = one_of(value, "coop", "naive");
	else if (!strcmp(name, "pager-victim"))
		ok = one_of(value, "clock", "fifo");
	else if (!strcmp(name, "swap"))
		ok = *value != 0;
	else if (!strcmp(name, "mem-group"))
		ok = *value && strlen(value) < 64;
	if (!ok)
		snprintf(err, errlen, "bad --%s '%s'", name, value);
	return ok ? 0 : -1;
}

/* The last value given for a size option, or dflt. */
static uint64_t size_option(struct vm *vm, const char *name, uint64_t dflt)
{
	const char *v = vm_last_option(vm, name, NULL);
	uint64_t size;
	return v && parse_size(v, &size) == 0 ? size : dflt;
}

static struct pager *pager_of(struct vm *vm) { return *vm_module_data(vm, &pager_module); }

static void pager_failed(void *opaque, const char *reason)
{
	vm_end(opaque, VM_STATUS_ABNORMAL, "%s", reason);
}

/* Writes a call's 64-bit `ret` field back into the guest's struct. */
static void put_ret(struct vcpu *v, uint64_t gpa, uint64_t ret)
{
	uint8_t *p = vm_guest_buffer(v, "hypercall struct", gpa, sizeof(ret));
	if (p)
		memcpy(p, &ret, sizeof(ret));
}

static void hc_pagestate(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct beyond_hc_pagestate a;
	char err[256];
	if (vm_copy_from_guest(v, "pagestate struct", &a, gpa, sizeof(a)))
		return;
	/* Naive paging ignores hints: the table is not used, and the guest is told so. */
	struct pager *p = strcmp(vm_last_option(v->vm, "pager-mode", "coop"), "naive") ? pager_of(v->vm) : NULL;
	if (p && pager_register_table(p, a.table, err, sizeof(err))) {
		vm_end(v->vm, VM_STATUS_ABNORMAL, "bad hypercall from vCPU %u: %s", v->id, err);
		return;
	}
	put_ret(v, gpa + offsetof(struct beyond_hc_pagestate, ret), p ? 0 : (uint64_t)-1);
}

static void hc_prefetch(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct beyond_hc_range a;
	if (vm_copy_from_guest(v, "prefetch struct", &a, gpa, sizeof(a)) ||
	    !vm_guest_buffer(v, "prefetch range", a.gpa, a.len))
		return;
	if (pager_of(v->vm))
		pager_prefetch(pager_of(v->vm), a.gpa, a.len);
}

static void hc_balloon(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct beyond_hc_balloon a;
	char err[256];
	if (vm_copy_from_guest(v, "balloon struct", &a, gpa, sizeof(a)))
		return;
	struct pager *p = pager_of(v->vm);
	int r = p ? pager_balloon(p, a.op, a.gpa, a.len, err, sizeof(err)) : -1;
	put_ret(v, gpa + offsetof(struct beyond_hc_balloon, ret), (uint64_t)(int64_t)r);
}

static void pager_thread_start(void *opaque)
{
	struct vm *vm = opaque;
	if (vm->cfg.seccomp && seccomp_enter(SECCOMP_PAGER))
		vm_end(vm, VM_STATUS_ABNORMAL, "pager: cannot arm seccomp: %s", strerror(errno));
}

static int pager_setup(struct vm *vm, char *err, size_t errlen)
{
	static const struct { unsigned nr; hypercall_fn fn; } calls[] = {
		{ BEYOND_HC_PAGESTATE, hc_pagestate }, { BEYOND_HC_PREFETCH, hc_prefetch },
		{ BEYOND_HC_BALLOON, hc_balloon },
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		if (vm_register_hypercall(vm, calls[i].nr, calls[i].fn, NULL, "pager", err, errlen))
			return -1;
	uint64_t mem = vm->cfg.mem_size;
	if (!vm_option(vm, "mem-limit", 0) && !vm_option(vm, "balloon", 0) && !vm_option(vm, "mem-group", 0))
		return 0; /* no limit, no balloon: guest RAM stays as the host backs it */
	int huge = vm->cfg.host_pages == HOST_THP || vm->cfg.host_pages == HOST_HUGETLB2M;
	int naive = !strcmp(vm_last_option(vm, "pager-mode", "coop"), "naive");
	const char *unit = vm_last_option(vm, "swap-unit", huge && !naive ? "2m" : "4k");
	struct pager_config c = {
		.limit = size_option(vm, "mem-limit", mem),
		.unit = !strcmp(unit, "2m") ? PT_2M : PT_4K,
		.hints = !naive,
		.fifo = !strcmp(vm_last_option(vm, "pager-victim", "clock"), "fifo"),
		.swap_path = vm_last_option(vm, "swap", NULL),
		.swap_size = size_option(vm, "swap-size", 0),
		.swap_keep = vm_option(vm, "swap-keep", 0) != NULL,
		.group = vm_last_option(vm, "mem-group", NULL),
		.balloon_target = size_option(vm, "balloon", 0),
		.cr3 = vm->cr3,
		.fail = pager_failed,
		.thread_start = pager_thread_start,
		.opaque = vm,
	};
	if (c.limit > mem)
		c.limit = mem;
	struct pager **slot = (struct pager **)vm_module_data(vm, &pager_module);
	if (pager_start(slot, &vm->mem, &c, err, errlen))
		return -1;
	/* The monitor's tables (GDT, IDT, TSSs, kernel stacks; the page tables) stay resident. */
	if (pager_pin(*slot, 0, LAYOUT_IMAGE_MIN) || pager_pin(*slot, vm->heap_end, mem - vm->heap_end)) {
		snprintf(err, errlen, "--mem-limit %lu MiB is too small for the monitor's own tables",
			 (unsigned long)(c.limit >> 20));
		return -1;
	}
	return 0;
}

static void pager_teardown(struct vm *vm)
{
	struct pager **slot = (struct pager **)vm_module_data(vm, &pager_module);
	pager_stop(*slot);
	*slot = NULL;
}

int pager_vm_stats(struct vm *vm, struct pager_stats *s)
{
	struct pager *p = pager_of(vm);
	if (!p)
		return -1;
	pager_get_stats(p, s);
	return 0;
}

struct stat_row {
	const char *name;
	uint64_t v;
};

static void stat_rows(struct stats_out *o, const struct stat_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		stats_u64(o, rows[i].name, rows[i].v);
}

/*
 * Two groups: `memory` (what is resident, dropped, ballooned, the group's
 * budget) and `swap`, the I/O of the monitor's own swap file only. A guest's
 * disk I/O is the virtio-blk module's; neither counts the other.
 */
static void pager_stats(struct vm *vm, struct stats_out *o)
{
	struct guest_mem_usage u;
	struct pager_stats s;
	if (pager_vm_stats(vm, &s))
		return;
	stats_group(o, "memory");
	const struct stat_row mem[] = {
		{ "limit", s.limit }, { "unit", s.unit }, { "resident", s.resident },
		{ "resident_peak", s.resident_peak }, { "pinned", s.pinned }, { "ballooned", s.ballooned },
		{ "balloon_target", s.balloon_target }, { "zero_dropped", s.zero_dropped },
		{ "unused_dropped", s.unused_dropped }, { "volatile_discarded", s.volatile_discarded },
		{ "faults", s.faults }, { "zero_fills", s.zero_fills }, { "prefetched", s.prefetched },
		{ "collapsed", s.collapsed }, { "collapse_failed", s.collapse_failed },
		{ "clock_scanned", s.clock_scanned }, { "clock_referenced", s.clock_referenced },
	};
	stat_rows(o, mem, sizeof(mem) / sizeof(mem[0]));
	if (s.group_limit) {
		const struct stat_row group[] = {
			{ "group_limit", s.group_limit }, { "group_resident", s.group_resident },
			{ "group_resident_peak", s.group_resident_peak }, { "evicted_for_group", s.evicted_for_group },
		};
		stat_rows(o, group, sizeof(group) / sizeof(group[0]));
	}
	if (guest_mem_usage(&vm->mem, &u) == 0) {
		stats_u64(o, "host_resident", u.resident);
		stats_u64(o, "host_huge", u.huge);
	}
	stats_end(o);
	stats_group(o, "swap");
	const struct stat_row swap[] = {
		{ "size", s.swap_size }, { "used", s.swapped }, { "swap_outs", s.swap_outs },
		{ "swap_out_bytes", s.swap_out_bytes }, { "swap_ins", s.swap_ins }, { "swap_in_bytes", s.swap_in_bytes },
	};
	stat_rows(o, swap, sizeof(swap) / sizeof(swap[0]));
	stats_num(o, "swap_out_median_us", s.out_median_us);
	stats_num(o, "swap_out_p99_us", s.out_p99_us);
	stats_num(o, "swap_in_median_us", s.in_median_us);
	stats_num(o, "swap_in_p99_us", s.in_p99_us);
	stats_end(o);
}

int pager_vm_balloon(struct vm *vm, uint64_t bytes, char *err, size_t errlen)
{
	struct pager *p = pager_of(vm);
	if (!p)
		return snprintf(err, errlen, "VM %s runs without a pager (start it with --balloon 0 or --mem-limit)",
				vm->cfg.name), -1;
	if (bytes > vm->cfg.mem_size)
		return snprintf(err, errlen, "VM %s has only %lu MiB of RAM", vm->cfg.name,
				(unsigned long)(vm->cfg.mem_size >> 20)), -1;
	pager_set_balloon_target(p, bytes);
	return 0;
}

static const struct module pager_module = {
	.name = "pager",
	.options = pager_options,
	.check_option = pager_check_option,
	.setup = pager_setup,
	.teardown = pager_teardown,
	.stats = pager_stats,
};
MODULE_REGISTER(pager_module);
