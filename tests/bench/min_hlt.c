/*
 * The startup baseline: the least a KVM program can do. Creates a VM with one
 * page of RAM and one vCPU in real mode, runs a single HLT, exits.
 * Compare with `beyond run hello` (make bench-startup).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("/dev/kvm");
		return 1;
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	mem[0] = 0xf4; /* hlt */
	struct kvm_userspace_memory_region r = { .memory_size = 0x1000, .userspace_addr = (uintptr_t)mem };
	ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	struct kvm_run *run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
				   MAP_SHARED, vcpu, 0);
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	ioctl(vcpu, KVM_SET_SREGS, &s);
	struct kvm_regs regs = { .rip = 0, .rflags = 2 };
	ioctl(vcpu, KVM_SET_REGS, &regs);
	if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_HLT) {
		fprintf(stderr, "min_hlt: unexpected exit %u\n", run->exit_reason);
		return 1;
	}
	return 0;
}
