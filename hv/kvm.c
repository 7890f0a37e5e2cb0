#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "hv/kvm.h"

#define CPUID_MAX_ENTRIES 256
#define CPUID_EXT_FEATURES 0x80000001u
#define CPUID_EDX_PDPE1GB (1u << 26)

static const struct { int cap; const char *name; } required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ" },
};

int kvm_host_open(struct kvm_host *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	h->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (h->fd < 0) {
		snprintf(err, errlen, "cannot open /dev/kvm: %s%s", strerror(errno),
			 errno == ENOENT ? " (no KVM on this host: load kvm_intel, kvm_amd or kvm_pvm)"
			 : errno == EACCES ? " (add yourself to group kvm or run as root)" : "");
		return -1;
	}
	int v = ioctl(h->fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(err, errlen, "KVM API version %d, beyond needs %d", v, KVM_API_VERSION);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++)
		if (ioctl(h->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "KVM lacks %s", required_caps[i].name);
			goto fail;
		}
	h->vcpu_mmap_size = ioctl(h->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (h->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed");
		goto fail;
	}
	h->max_vcpus = ioctl(h->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (h->max_vcpus <= 0)
		h->max_vcpus = ioctl(h->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (h->max_vcpus <= 0)
		h->max_vcpus = 1;

	h->cpuid = calloc(1, sizeof(*h->cpuid) + CPUID_MAX_ENTRIES * sizeof(h->cpuid->entries[0]));
	if (!h->cpuid) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	h->cpuid->nent = CPUID_MAX_ENTRIES;
	if (ioctl(h->fd, KVM_GET_SUPPORTED_CPUID, h->cpuid) < 0) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < h->cpuid->nent; i++)
		if (h->cpuid->entries[i].function == CPUID_EXT_FEATURES)
			h->has_pdpe1gb = !!(h->cpuid->entries[i].edx & CPUID_EDX_PDPE1GB);
	return 0;
fail:
	kvm_host_close(h);
	return -1;
}

void kvm_host_close(struct kvm_host *h)
{
	if (h->fd >= 0)
		close(h->fd);
	free(h->cpuid);
	memset(h, 0, sizeof(*h));
	h->fd = -1;
}

static int param_is(const char *path, const char *yes)
{
	char buf[16] = "";
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	return ok && strchr(yes, buf[0]) != NULL;
}

const char *kvm_mmu_mode(char *detail, size_t len)
{
	int r;
	if (access("/sys/module/kvm_pvm", F_OK) == 0) {
		snprintf(detail, len, "kvm_pvm");
		return "shadow";
	}
	if ((r = param_is("/sys/module/kvm_amd/parameters/npt", "1Yy")) >= 0) {
		snprintf(detail, len, "kvm_amd npt=%d", r);
		return r ? "npt" : "shadow";
	}
	if ((r = param_is("/sys/module/kvm_intel/parameters/ept", "1Yy")) >= 0) {
		snprintf(detail, len, "kvm_intel ept=%d", r);
		return r ? "ept" : "shadow";
	}
	snprintf(detail, len, "unknown KVM module");
	return "unknown";
}
