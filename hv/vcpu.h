/* vCPUs: one host thread each, running KVM_RUN and dispatching its exits. */
#ifndef BEYOND_VCPU_H
#define BEYOND_VCPU_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include "guest-runtime/abi.h"
#include "hv/vm.h"

/* Sent to a vCPU thread to make KVM_RUN return (with immediate_exit set first). */
#define VCPU_KICK_SIGNAL SIGUSR1
/* Exit reasons counted one by one; higher ones share the last counter. */
#define KVM_EXIT_COUNTED 32

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	uint64_t exits[KVM_EXIT_COUNTED]; /* KVM_RUN returns by exit reason (the core's stats) */
	/* Set while a test steps this vCPU (vcpu_run_until_sync): where SYNC lands. */
	struct beyond_hc_sync *sync;
	int synced;
	/* Set when the VM joined a scheduler (hv/sched/sched.h): sched_gate() before each KVM_RUN. */
	struct sched_vcpu *sched;
};

int vcpu_create(struct vm *vm, unsigned id, char *err, size_t errlen);
/* Runs the vCPU on a thread of its own until the VM ends. */
int vcpu_start(struct vcpu *v);

/*
 * Runs the vCPU on the calling thread until the guest's next SYNC hypercall,
 * stored in *out; returns 0 there, or -1 once the VM has ended (vm->status
 * and vm->reason say how). For staged tests, as the KVM selftests' vcpu_run()
 * and get_ucall(): check guest state between stages, then call again.
 */
int vcpu_run_until_sync(struct vcpu *v, struct beyond_hc_sync *out);

/* Called by the park hypercall: the vCPU waits, idle, until the guest ends. */
void vcpu_park(struct vcpu *v);

#endif
