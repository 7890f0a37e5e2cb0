/*
 * The vCPU scheduler of one monitor process: the policies of policy.h put
 * to work on vCPU threads, for every VM of a run (`beyond run --sched`,
 * `--config`). A VM joins it through vm_config.sched; its vCPUs then pass
 * sched_gate() before each KVM_RUN, and a descheduled vCPU is kicked out of
 * KVM_RUN (immediate_exit + VCPU_KICK_SIGNAL) and blocks there.
 *
 * The scheduler module (module.c) adds per-VM options (--shares, --cap,
 * --reserve, --group), the WAIT/KICK/YIELD hypercalls (which work without a
 * scheduler too) and the accounting.
 */
#ifndef BEYOND_SCHED_H
#define BEYOND_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include "hv/sched/policy.h"

struct vm;
struct vcpu;
struct sched;

/* The time slice when none is given: see the README's scheduler section for the measurement. */
#define SCHED_DEFAULT_SLICE_NS 5000000ull

struct sched_options {
	enum sched_policy policy;
	uint64_t slice_ns;
	unsigned ncpus;
	int cpus[SCHED_MAX_CPUS];    /* the host CPUs it owns */
	int rt;                      /* gang: vCPU threads SCHED_FIFO, above other processes (README) */
};

/* Policy os, the default slice, the CPUs this process may run on. */
void sched_options_default(struct sched_options *o);
/* "0-3,6": the owned CPUs; 0, or -1 with a reason. */
int sched_parse_cpus(const char *list, struct sched_options *o, char *err, size_t errlen);
/* "5ms", "500us", "2" (milliseconds): 0, or -1. */
int sched_parse_slice(const char *s, uint64_t *ns);
/* Whether the options go together (rt needs gang); 0, or -1 with a reason. */
int sched_options_check(const struct sched_options *o, char *err, size_t errlen);

struct sched *sched_create(const struct sched_options *o, char *err, size_t errlen);
/* A named group (a [group NAME] section) before its VMs are created; 0, or -1 with a reason. */
int sched_add_group(struct sched *s, const char *name, const struct sched_share *p, char *err, size_t errlen);
void sched_destroy(struct sched *s);
enum sched_policy sched_policy(const struct sched *s);

/*
 * Runs vms[0..n) (created with cfg.sched = s) until every one has ended,
 * under the scheduler. Returns the index of the first VM to end with a
 * non-zero status, or -1 if all exited 0.
 */
int sched_run(struct sched *s, struct vm **vms, unsigned n);

/* CPU time of all of vm's vCPU threads so far (the accounting's cpu_ns). */
uint64_t sched_vm_cpu_ns(struct vm *vm);

/* Before each KVM_RUN of a vCPU with v->sched: returns once it may run; -1 once the VM has ended. */
int sched_gate(struct vcpu *v);
/* After each KVM_RUN of a vCPU with v->sched (the gang hand-off waits for it). */
void sched_left(struct vcpu *v);
/* The vCPU parked (vcpu_park): it wants no CPU from now on and is never counted as runnable. */
void sched_park(struct vcpu *v);

/*
 * A trace of the hand-off, for tests and measurements: when the scheduler
 * changed which vCPUs of a VM may run (ALLOWED, arg: the mask after it) and
 * when each vCPU entered and left KVM_RUN (arg: the vCPU). Times are
 * CLOCK_MONOTONIC ns (sched_now()), events from several threads, unsorted.
 */
enum sched_event_kind { SCHED_EV_ALLOWED, SCHED_EV_ENTER, SCHED_EV_LEAVE };
struct sched_event {
	uint64_t t;
	uint32_t vm;                 /* index in the order the VMs joined */
	uint32_t kind;
	uint64_t arg;
};
/* Keeps the first max events from now on (before sched_run); 0, or -1 without memory. */
int sched_trace_start(struct sched *s, size_t max);
/* The events kept; *dropped: how many did not fit. */
const struct sched_event *sched_trace(const struct sched *s, size_t *n, size_t *dropped);
/* Gang: how many slices started before every vCPU stopped for them had left KVM_RUN (bounded wait). */
uint64_t sched_late_handoffs(const struct sched *s);
uint64_t sched_now(void);

#endif
