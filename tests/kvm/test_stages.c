/*
 * Staged VM tests, as the KVM selftests' GUEST_SYNC: the test steps a vCPU
 * from one sync point to the next and checks (and changes) guest state in
 * between. The `stages` guest also reaches a device in the MMIO window.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "hv/vcpu.h"
#include "mm/layout.h"
#include "tests/kvm/kvm_test.h"

TestSuite(stages, .init = kvm_test_open, .timeout = 60);

struct device_log {
	unsigned reads, writes;
	uint64_t write_offset;
	uint32_t written;
};

/* A register file: writes are logged, a read returns 0x600d0000 | offset. */
static void test_device(struct vcpu *v, void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			int is_write)
{
	(void)v;
	struct device_log *log = opaque;
	uint32_t value = 0x600d0000u | (uint32_t)offset;
	if (is_write) {
		log->writes++;
		log->write_offset = offset;
		memcpy(&log->written, data, len < 4 ? len : 4);
	} else {
		log->reads++;
		memcpy(data, &value, len < 4 ? len : 4);
	}
}

static void make_vm(struct vm *vm)
{
	char err[256];
	int console = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct vm_config cfg = kvm_test_config("stages", NULL, 1, console);
	cr_assert_eq(vm_create(vm, &kvm_test_host, &cfg, err, sizeof(err)), 0, "%s", err);
}

static void step(struct vm *vm, struct beyond_hc_sync *s, uint64_t stage)
{
	cr_assert_eq(vcpu_run_until_sync(&vm->vcpus[0], s), 0, "ended before stage %lu: %s",
		     (unsigned long)stage, vm->reason);
	cr_assert_eq(s->stage, stage);
}

Test(stages, sync_points_device_window_and_guest_memory)
{
	struct vm vm;
	struct beyond_hc_sync s;
	struct device_log log = { 0 };
	char err[256];
	make_vm(&vm);
	/* The device sits 0x100 into the window, where the guest writes at offset 0 and reads at 4. */
	cr_assert_eq(vm_register_mmio(&vm, vm.device_base + 0x100, 0x100, test_device, &log, "test", err,
				      sizeof(err)), 0, "%s", err);

	step(&vm, &s, 1);
	cr_expect_eq(s.arg[0], vm.device_base, "boot info names the window");
	cr_expect_eq(s.arg[1], LAYOUT_DEVICE_WINDOW_SIZE);
	cr_expect_eq(log.reads + log.writes, 0, "no device access before it is due");

	step(&vm, &s, 2);
	cr_expect_eq(log.writes, 1, "a CPL3 guest's MMIO write reached the device");
	cr_expect_eq(log.write_offset, 0);
	cr_expect_eq(log.written, 0xdeadbeef);
	cr_expect_eq(log.reads, 1);
	cr_expect_eq(s.arg[0], 0x600d0004u, "the guest read what the device returned");

	step(&vm, &s, 3);
	cr_expect_eq(s.arg[1], 1);
	uint64_t *shared = guest_mem_ptr(&vm.mem, s.arg[0], sizeof(uint64_t));
	cr_assert_not_null(shared);
	*shared = 77;
	step(&vm, &s, 4);
	cr_expect_eq(s.arg[0], 77, "the guest sees what the test wrote between stages");

	cr_expect_eq(vcpu_run_until_sync(&vm.vcpus[0], &s), -1, "no stage after 4");
	cr_expect_eq(vm.status, 0, "%s", vm.reason);
	vm_destroy(&vm);
}

Test(stages, device_window_without_a_device_ends_the_guest)
{
	struct vm vm;
	struct beyond_hc_sync s;
	make_vm(&vm);
	step(&vm, &s, 1);
	cr_expect_eq(vcpu_run_until_sync(&vm.vcpus[0], &s), -1);
	cr_expect_eq(vm.status, VM_STATUS_ABNORMAL);
	cr_expect(strstr(vm.reason, "MMIO write of 4 bytes") && strstr(vm.reason, "no device there"), "%s",
		  vm.reason);
	vm_destroy(&vm);
}
