/* The host's KVM: /dev/kvm, its API version and the capabilities beyond relies on. */
#ifndef BEYOND_KVM_H
#define BEYOND_KVM_H

#include <stddef.h>
#include <linux/kvm.h>

struct kvm_host {
	int fd;                      /* /dev/kvm */
	int vcpu_mmap_size;
	int max_vcpus;
	int has_pdpe1gb;             /* guest 1 GiB pages offered */
	struct kvm_cpuid2 *cpuid;    /* KVM_GET_SUPPORTED_CPUID, given to every vCPU */
};

/* Opens and checks /dev/kvm; returns 0 or -1 with a reason in err. */
int kvm_host_open(struct kvm_host *h, char *err, size_t errlen);
void kvm_host_close(struct kvm_host *h);

/* How the host KVM translates guest memory: "ept", "npt", "shadow" (with a detail). */
const char *kvm_mmu_mode(char *detail, size_t len);

#endif
