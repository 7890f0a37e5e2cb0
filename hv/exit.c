#include "hv/exit.h"
#include "hv/hypercall.h"
#include "hv/mmio.h"

void exit_handle(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	v->exits[run->exit_reason < KVM_EXIT_COUNTED ? run->exit_reason : KVM_EXIT_COUNTED - 1]++;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		hypercall_dispatch(v);
		break;
	case KVM_EXIT_MMIO:
		mmio_dispatch(v);
		break;
	case KVM_EXIT_HLT:
		vm_crash(v, "vCPU %u executed HLT", v->id);
		break;
	case KVM_EXIT_SHUTDOWN:
		vm_crash(v, "vCPU %u: triple fault (shutdown)", v->id);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_crash(v, "vCPU %u: KVM internal error, suberror %u", v->id, run->internal.suberror);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vm_crash(v, "vCPU %u: VM entry failed, hardware reason %#llx", v->id,
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTR:
		break;
	default:
		vm_crash(v, "vCPU %u: unexpected KVM exit %u", v->id, run->exit_reason);
	}
}
