/* MMIO dispatch: accesses to the device window go to the device registered there. */
#ifndef BEYOND_MMIO_H
#define BEYOND_MMIO_H

#include "hv/vcpu.h"

/* Handles a KVM_EXIT_MMIO: the registered device, or the end of the guest. */
void mmio_dispatch(struct vcpu *v);

#endif
