/* Hypercall dispatch: port writes to BEYOND_HC_PORT_BASE + nr go to nr's handler. */
#ifndef BEYOND_HYPERCALL_H
#define BEYOND_HYPERCALL_H

#include "hv/vcpu.h"

/* Handles a KVM_EXIT_IO: a hypercall, or the end of the guest for anything else. */
void hypercall_dispatch(struct vcpu *v);

#endif
