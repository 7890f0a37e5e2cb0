#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "hv/exit.h"
#include "hv/sched/sched.h"
#include "hv/seccomp.h"
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

static int vm_ended(struct vm *vm)
{
	return __atomic_load_n(&vm->ended, __ATOMIC_ACQUIRE);
}

/* One KVM_RUN and its exit; -1 once the VM has ended. */
static int run_once(struct vcpu *v)
{
	if (v->sched && sched_gate(v) < 0)
		return -1;
	if (vm_ended(v->vm))
		return -1;
	int e = ioctl(v->fd, KVM_RUN, 0) < 0 ? errno : 0;
	if (v->sched)
		sched_left(v);
	if (e) {
		if (e != EINTR && e != EAGAIN)
			vm_crash(v, "vCPU %u: KVM_RUN: %s", v->id, strerror(e));
		return 0;
	}
	exit_handle(v);
	return 0;
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
	if (v->vm->cfg.seccomp && seccomp_enter(SECCOMP_VCPU))
		vm_end(v->vm, VM_STATUS_ABNORMAL, "vCPU %u: cannot arm seccomp: %s", v->id, strerror(errno));
	while (run_once(v) == 0)
		;
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	pthread_once(&kick_once, install_kick_handler);
	return pthread_create(&v->thread, NULL, vcpu_thread, v);
}

int vcpu_run_until_sync(struct vcpu *v, struct beyond_hc_sync *out)
{
	pthread_once(&kick_once, install_kick_handler);
	v->thread = pthread_self(); /* so that vm_end() can kick this thread */
	v->sync = out;
	v->synced = 0;
	while (!v->synced)
		if (run_once(v) < 0)
			break;
	v->sync = NULL;
	return v->synced ? 0 : -1;
}

void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (v->sched)
		sched_park(v);
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
