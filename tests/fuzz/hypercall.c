/*
 * Fuzz harness: the exit handlers and the core module's hypercalls (hv/exit.c,
 * hv/hypercall.c, hv/mmio.c, hv/core.c) on a fake vCPU of a fake VM whose
 * 64 KiB of guest RAM come from the input. Input: a count byte c, then
 * (c & 7) + 1 exits of 8 bytes { kind, nr, 2 unused, u32 gpa/address },
 * then the guest RAM image. kind's low 2 bits: 0, 1 port I/O (bit 2 in/out,
 * bits 3-4 size, bit 5 count 2), 2 MMIO, 3 the raw exit reason kind >> 2.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "hv/exit.h"
#include "hv/vcpu.h"
#include "hv/vm.h"

#define RAM_SIZE (64u << 10)
#define DATA_OFFSET 256

static struct vm vm;
static struct vcpu vcpu;
static uint8_t *ram;
static union { struct kvm_run run; uint8_t page[4096]; } *run;
static char *args[] = { "arg", NULL };

/* The VM as vm_create() leaves it for the core module, without KVM. */
static void init(void)
{
	char err[256];

	ram = malloc(RAM_SIZE);
	run = calloc(1, sizeof(*run));
	if (!ram || !run)
		abort();
	pthread_mutex_init(&vm.lock, NULL);
	pthread_cond_init(&vm.changed, NULL);
	vm.cfg = (struct vm_config){ .name = "fuzz", .mem_size = RAM_SIZE, .vcpus = 1, .guest_page = 4096,
				     .argc = 1, .argv = args, .console_fd = open("/dev/null", O_WRONLY) };
	vm.mem = (struct guest_mem){ .base = ram, .size = RAM_SIZE };
	vm.heap_start = RAM_SIZE / 2;
	vm.heap_end = RAM_SIZE;
	vm.device_base = 1ull << 30;
	vm.vcpus = &vcpu;
	vcpu = (struct vcpu){ .vm = &vm, .fd = -1, .run = &run->run };
	for (size_t i = 0; i < module_count(); i++)
		if (!strcmp(module_at(i)->name, "core") && module_at(i)->setup(&vm, err, sizeof(err)))
			abort();
}

static void set_exit(const uint8_t *e)
{
	uint8_t kind = e[0];
	uint32_t word;
	struct kvm_run *r = &run->run;

	memcpy(&word, e + 4, 4);
	memset(r, 0, sizeof(*r));
	switch (kind & 3) {
	case 0:
	case 1:
		r->exit_reason = KVM_EXIT_IO;
		r->io.direction = kind & 4 ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
		r->io.size = 1u << ((kind >> 3) & 3);
		r->io.count = 1 + ((kind >> 5) & 1);
		r->io.port = BEYOND_HC_PORT_BASE - 8 + e[1];
		r->io.data_offset = DATA_OFFSET;
		memcpy(run->page + DATA_OFFSET, &word, 4);
		break;
	case 2:
		r->exit_reason = KVM_EXIT_MMIO;
		r->mmio.phys_addr = vm.device_base + word;
		r->mmio.len = e[1] & 15;
		r->mmio.is_write = e[1] >> 7;
		break;
	default:
		r->exit_reason = kind >> 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram)
		init();
	if (size < 1)
		return 0;
	size_t n = (data[0] & 7) + 1;
	if (size < 1 + 8 * n)
		return 0;
	const uint8_t *exits = data + 1, *image = exits + 8 * n;
	size_t image_size = size - 1 - 8 * n;
	if (image_size > RAM_SIZE)
		image_size = RAM_SIZE;
	memcpy(ram, image, image_size);
	memset(ram + image_size, 0, RAM_SIZE - image_size);
	vm.ended = vm.status = 0;
	vm.parked = 0;
	vm.reason[0] = vm.dump[0] = 0;

	for (size_t i = 0; i < n && !vm.ended; i++) {
		set_exit(exits + 8 * i);
		exit_handle(&vcpu);
	}
	return 0;
}
