/*
 * The scheduler's thread side: one thread per run samples what each VM's
 * vCPUs used, asks policy.c for the next slice's plan and applies it,
 * kicking vCPUs out of KVM_RUN and letting others through sched_gate().
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "hv/error.h"
#include "hv/sched/sched_impl.h"
#include "hv/vcpu.h"

uint64_t sched_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sched_options_default(struct sched_options *o)
{
	cpu_set_t set;
	memset(o, 0, sizeof(*o));
	o->policy = SCHED_OS;
	o->slice_ns = SCHED_DEFAULT_SLICE_NS;
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		o->ncpus = 1;
		return;
	}
	for (int c = 0; c < CPU_SETSIZE && o->ncpus < SCHED_MAX_CPUS; c++)
		if (CPU_ISSET(c, &set))
			o->cpus[o->ncpus++] = c;
}

int sched_parse_cpus(const char *list, struct sched_options *o, char *err, size_t errlen)
{
	cpu_set_t allowed, seen;
	CPU_ZERO(&seen);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return error_set(err, errlen, "cannot read this process's CPUs: %s", strerror(errno));
	unsigned n = 0;
	const char *p = list;
	while (*p) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;
		if (end == p || *p < '0' || *p > '9')
			return error_set(err, errlen, "bad CPU list '%s'", list);
		if (*end == '-') {
			p = end + 1;
			hi = strtoul(p, &end, 10);
			if (end == p || *p < '0' || *p > '9' || hi < lo)
				return error_set(err, errlen, "bad CPU range in '%s'", list);
		}
		for (unsigned long c = lo; c <= hi; c++) {
			if (c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed))
				return error_set(err, errlen, "CPU %lu is not available to this process", c);
			if (CPU_ISSET(c, &seen))
				return error_set(err, errlen, "CPU %lu listed twice", c);
			if (n == SCHED_MAX_CPUS)
				return error_set(err, errlen, "more than %d CPUs", SCHED_MAX_CPUS);
			CPU_SET(c, &seen);
			o->cpus[n++] = (int)c;
		}
		p = end;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return error_set(err, errlen, "bad CPU list '%s'", list);
	}
	if (n == 0)
		return error_set(err, errlen, "empty CPU list");
	o->ncpus = n;
	return 0;
}

int sched_parse_slice(const char *s, uint64_t *ns)
{
	char *end;
	double v = strtod(s, &end), unit = 1e6;
	if (end == s || *s == '-')
		return -1;
	if (strcmp(end, "us") == 0)
		unit = 1e3;
	else if (strcmp(end, "s") == 0)
		unit = 1e9;
	else if (*end && strcmp(end, "ms") != 0)
		return -1;
	double t = v * unit;
	if (!(t >= 100e3 && t <= SCHED_PERIOD_NS))
		return -1; /* 100 us .. one cap period */
	*ns = (uint64_t)t;
	return 0;
}

struct sched *sched_create(const struct sched_options *o, char *err, size_t errlen)
{
	struct sched *s = calloc(1, sizeof(*s));
	if (!s) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	s->o = *o;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0 || sched_state_init(&s->state, o->policy, o->ncpus, o->slice_ns) != 0) {
		error_set(err, errlen, s->wake_fd < 0 ? "eventfd: %s" : "bad scheduler settings%.0s", strerror(errno));
		sched_destroy(s);
		return NULL;
	}
	return s;
}

void sched_destroy(struct sched *s)
{
	if (!s)
		return;
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s);
}

enum sched_policy sched_policy(const struct sched *s)
{
	return s->o.policy;
}

int sched_add_group(struct sched *s, const char *name, const struct sched_share *p, char *err, size_t errlen)
{
	for (unsigned g = 0; g < s->state.n_groups; g++)
		if (strcmp(s->group_names[g], name) == 0)
			return error_set(err, errlen, "group %s defined twice", name);
	if (p->cap > 0 && p->reserve > p->cap)
		return error_set(err, errlen, "group %s: reserve %g above cap %g", name, p->reserve, p->cap);
	int g = sched_state_add_group(&s->state, p);
	if (g < 0)
		return error_set(err, errlen, "too many groups");
	snprintf(s->group_names[g], sizeof(s->group_names[g]), "%s", name);
	return 0;
}

int sched_attach(struct sched *s, struct sched_vm *svm, const char *group, const struct sched_share *p,
		 char *err, size_t errlen)
{
	int g = -1;
	if (group) {
		for (unsigned k = 0; k < s->state.n_groups && g < 0; k++)
			if (strcmp(s->group_names[k], group) == 0)
				g = (int)k;
		if (g < 0)
			return error_set(err, errlen, "no scheduler group '%s' (a [group %s] section defines it)",
					 group, group);
	}
	char why[128];
	int i = sched_state_add_vm(&s->state, svm->vm->cfg.vcpus, g, p, why, sizeof(why));
	if (i < 0)
		return error_set(err, errlen, "scheduler (%s): %s", sched_policy_name(s->o.policy), why);
	svm->s = s;
	svm->index = i;
	s->vms[i] = svm;
	/* Gang: nothing runs before its first slice; os and relaxed start free. */
	for (unsigned j = 0; j < svm->vm->cfg.vcpus; j++) {
		svm->vcpus[j].allowed = s->o.policy != SCHED_GANG;
		svm->vcpus[j].want_cpu = -1;
		svm->vcpus[j].on_cpu = -2;
		svm->vm->vcpus[j].sched = &svm->vcpus[j];
	}
	return 0;
}

void sched_poke(struct sched *s)
{
	uint64_t one = 1;
	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return; /* the counter is full: a poke is pending anyway */
}

void sched_demand_change(struct sched_vm *svm, int delta)
{
	unsigned before = svm->demanding;
	svm->demanding += delta;
	if (svm->s && svm->s->o.policy == SCHED_GANG && (before == 0) != (svm->demanding == 0))
		sched_poke(svm->s);
}

static void pin(struct sched_vcpu *sv)
{
	const struct sched_options *o = &sv->svm->s->o;
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sv->want_cpu >= 0)
		CPU_SET(o->cpus[sv->want_cpu], &set);
	else
		for (unsigned c = 0; c < o->ncpus; c++)
			CPU_SET(o->cpus[c], &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0)
		sv->on_cpu = sv->want_cpu;
}

static uint64_t thread_cpu(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Adds the CPU time since the last sample (under vm->lock); returns it.
 * Once the VM has ended its threads may be gone (and their ids reused):
 * only a vCPU's own last call in sched_gate() samples then.
 */
static uint64_t sample_cpu(struct sched_vcpu *sv)
{
	if (!sv->registered || (sv->v->vm->ended && !pthread_equal(sv->tid, pthread_self())))
		return 0;
	uint64_t now = thread_cpu(sv->clock);
	if (now <= sv->cpu_seen)
		return 0; /* the thread is gone, or no time passed */
	uint64_t d = now - sv->cpu_seen;
	sv->cpu_seen = now;
	sv->c.cpu_ns += d;
	return d;
}

int sched_gate(struct vcpu *v)
{
	struct sched_vcpu *sv = v->sched;
	struct vm *vm = v->vm;
	/* Cleared before looking at `allowed`: a stop that follows still finds it set. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&vm->lock);
	if (!sv->registered) {
		sv->tid = pthread_self();
		if (pthread_getcpuclockid(sv->tid, &sv->clock) == 0)
			sv->registered = 1;
	}
	while (!sv->allowed && !vm->ended)
		pthread_cond_wait(&vm->changed, &vm->lock);
	if (vm->ended)
		sample_cpu(sv); /* the thread's last: the scheduler cannot read its clock after it exits */
	else if (sv->on_cpu != sv->want_cpu)
		pin(sv);
	int ended = vm->ended;
	pthread_mutex_unlock(&vm->lock);
	return ended ? -1 : 0;
}

/* Makes a vCPU leave KVM_RUN (under vm->lock, after clearing `allowed`); vm_end() kicked all at the end. */
static void kick_out(struct sched_vcpu *sv)
{
	__atomic_store_n(&sv->v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (sv->registered && !sv->v->vm->ended)
		pthread_kill(sv->tid, VCPU_KICK_SIGNAL);
}

/* What each VM used since the last sample, the counters, and the demand for the policy. */
static void sample(struct sched *s, uint64_t now, uint64_t elapsed, uint64_t *used)
{
	for (unsigned i = 0; i < s->state.n_vms; i++) {
		struct sched_vm *svm = s->vms[i];
		struct sched_entity *e = &s->state.vm[i];
		used[i] = 0;
		if (!svm)
			continue;
		pthread_mutex_lock(&svm->vm->lock);
		e->demand = 0;
		for (unsigned j = 0; j < svm->vm->cfg.vcpus; j++) {
			struct sched_vcpu *sv = &svm->vcpus[j];
			uint64_t cpu = sample_cpu(sv), waited = sv->c.wait_ns - sv->wait_seen;
			sv->wait_seen = sv->c.wait_ns;
			if (!svm->vm->ended && elapsed > cpu + waited)
				sv->c.steal_ns += elapsed - cpu - waited;
			e->progress[j] += cpu;
			used[i] += cpu;
			if (!sv->waiting && !svm->vm->ended)
				e->demand |= 1ull << j;
		}
		if (s->o.policy == SCHED_GANG) /* gang charges the CPUs it held */
			used[i] = svm->running ? svm->vm->cfg.vcpus * (now - svm->held_since) : 0;
		svm->held_since = now;
		pthread_mutex_unlock(&svm->vm->lock);
	}
}

/* Stops or starts one VM's vCPUs as the plan says. */
static void apply(struct sched *s, unsigned i, const struct sched_plan *p, uint64_t now)
{
	struct sched_vm *svm = s->vms[i];
	const struct sched_entity *e = &s->state.vm[i];
	/* os and relaxed leave an idle VM free to start when kicked, within its cap. */
	int run = p->vm[i].run || (s->o.policy != SCHED_GANG && !e->demand && p->vm[i].until > now);
	int woke = 0;
	pthread_mutex_lock(&svm->vm->lock);
	svm->running = run;
	svm->slice_end = p->end;
	for (unsigned j = 0; j < svm->vm->cfg.vcpus; j++) {
		struct sched_vcpu *sv = &svm->vcpus[j];
		int may = run && !(p->vm[i].stop >> j & 1);
		int moved = 0;
		if (may && s->o.policy == SCHED_GANG) {
			moved = sv->want_cpu != (int)(p->vm[i].first_cpu + j);
			sv->want_cpu = (int)(p->vm[i].first_cpu + j);
		}
		if (may && !sv->allowed)
			woke = 1;
		else if (sv->allowed && (!may || moved))
			kick_out(sv); /* to block, or to move to its new CPU through sched_gate() */
		if (may)
			sv->c.slices++;
		sv->allowed = may;
	}
	if (woke)
		pthread_cond_broadcast(&svm->vm->changed);
	pthread_mutex_unlock(&svm->vm->lock);
}

/* Sleeps until `until` or a poke; 1 if poked. */
static int sleep_until(struct sched *s, uint64_t until)
{
	uint64_t now = sched_now();
	struct pollfd pfd = { .fd = s->wake_fd, .events = POLLIN };
	uint64_t d = until > now ? until - now : 0;
	struct timespec ts = { (time_t)(d / 1000000000ull), (long)(d % 1000000000ull) };
	if (ppoll(&pfd, 1, &ts, NULL) > 0) {
		uint64_t n;
		if (read(s->wake_fd, &n, sizeof(n)) < 0)
			return 0;
		return 1;
	}
	return 0;
}

static void *sched_thread(void *arg)
{
	struct sched *s = arg;
	struct sched_param prio = { .sched_priority = 2 };
	/* Slices must start on time even when every CPU runs vCPUs; as root we may ask for that. */
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &prio);
	uint64_t last = sched_now(), used[SCHED_MAX_VMS];
	s->state.period_start = last;
	struct sched_plan plan;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = sched_now();
		sample(s, now, now - last, used);
		sched_account(&s->state, now, now - last, used);
		last = now;
		sched_decide(&s->state, now, &plan);
		for (unsigned i = 0; i < s->state.n_vms; i++)
			if (s->vms[i])
				apply(s, i, &plan, now);
		/* Within the slice: stop each VM at its cap, or decide again when poked. */
		while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
			uint64_t next = plan.end;
			now = sched_now();
			for (unsigned i = 0; i < s->state.n_vms; i++) {
				if (!s->vms[i] || !plan.vm[i].run)
					continue;
				if (plan.vm[i].until <= now) {
					plan.vm[i].run = 0;
					plan.vm[i].until = now; /* not free to start again either */
					apply(s, i, &plan, now);
				} else if (plan.vm[i].until < next) {
					next = plan.vm[i].until;
				}
			}
			if (now >= plan.end || sleep_until(s, next))
				break;
		}
	}
	return NULL;
}

struct vm_runner {
	struct sched *s;
	struct vm *vm;
	pthread_t thread;
	pthread_mutex_t *lock;
	unsigned *ended, order;      /* order: 1 for the first VM to end */
};

static void *vm_thread(void *arg)
{
	struct vm_runner *r = arg;
	vm_run(r->vm);
	pthread_mutex_lock(r->lock);
	r->order = ++*r->ended;
	pthread_mutex_unlock(r->lock);
	sched_poke(r->s);
	return NULL;
}

int sched_run(struct sched *s, struct vm **vms, unsigned n)
{
	struct vm_runner *r = calloc(n, sizeof(*r));
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned ended = 0, started = 0;
	int first = -1;
	if (!r) {
		for (unsigned i = 0; i < n; i++)
			vm_end(vms[i], VM_STATUS_ABNORMAL, "out of memory");
		return 0;
	}
	int have_thread = pthread_create(&s->thread, NULL, sched_thread, s) == 0;
	for (; have_thread && started < n; started++) {
		r[started] = (struct vm_runner){ .s = s, .vm = vms[started], .lock = &lock, .ended = &ended };
		if (pthread_create(&r[started].thread, NULL, vm_thread, &r[started]) != 0)
			break;
	}
	for (unsigned i = started; i < n; i++)
		vm_end(vms[i], VM_STATUS_ABNORMAL, "cannot start a thread for it");
	for (unsigned i = 0; i < started; i++)
		pthread_join(r[i].thread, NULL);
	if (have_thread) {
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		sched_poke(s);
		pthread_join(s->thread, NULL);
	}
	for (unsigned i = 0; i < n; i++)
		if (vms[i]->status != 0 && (first < 0 || r[i].order < r[first].order))
			first = (int)i;
	free(r);
	return first;
}
