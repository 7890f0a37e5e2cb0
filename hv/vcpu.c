#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "hv/vcpu.h"
#include "hv/x86.h"

static void kick_handler(int sig) { (void)sig; }

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL); /* no SA_RESTART: KVM_RUN must return EINTR */
}

int vcpu_create(struct vm *vm, unsigned id, char *err, size_t errlen)
{
	struct vcpu *v = &vm->vcpus[id];
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", id, strerror(errno));
		return -1;
	}
	v->run = mmap(NULL, vm->kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		snprintf(err, errlen, "mmap of vCPU %u run area: %s", id, strerror(errno));
		return -1;
	}
	if (id == 0) {
		int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
		vm->tsc_hz = khz > 0 ? (uint64_t)khz * 1000 : 0;
	}
	return x86_setup_vcpu(v, err, errlen);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint16_t port = run->io.port;
	unsigned nr = port - BEYOND_HC_PORT_BASE;
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 || run->io.count != 1 ||
	    port < BEYOND_HC_PORT_BASE || nr >= BEYOND_HC_COUNT || !v->vm->hypercalls[nr]) {
		vm_crash(v, "vCPU %u: unhandled port I/O: %s port %#x size %u count %u", v->id,
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", port, run->io.size,
			 run->io.count);
		return;
	}
	uint32_t gpa;
	memcpy(&gpa, (uint8_t *)run + run->io.data_offset, 4);
	v->vm->hypercalls[nr](v, gpa);
}

static void handle_mmio(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint64_t addr = v->run->mmio.phys_addr;
	uint32_t len = v->run->mmio.len;
	for (unsigned i = 0; i < vm->n_mmio; i++) {
		struct mmio_region *r = &vm->mmio[i];
		if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base)) {
			r->fn(v, r->opaque, addr - r->base, v->run->mmio.data, len, v->run->mmio.is_write);
			return;
		}
	}
	vm_crash(v, "vCPU %u: MMIO %s of %u bytes at %#lx: no device there", v->id,
		 v->run->mmio.is_write ? "write" : "read", len, (unsigned long)addr);
}

static void handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
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

static int vm_ended(struct vm *vm)
{
	return __atomic_load_n(&vm->ended, __ATOMIC_ACQUIRE);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	if (v->vm->cfg.pin) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(v->vm->cfg.pin_cpu + v->id, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			vm_end(v->vm, VM_STATUS_ABNORMAL, "cannot pin vCPU %u to CPU %u: %s", v->id,
			       v->vm->cfg.pin_cpu + v->id, strerror(errno));
	}
	while (!vm_ended(v->vm)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vm_crash(v, "vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
			break;
		}
		handle_exit(v);
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	pthread_once(&kick_once, install_kick_handler);
	return pthread_create(&v->thread, NULL, vcpu_thread, v);
}

void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	pthread_mutex_lock(&vm->lock);
	vm->parked++;
	int all = vm->parked == vm->cfg.vcpus;
	pthread_mutex_unlock(&vm->lock);
	if (all)
		vm_end(vm, VM_STATUS_ABNORMAL, "every vCPU parked and none called exit");
	pthread_mutex_lock(&vm->lock);
	while (!vm->ended)
		pthread_cond_wait(&vm->changed, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}
