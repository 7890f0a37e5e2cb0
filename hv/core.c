/*
 * The core module: the hypercalls every guest has (console, exit, boot info,
 * fault report, park, result records, sync points).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "hv/module.h"
#include "hv/stats.h"
#include "hv/vcpu.h"
#include "mm/layout.h"

static void hc_console(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct beyond_hc_console a;
	if (vm_copy_from_guest(v, "console struct", &a, gpa, sizeof(a)))
		return;
	if (a.len > BEYOND_CONSOLE_MAX) {
		vm_end(v->vm, VM_STATUS_ABNORMAL, "bad hypercall from vCPU %u: console length %lu over %u",
		       v->id, (unsigned long)a.len, BEYOND_CONSOLE_MAX);
		return;
	}
	const char *p = vm_guest_buffer(v, "console buffer", a.buf, a.len);
	if (!p)
		return;
	/* Copy first: another vCPU may rewrite the buffer while we write it out. */
	char buf[BEYOND_CONSOLE_MAX];
	memcpy(buf, p, a.len);
	for (size_t done = 0; done < a.len;) {
		ssize_t n = write(v->vm->cfg.console_fd, buf + done, a.len - done);
		if (n <= 0)
			break; /* a closed console loses output, not the guest */
		done += n;
	}
}

static void hc_exit(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct beyond_hc_exit a;
	if (vm_copy_from_guest(v, "exit struct", &a, gpa, sizeof(a)))
		return;
	vm_end(v->vm, a.code > 255 ? 255 : (int)a.code, "exit(%lu)", (unsigned long)a.code);
}

/* Lays out struct beyond_bootinfo and the argument strings in the guest's buffer. */
static void hc_bootinfo(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct vm *vm = v->vm;
	struct beyond_hc_bootinfo a;
	if (vm_copy_from_guest(v, "bootinfo struct", &a, gpa, sizeof(a)))
		return;
	int argc = vm->cfg.argc + 1;
	if (argc > BEYOND_MAX_ARGS)
		argc = BEYOND_MAX_ARGS;
	uint64_t need = sizeof(struct beyond_bootinfo);
	for (int i = 0; i < argc; i++)
		need += strlen(i == 0 ? vm->cfg.name : vm->cfg.argv[i - 1]) + 1;
	uint64_t ret = 0;
	if (a.len < need) {
		ret = need;
	} else {
		uint8_t *buf = vm_guest_buffer(v, "bootinfo buffer", a.buf, need);
		if (!buf)
			return;
		struct beyond_bootinfo bi = {
			.abi_version = BEYOND_ABI_VERSION,
			.vcpu_id = v->id,
			.vcpu_count = vm->cfg.vcpus,
			.guest_page_size_log2 = __builtin_ctzll(vm->cfg.guest_page),
			.mem_size = vm->cfg.mem_size,
			.heap_start = vm->heap_start,
			.heap_end = vm->heap_end,
			.device_base = vm->device_base,
			.device_size = LAYOUT_DEVICE_WINDOW_SIZE,
			.tsc_hz = vm->tsc_hz,
			.argc = argc,
		};
		uint64_t off = sizeof(bi);
		for (int i = 0; i < argc; i++) {
			const char *s = i == 0 ? vm->cfg.name : vm->cfg.argv[i - 1];
			size_t n = strlen(s) + 1;
			memcpy(buf + off, s, n);
			bi.argv[i] = a.buf + off;
			off += n;
		}
		memcpy(buf, &bi, sizeof(bi));
	}
	uint8_t *ret_field = vm_guest_buffer(v, "bootinfo struct", gpa + offsetof(struct beyond_hc_bootinfo, ret), 8);
	if (ret_field)
		memcpy(ret_field, &ret, 8);
}

static const char *const vector_names[32] = {
	"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode",
	"device not available", "double fault", "coprocessor overrun", "invalid TSS",
	"segment not present", "stack fault", "general protection", "page fault", "reserved",
	"x87 floating point", "alignment check", "machine check", "SIMD floating point",
	"virtualization", "control protection",
};

static void hc_fault(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct beyond_hc_fault f;
	if (vm_copy_from_guest(v, "fault struct", &f, gpa, sizeof(f)))
		return;
	const char *name = f.vector < 32 && vector_names[f.vector] ? vector_names[f.vector] : "exception";
	char cr2[40] = "";
	if (f.vector == 14)
		snprintf(cr2, sizeof(cr2), " cr2=%#lx", (unsigned long)f.cr2);
	vm_end(v->vm, VM_STATUS_ABNORMAL,
	       "vCPU %u: %s (vector %lu, error %#lx) at rip=%#lx rsp=%#lx cpl=%lu%s", v->id, name,
	       (unsigned long)f.vector, (unsigned long)f.error_code, (unsigned long)f.rip,
	       (unsigned long)f.rsp, (unsigned long)(f.cs & 3), cr2);
}

/* Records are small and fixed-size; the bound keeps a hostile len harmless. */
#define RESULT_MAX 256

static void hc_result(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct beyond_hc_result a;
	uint8_t rec[RESULT_MAX];
	if (vm_copy_from_guest(v, "result struct", &a, gpa, sizeof(a)))
		return;
	if (a.len > RESULT_MAX) {
		vm_end(v->vm, VM_STATUS_ABNORMAL, "bad hypercall from vCPU %u: result record of %u bytes",
		       v->id, a.len);
		return;
	}
	if (vm_copy_from_guest(v, "result record", rec, a.buf, a.len))
		return;
	if (v->vm->cfg.on_result)
		v->vm->cfg.on_result(v->vm->cfg.opaque, a.type, rec, a.len);
}

static void hc_park(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	(void)gpa;
	vcpu_park(v);
}

/* Only a vCPU being stepped by a test stops here (vcpu_run_until_sync). */
static void hc_sync(struct vcpu *v, void *opaque, uint64_t gpa)
{
	(void)opaque;
	struct beyond_hc_sync a;
	if (vm_copy_from_guest(v, "sync struct", &a, gpa, sizeof(a)) || !v->sync)
		return;
	*v->sync = a;
	v->synced = 1;
}

static const struct {
	unsigned nr;
	hypercall_fn fn;
} core_hypercalls[] = {
	{ BEYOND_HC_CONSOLE, hc_console }, { BEYOND_HC_EXIT, hc_exit },
	{ BEYOND_HC_BOOTINFO, hc_bootinfo }, { BEYOND_HC_FAULT, hc_fault },
	{ BEYOND_HC_PARK, hc_park }, { BEYOND_HC_RESULT, hc_result }, { BEYOND_HC_SYNC, hc_sync },
};

static int core_setup(struct vm *vm, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(core_hypercalls) / sizeof(core_hypercalls[0]); i++)
		if (vm_register_hypercall(vm, core_hypercalls[i].nr, core_hypercalls[i].fn, NULL, "core",
					  err, errlen))
			return -1;
	return 0;
}

static void core_stats(struct vm *vm, struct stats_out *o)
{
	static const struct { unsigned reason; const char *name; } counted[] = {
		{ KVM_EXIT_IO, "hypercall_exits" }, { KVM_EXIT_MMIO, "mmio_exits" },
		{ KVM_EXIT_INTR, "signal_exits" },
	};
	for (unsigned i = 0; i < vm->cfg.vcpus; i++) {
		char name[16];
		uint64_t all = 0;
		for (unsigned r = 0; r < KVM_EXIT_COUNTED; r++)
			all += vm->vcpus[i].exits[r];
		snprintf(name, sizeof(name), "vcpu%u", i);
		stats_group(o, name);
		stats_u64(o, "exits", all);
		for (size_t k = 0; k < sizeof(counted) / sizeof(counted[0]); k++)
			stats_u64(o, counted[k].name, vm->vcpus[i].exits[counted[k].reason]);
		stats_end(o);
	}
}

static const struct module core_module = { .name = "core", .setup = core_setup, .stats = core_stats };
MODULE_REGISTER(core_module);
