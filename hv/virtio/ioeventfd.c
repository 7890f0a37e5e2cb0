#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "hv/virtio/ioeventfd.h"

static int ioeventfd(int vm_fd, uint64_t gpa, uint32_t len, int fd, uint32_t flags)
{
	struct kvm_ioeventfd e = { .addr = gpa, .len = len, .fd = fd, .flags = flags };
	return ioctl(vm_fd, KVM_IOEVENTFD, &e);
}

int ioeventfd_assign(int vm_fd, uint64_t gpa, uint32_t len, int fd)
{
	return ioeventfd(vm_fd, gpa, len, fd, 0) < 0 ? -1 : 0;
}

void ioeventfd_deassign(int vm_fd, uint64_t gpa, uint32_t len, int fd)
{
	ioeventfd(vm_fd, gpa, len, fd, KVM_IOEVENTFD_FLAG_DEASSIGN);
}
