#include <string.h>
#include "hv/error.h"
#include "hv/hypercall.h"

int vm_register_hypercall(struct vm *vm, unsigned nr, hypercall_fn fn, void *opaque,
			  const char *owner, char *err, size_t errlen)
{
	if (nr >= BEYOND_HC_COUNT)
		return error_set(err, errlen, "%s: hypercall %u is not in the ABI (0..%u)", owner, nr,
				 BEYOND_HC_COUNT - 1);
	struct hypercall_entry *e = &vm->hypercalls[nr];
	if (e->fn)
		return error_set(err, errlen, "%s: hypercall %u is already handled by %s", owner, nr,
				 e->owner);
	*e = (struct hypercall_entry){ fn, opaque, owner };
	return 0;
}

void hypercall_dispatch(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint16_t port = run->io.port;
	unsigned nr = port - BEYOND_HC_PORT_BASE;
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 || run->io.count != 1 ||
	    port < BEYOND_HC_PORT_BASE || nr >= BEYOND_HC_COUNT || !v->vm->hypercalls[nr].fn) {
		vm_crash(v, "vCPU %u: unhandled port I/O: %s port %#x size %u count %u", v->id,
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", port, run->io.size,
			 run->io.count);
		return;
	}
	uint32_t gpa;
	memcpy(&gpa, (uint8_t *)run + run->io.data_offset, 4);
	struct hypercall_entry *e = &v->vm->hypercalls[nr];
	e->fn(v, e->opaque, gpa);
}
