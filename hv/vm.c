#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "hv/error.h"
#include "hv/seccomp.h"
#include "hv/vcpu.h"
#include "hv/vm.h"
#include "hv/x86.h"
#include "mm/layout.h"
#include "mm/pagetable.h"
#include "mm/range.h"

/* Guest RAM stays below 1 TiB: room for the page tables' and device window's arithmetic. */
#define VM_MAX_MEM (1ull << 40)

static int check_config(const struct vm_config *c, struct kvm_host *kvm, char *err, size_t errlen)
{
	if (c->vcpus < 1 || c->vcpus > LAYOUT_MAX_VCPUS || (int)c->vcpus > kvm->max_vcpus)
		return error_set(err, errlen, "--vcpus must be 1..%d here", kvm->max_vcpus < LAYOUT_MAX_VCPUS
			    ? kvm->max_vcpus : LAYOUT_MAX_VCPUS);
	if (c->guest_page == PT_1G && !kvm->has_pdpe1gb)
		return error_set(err, errlen, "guest 1g pages are not available: this KVM does not offer "
			    "pdpe1gb (KVM_GET_SUPPORTED_CPUID)");
	if (c->mem_size % c->guest_page != 0)
		return error_set(err, errlen, "--mem must be a multiple of the guest page size (%lu KiB)",
			    (unsigned long)(c->guest_page >> 10));
	if (c->mem_size < (4ull << 20) || c->mem_size > VM_MAX_MEM)
		return error_set(err, errlen, "--mem must be 4M..1T");
	return 0;
}

/* Places the page tables at the top of RAM and the vCPU stacks after the image. */
static int layout_ram(struct vm *vm, char *err, size_t errlen)
{
	uint64_t mem = vm->cfg.mem_size;
	uint64_t pt_base = (mem - pt_bytes(mem, vm->cfg.guest_page)) & ~(PT_4K - 1);
	uint64_t stacks;
	if (!align_up_checked(vm->image.end, PT_4K, &stacks))
		return error_set(err, errlen, "image end out of range");
	uint64_t stacks_end = stacks + vm->cfg.vcpus * LAYOUT_STACK_SIZE;
	if (stacks_end > pt_base)
		return error_set(err, errlen, "--mem %lu MiB is too small for the image, %u stacks and page tables",
			    (unsigned long)(mem >> 20), vm->cfg.vcpus);
	if (stacks_end > (4ull << 30))
		return error_set(err, errlen, "image too large: vCPU stacks must lie below 4 GiB");
	vm->stacks_start = stacks;
	vm->heap_start = stacks_end;
	vm->heap_end = pt_base;
	vm->cr3 = pt_build(vm->mem.base, mem, vm->cfg.guest_page, pt_base);
	return 0;
}

int vm_create(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, char *err,
	      size_t errlen)
{
	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->kvm = kvm;
	vm->cfg = *cfg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timeouts ignore wall-clock steps */
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->changed, &ca);
	pthread_condattr_destroy(&ca);
	if (check_config(cfg, kvm, err, errlen))
		return -1;
	if (guest_mem_alloc(&vm->mem, cfg->mem_size, cfg->host_pages, cfg->populate, err, errlen))
		return -1;

	/* Images may use RAM from LAYOUT_IMAGE_MIN up to what the page tables leave. */
	uint64_t load_max = cfg->mem_size - pt_bytes(cfg->mem_size, cfg->guest_page);
	char why[256];
	if (elf_load(cfg->image, cfg->image_size, vm->mem.base, LAYOUT_IMAGE_MIN, load_max, &vm->image,
		     why, sizeof(why)))
		return error_set(err, errlen, "bad guest image %s: %s", cfg->name, why);
	if (layout_ram(vm, err, errlen))
		return -1;
	x86_setup_tables(vm);

	vm->fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return error_set(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = cfg->mem_size,
		.userspace_addr = (uintptr_t)vm->mem.base,
	};
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return error_set(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

	vm->device_base = layout_device_window(cfg->mem_size);
	vm->vcpus = calloc(cfg->vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return error_set(err, errlen, "out of memory");
	for (unsigned i = 0; i < cfg->vcpus; i++)
		vm->vcpus[i].fd = -1; /* so vm_destroy() after a failure closes only what was opened */
	for (unsigned i = 0; i < cfg->vcpus; i++)
		if (vcpu_create(vm, i, err, errlen))
			return -1;
	if (module_count() > VM_MAX_MODULES)
		return error_set(err, errlen, "%zu modules linked in, at most %d", module_count(),
				 VM_MAX_MODULES);
	for (; vm->modules_set_up < module_count(); vm->modules_set_up++) {
		const struct module *m = module_at(vm->modules_set_up);
		if (m->setup && m->setup(vm, err, errlen)) {
			vm->modules_set_up++; /* its teardown cleans up after it */
			return -1;
		}
	}
	return 0;
}

void vm_destroy(struct vm *vm)
{
	while (vm->modules_set_up > 0) {
		const struct module *m = module_at(--vm->modules_set_up);
		if (m->teardown)
			m->teardown(vm);
	}
	for (unsigned i = 0; vm->vcpus && i < vm->cfg.vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->run)
			munmap(v->run, vm->kvm->vcpu_mmap_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	free(vm->vcpus);
	if (vm->fd >= 0)
		close(vm->fd);
	guest_mem_free(&vm->mem);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->changed);
	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
}

static void kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg.vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (v->thread)
			pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	}
}

static void end_locked(struct vm *vm, int status, const char *reason)
{
	if (vm->ended)
		return;
	__atomic_store_n(&vm->ended, 1, __ATOMIC_RELEASE);
	vm->status = status;
	snprintf(vm->reason, sizeof(vm->reason), "%s", reason);
	pthread_cond_broadcast(&vm->changed);
	kick_all(vm);
}

/* Ends the VM with a formatted reason; with crashed, dumps that vCPU's registers first. */
static void vend(struct vm *vm, struct vcpu *crashed, int status, const char *fmt, va_list ap)
{
	char reason[sizeof(vm->reason)];
	vsnprintf(reason, sizeof(reason), fmt, ap);
	pthread_mutex_lock(&vm->lock);
	if (crashed && !vm->ended)
		x86_dump_regs(crashed, vm->dump, sizeof(vm->dump));
	end_locked(vm, status, reason);
	pthread_mutex_unlock(&vm->lock);
}

void vm_end(struct vm *vm, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vend(vm, NULL, status, fmt, ap);
	va_end(ap);
}

void vm_crash(struct vcpu *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vend(v->vm, v, VM_STATUS_ABNORMAL, fmt, ap);
	va_end(ap);
}

const char *vm_option(const struct vm *vm, const char *name, unsigned nth)
{
	for (unsigned i = 0; i < vm->cfg.n_options; i++) {
		const struct vm_option *o = &vm->cfg.options[i];
		if (strcmp(o->name, name) == 0 && nth-- == 0)
			return o->value ? o->value : "";
	}
	return NULL;
}

const char *vm_last_option(const struct vm *vm, const char *name, const char *dflt)
{
	for (unsigned i = vm->cfg.n_options; i-- > 0;) {
		const struct vm_option *o = &vm->cfg.options[i];
		if (strcmp(o->name, name) == 0)
			return o->value ? o->value : "";
	}
	return dflt;
}

void **vm_module_data(struct vm *vm, const struct module *m)
{
	for (size_t i = 0; i < module_count(); i++)
		if (module_at(i) == m)
			return &vm->module_data[i];
	return NULL;
}

void *vm_guest_buffer(struct vcpu *v, const char *what, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&v->vm->mem, gpa, len);
	if (!p)
		vm_end(v->vm, VM_STATUS_ABNORMAL,
		       "bad hypercall from vCPU %u: %s [%#lx, +%#lx) is outside guest RAM (%lu MiB)", v->id,
		       what, (unsigned long)gpa, (unsigned long)len, (unsigned long)(v->vm->mem.size >> 20));
	return p;
}

int vm_copy_from_guest(struct vcpu *v, const char *what, void *dst, uint64_t gpa, uint64_t len)
{
	void *p = vm_guest_buffer(v, what, gpa, len);
	if (!p)
		return -1;
	memcpy(dst, p, len);
	return 0;
}

static void wait_for_end(struct vm *vm)
{
	struct timespec deadline;
	char reason[64];
	double t = vm->cfg.timeout;
	snprintf(reason, sizeof(reason), "timeout after %g s", t);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)t;
	deadline.tv_nsec += (long)((t - (time_t)t) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	while (!vm->ended) {
		if (t <= 0) {
			pthread_cond_wait(&vm->changed, &vm->lock);
		} else {
			int r = pthread_cond_timedwait(&vm->changed, &vm->lock, &deadline);
			if (r == ETIMEDOUT)
				end_locked(vm, VM_STATUS_ABNORMAL, reason);
			else if (r != 0)
				end_locked(vm, VM_STATUS_ABNORMAL, "cannot wait for the timeout");
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

int vm_run(struct vm *vm)
{
	unsigned started = 0;
	for (; started < vm->cfg.vcpus; started++)
		if (vcpu_start(&vm->vcpus[started]) != 0) {
			vm_end(vm, VM_STATUS_ABNORMAL, "cannot start vCPU thread %u", started);
			break;
		}
	/* The vCPU threads armed their own filters as they started. */
	if (vm->cfg.seccomp && seccomp_enter(SECCOMP_MAIN))
		vm_end(vm, VM_STATUS_ABNORMAL, "cannot arm seccomp: %s", strerror(errno));
	wait_for_end(vm);
	for (unsigned i = 0; i < started; i++)
		pthread_join(vm->vcpus[i].thread, NULL);
	return vm->status;
}
