/*
 * KVM_IOEVENTFD: a guest write to a device register signals an eventfd
 * inside KVM instead of exiting to the monitor (about 3 µs instead of 31 µs
 * from CPL3 under kvm_pvm), so a queue notification wakes the I/O thread
 * without stopping the vCPU for a round trip to user space.
 */
#ifndef BEYOND_IOEVENTFD_H
#define BEYOND_IOEVENTFD_H

#include <stdint.h>

/* Signals fd on every write of len bytes to gpa; 0, or -1 with errno (KVM refused). */
int ioeventfd_assign(int vm_fd, uint64_t gpa, uint32_t len, int fd);
/* Undoes ioeventfd_assign(). */
void ioeventfd_deassign(int vm_fd, uint64_t gpa, uint32_t len, int fd);

#endif
