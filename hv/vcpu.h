/* vCPUs: one host thread each, running KVM_RUN and dispatching its exits. */
#ifndef BEYOND_VCPU_H
#define BEYOND_VCPU_H

#include <signal.h>
#include <stddef.h>
#include "hv/vm.h"

/* Sent to a vCPU thread to make KVM_RUN return (with immediate_exit set first). */
#define VCPU_KICK_SIGNAL SIGUSR1

int vcpu_create(struct vm *vm, unsigned id, char *err, size_t errlen);
int vcpu_start(struct vcpu *v);

/* Called by the park hypercall: the vCPU waits, idle, until the guest ends. */
void vcpu_park(struct vcpu *v);

#endif
