#include <criterion/criterion.h>
#include <stdio.h>
#include "mm/pagetable.h"
#include "tests/guests/test_guests.h"
#include "tests/kvm/kvm_test.h"

struct kvm_host kvm_test_host;

void kvm_test_open(void)
{
	char err[256];
	if (kvm_host_open(&kvm_test_host, err, sizeof(err))) {
		fprintf(stderr, "!!! SKIPPING KVM TESTS: %s !!!\n", err);
		cr_skip_test("no usable /dev/kvm: %s", err);
	}
}

struct vm_config kvm_test_config(const char *guest, char **arg, unsigned vcpus, int console_fd)
{
	const struct builtin_guest *b = builtin_guest_find(guest);
	if (!b)
		b = test_guest_find(guest);
	cr_assert_not_null(b, "no guest %s", guest);
	return (struct vm_config){
		.name = guest, .image = b->image, .image_size = b->size, .mem_size = 64ull << 20,
		.vcpus = vcpus, .guest_page = PT_2M, .host_pages = HOST_THP, .timeout = 20,
		.argc = arg && *arg ? 1 : 0, .argv = arg, .console_fd = console_fd,
	};
}
