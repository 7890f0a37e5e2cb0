#include "hv/error.h"
#include "hv/mmio.h"
#include "mm/layout.h"
#include "mm/range.h"

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len, mmio_fn fn, void *opaque,
		     const char *owner, char *err, size_t errlen)
{
	if (len == 0 || base < vm->device_base ||
	    !range_inside(base - vm->device_base, len, LAYOUT_DEVICE_WINDOW_SIZE))
		return error_set(err, errlen, "%s: MMIO [%#lx, +%#lx) is not inside the device window "
				 "[%#lx, +%#llx)", owner, (unsigned long)base, (unsigned long)len,
				 (unsigned long)vm->device_base, LAYOUT_DEVICE_WINDOW_SIZE);
	for (unsigned i = 0; i < vm->n_mmio; i++) {
		struct mmio_region *r = &vm->mmio[i];
		if (range_overlaps(base, len, r->base, r->len))
			return error_set(err, errlen, "%s: MMIO [%#lx, +%#lx) overlaps %s's [%#lx, +%#lx)",
					 owner, (unsigned long)base, (unsigned long)len, r->owner,
					 (unsigned long)r->base, (unsigned long)r->len);
	}
	if (vm->n_mmio == VM_MAX_MMIO)
		return error_set(err, errlen, "%s: more than %d MMIO regions", owner, VM_MAX_MMIO);
	vm->mmio[vm->n_mmio++] = (struct mmio_region){ base, len, fn, opaque, owner };
	return 0;
}

void mmio_dispatch(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint64_t addr = v->run->mmio.phys_addr;
	uint32_t len = v->run->mmio.len;
	for (unsigned i = 0; i < vm->n_mmio; i++) {
		struct mmio_region *r = &vm->mmio[i];
		if (addr >= r->base && range_inside(addr - r->base, len, r->len)) {
			r->fn(v, r->opaque, addr - r->base, v->run->mmio.data, len, v->run->mmio.is_write);
			return;
		}
	}
	vm_crash(v, "vCPU %u: MMIO %s of %u bytes at %#lx: no device there", v->id,
		 v->run->mmio.is_write ? "write" : "read", len, (unsigned long)addr);
}
