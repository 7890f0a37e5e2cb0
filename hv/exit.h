/* What a vCPU does when KVM_RUN returns: one handler per exit reason. */
#ifndef BEYOND_EXIT_H
#define BEYOND_EXIT_H

#include "hv/vcpu.h"

void exit_handle(struct vcpu *v);

#endif
