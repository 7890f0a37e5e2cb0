/* What the VM-level tests share, as the KVM selftests' kvm_util: one KVM, VMs made from guest names. */
#ifndef BEYOND_KVM_TEST_H
#define BEYOND_KVM_TEST_H

#include "hv/vm.h"

extern struct kvm_host kvm_test_host;

/* Suite .init: opens /dev/kvm, or skips the test loudly. */
void kvm_test_open(void);

/*
 * The configuration of a VM of 64 MiB (2M guest pages on THP) running the
 * built-in or test guest `guest` with *arg as its argument (or none if
 * NULL), its console on console_fd, a 20 s timeout. Fails the test if there
 * is no such guest.
 */
struct vm_config kvm_test_config(const char *guest, char **arg, unsigned vcpus, int console_fd);

#endif
