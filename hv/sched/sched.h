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
};

/* Policy os, the default slice, the CPUs this process may run on. */
void sched_options_default(struct sched_options *o);
/* "0-3,6": the owned CPUs; 0, or -1 with a reason. */
int sched_parse_cpus(const char *list, struct sched_options *o, char *err, size_t errlen);
/* "5ms", "500us", "2" (milliseconds): 0, or -1. */
int sched_parse_slice(const char *s, uint64_t *ns);

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

#endif
