/*
 * The scheduler module: per-VM scheduling options, the paravirtual
 * WAIT/KICK/YIELD hypercalls and the accounting (--stats, beyond stat).
 * Every VM gets the hypercalls; a VM joins the scheduler when its
 * vm_config names one.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "hv/error.h"
#include "hv/sched/sched_impl.h"
#include "hv/stats.h"
#include "hv/vcpu.h"

static const struct module_option sched_module_options[] = {
	{ "shares", "N", "scheduler weight of this VM (default 1)" },
	{ "cap", "FRACTION", "at most this fraction of the scheduler's CPUs (0.25 or 25%)" },
	{ "reserve", "FRACTION", "at least this fraction of the scheduler's CPUs when it wants them" },
	{ "group", "NAME", "scheduler group (a [group NAME] section of --config)" },
	{ NULL, NULL, NULL },
};

static const struct module sched_module;

static int check_option(const char *name, const char *value, char *err, size_t errlen)
{
	double v;
	if (strcmp(name, "shares") == 0 && sched_parse_shares(value, &v))
		return error_set(err, errlen, "'%s' is not a weight (0 < N <= 1000000)", value);
	if ((strcmp(name, "cap") == 0 || strcmp(name, "reserve") == 0) && sched_parse_fraction(value, &v))
		return error_set(err, errlen, "'%s' is not a fraction in (0, 1] (0.25 or 25%%)", value);
	if (strcmp(name, "group") == 0 && (!*value || strlen(value) > 63))
		return error_set(err, errlen, "a group name has 1..63 characters");
	return 0;
}

static struct sched_vm *svm_of(struct vm *vm)
{
	return *vm_module_data(vm, &sched_module);
}

/* Blocks the calling vCPU until kicked, the deadline (0: none) or the VM's end (under vm->lock). */
static int block(struct sched_vcpu *sv, uint64_t deadline)
{
	struct vm *vm = sv->v->vm;
	int timed_out = 0;
	if (!sv->kick_pending) {
		sv->wait_mark = sched_now(); /* sample() moves it on while the wait lasts */
		sv->waiting = 1;
		sched_demand_change(sv->svm, -1);
		while (!sv->kick_pending && !vm->ended && !timed_out) {
			if (!deadline) {
				pthread_cond_wait(&vm->changed, &vm->lock);
			} else {
				struct timespec ts = { (time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull) };
				timed_out = pthread_cond_timedwait(&vm->changed, &vm->lock, &ts) != 0 &&
					    sched_now() >= deadline;
			}
		}
		sv->waiting = 0;
		sched_demand_change(sv->svm, 1);
		sv->c.wait_ns += sched_now() - sv->wait_mark;
	}
	int kicked = sv->kick_pending;
	sv->kick_pending = 0;
	return kicked ? BEYOND_WAIT_KICKED : BEYOND_WAIT_TIMEOUT;
}

static void put_ret(struct vcpu *v, uint64_t gpa, uint64_t ret, const char *what)
{
	uint64_t *p = vm_guest_buffer(v, what, gpa, sizeof(ret));
	if (p)
		memcpy(p, &ret, sizeof(ret));
}

static void hc_wait(struct vcpu *v, void *opaque, uint64_t gpa)
{
	struct sched_vm *svm = opaque;
	struct sched_vcpu *sv = &svm->vcpus[v->id];
	struct beyond_hc_wait a;
	if (vm_copy_from_guest(v, "wait struct", &a, gpa, sizeof(a)))
		return;
	uint64_t max = (uint64_t)(VM_MAX_TIMEOUT * 1e9), now = sched_now();
	uint64_t deadline = a.timeout_ns ? now + (a.timeout_ns < max ? a.timeout_ns : max) : 0;
	pthread_mutex_lock(&v->vm->lock);
	sv->c.waits++;
	uint64_t ret = block(sv, deadline);
	pthread_mutex_unlock(&v->vm->lock);
	put_ret(v, gpa + offsetof(struct beyond_hc_wait, ret), ret, "wait struct");
}

/* A vCPU id of this VM, or the guest ends: a VM never reaches another VM's vCPUs. */
static int check_vcpus(struct vcpu *v, const char *call, uint64_t mask)
{
	unsigned n = v->vm->cfg.vcpus;
	if (n < 64 && (mask >> n)) {
		vm_end(v->vm, VM_STATUS_ABNORMAL, "bad hypercall from vCPU %u: %s of vCPU %u, the VM has %u",
		       v->id, call, 63 - __builtin_clzll(mask), n);
		return -1;
	}
	return 0;
}

static void hc_kick(struct vcpu *v, void *opaque, uint64_t gpa)
{
	struct sched_vm *svm = opaque;
	struct beyond_hc_kick a;
	uint64_t woken = 0;
	if (vm_copy_from_guest(v, "kick struct", &a, gpa, sizeof(a)) || check_vcpus(v, "kick", a.vcpus))
		return;
	pthread_mutex_lock(&v->vm->lock);
	svm->vcpus[v->id].c.kicks++;
	for (unsigned j = 0; j < v->vm->cfg.vcpus; j++)
		if (a.vcpus >> j & 1) {
			woken += svm->vcpus[j].waiting;
			svm->vcpus[j].kick_pending = 1;
		}
	if (woken)
		pthread_cond_broadcast(&v->vm->changed);
	pthread_mutex_unlock(&v->vm->lock);
	put_ret(v, gpa + offsetof(struct beyond_hc_kick, ret), woken, "kick struct");
}

/*
 * Under gang a vCPU has its CPU to itself: a yield waits for the next slice
 * (or a kick), and a VM whose vCPUs all yield gives its CPUs to the next
 * VM at once. Elsewhere Linux picks the next thread.
 */
static void hc_yield(struct vcpu *v, void *opaque, uint64_t gpa)
{
	struct sched_vm *svm = opaque;
	struct sched_vcpu *sv = &svm->vcpus[v->id];
	struct beyond_hc_yield a;
	if (vm_copy_from_guest(v, "yield struct", &a, gpa, sizeof(a)))
		return;
	if (a.target != BEYOND_YIELD_ANY &&
	    (a.target >= v->vm->cfg.vcpus ? check_vcpus(v, "yield to", a.target < 64 ? 1ull << a.target : ~0ull) : 0))
		return;
	pthread_mutex_lock(&v->vm->lock);
	sv->c.yields++;
	int gang = svm->s && sched_policy(svm->s) == SCHED_GANG;
	if (gang)
		block(sv, svm->slice_end);
	pthread_mutex_unlock(&v->vm->lock);
	if (!gang)
		sched_yield();
}

static int sched_setup(struct vm *vm, char *err, size_t errlen)
{
	static const struct { unsigned nr; hypercall_fn fn; } calls[] = {
		{ BEYOND_HC_WAIT, hc_wait }, { BEYOND_HC_KICK, hc_kick }, { BEYOND_HC_YIELD, hc_yield },
	};
	struct sched_vm *svm = calloc(1, sizeof(*svm));
	if (!svm || !(svm->vcpus = calloc(vm->cfg.vcpus, sizeof(*svm->vcpus)))) {
		free(svm);
		return error_set(err, errlen, "out of memory");
	}
	*vm_module_data(vm, &sched_module) = svm;
	svm->vm = vm;
	svm->index = -1;
	svm->demanding = vm->cfg.vcpus;
	for (unsigned j = 0; j < vm->cfg.vcpus; j++) {
		svm->vcpus[j].svm = svm;
		svm->vcpus[j].v = &vm->vcpus[j];
	}
	for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++)
		if (vm_register_hypercall(vm, calls[k].nr, calls[k].fn, svm, "sched", err, errlen))
			return -1;
	if (!vm->cfg.sched)
		return 0;
	struct sched_share p = { .shares = 1 };
	const char *v;
	if ((v = vm_last_option(vm, "shares", NULL)))
		sched_parse_shares(v, &p.shares);
	if ((v = vm_last_option(vm, "cap", NULL)))
		sched_parse_fraction(v, &p.cap);
	if ((v = vm_last_option(vm, "reserve", NULL)))
		sched_parse_fraction(v, &p.reserve);
	return sched_attach(vm->cfg.sched, svm, vm_last_option(vm, "group", NULL), &p, err, errlen);
}

static void sched_teardown(struct vm *vm)
{
	struct sched_vm *svm = svm_of(vm);
	if (!svm)
		return;
	if (svm->s)
		svm->s->vms[svm->index] = NULL;
	for (unsigned j = 0; j < vm->cfg.vcpus; j++)
		vm->vcpus[j].sched = NULL;
	free(svm->vcpus);
	free(svm);
	*vm_module_data(vm, &sched_module) = NULL;
}

uint64_t sched_vm_cpu_ns(struct vm *vm)
{
	struct sched_vm *svm = svm_of(vm);
	uint64_t sum = 0;
	pthread_mutex_lock(&vm->lock);
	for (unsigned j = 0; svm && j < vm->cfg.vcpus; j++)
		sum += svm->vcpus[j].c.cpu_ns;
	pthread_mutex_unlock(&vm->lock);
	return sum;
}

static void put_counters(struct stats_out *o, const struct sched_counters *c)
{
	stats_u64(o, "cpu_ns", c->cpu_ns);
	stats_u64(o, "steal_ns", c->steal_ns);
	stats_u64(o, "wait_ns", c->wait_ns);
	stats_u64(o, "slices", c->slices);
	stats_u64(o, "kicks", c->kicks);
	stats_u64(o, "waits", c->waits);
	stats_u64(o, "yields", c->yields);
}

static void sched_stats(struct vm *vm, struct stats_out *o)
{
	struct sched_vm *svm = svm_of(vm);
	struct sched_counters sum = { 0 }, each[SCHED_MAX_VCPUS];
	unsigned n = vm->cfg.vcpus < SCHED_MAX_VCPUS ? vm->cfg.vcpus : SCHED_MAX_VCPUS;
	/* A consistent snapshot: `beyond stat` reads while the VM runs. */
	pthread_mutex_lock(&vm->lock);
	for (unsigned j = 0; j < n; j++)
		each[j] = svm->vcpus[j].c;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned j = 0; j < n; j++) {
		sum.cpu_ns += each[j].cpu_ns;
		sum.steal_ns += each[j].steal_ns;
		sum.wait_ns += each[j].wait_ns;
		sum.slices += each[j].slices;
		sum.kicks += each[j].kicks;
		sum.waits += each[j].waits;
		sum.yields += each[j].yields;
	}
	if (svm->s) {
		const struct sched_entity *e = &svm->s->state.vm[svm->index];
		stats_group(o, "settings");
		stats_num(o, "shares", e->p.shares);
		stats_num(o, "cap", e->p.cap);
		stats_num(o, "reserve", e->p.reserve);
		stats_end(o);
	}
	put_counters(o, &sum);
	for (unsigned j = 0; j < n; j++) {
		char name[16];
		snprintf(name, sizeof(name), "vcpu%u", j);
		stats_group(o, name);
		put_counters(o, &each[j]);
		stats_end(o);
	}
}

static const struct module sched_module = {
	.name = "sched",
	.options = sched_module_options,
	.check_option = check_option,
	.setup = sched_setup,
	.teardown = sched_teardown,
	.stats = sched_stats,
};
MODULE_REGISTER(sched_module);
